package dev.bollard.daemon.network;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.Set;

/**
 * Where Bollard finds CNI configuration and plugins.
 *
 * @param confDir              network configuration files (.conflist, .conf, .json), first by name wins
 * @param binDirs              plugin directories, searched in order (also the plugins' CNI_PATH)
 * @param cacheDir             Bollard's own record of each attachment (config used and ADD result)
 * @param pluginTimeout        the longest one plugin call may take before it is killed
 * @param advisoryCheckPlugins plugin types whose CHECK failure is logged, not thrown
 */
public record CniConfig(Path confDir, List<Path> binDirs, Path cacheDir, Duration pluginTimeout,
                        Set<String> advisoryCheckPlugins) {

    public static final Path DEFAULT_CONF_DIR = Path.of("/etc/cni/net.d");
    /** Debian's packaged plugins first, then the upstream release tarball's location. */
    public static final List<Path> DEFAULT_BIN_DIRS = List.of(Path.of("/usr/lib/cni"), Path.of("/opt/cni/bin"));
    public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(60);
    /** portmap's CHECK fails where the ip6tables nat chains it expects are missing, though IPv4 works. */
    public static final Set<String> DEFAULT_ADVISORY_CHECK = Set.of("portmap");

    public CniConfig {
        Objects.requireNonNull(confDir, "confDir");
        Objects.requireNonNull(cacheDir, "cacheDir");
        binDirs = List.copyOf(binDirs);
        if (binDirs.isEmpty()) {
            throw new IllegalArgumentException("at least one CNI plugin directory is needed");
        }
        if (pluginTimeout == null || pluginTimeout.isNegative() || pluginTimeout.isZero()) {
            pluginTimeout = DEFAULT_TIMEOUT;
        }
        advisoryCheckPlugins = advisoryCheckPlugins == null ? DEFAULT_ADVISORY_CHECK : Set.copyOf(advisoryCheckPlugins);
    }

    public CniConfig(Path confDir, List<Path> binDirs, Path cacheDir, Duration pluginTimeout) {
        this(confDir, binDirs, cacheDir, pluginTimeout, DEFAULT_ADVISORY_CHECK);
    }

    /** The defaults with the cache under {@code <bollardRoot>/cni/cache}. */
    public static CniConfig defaults(Path bollardRoot) {
        return new CniConfig(DEFAULT_CONF_DIR, DEFAULT_BIN_DIRS, bollardRoot.resolve("cni").resolve("cache"),
                DEFAULT_TIMEOUT);
    }
}
