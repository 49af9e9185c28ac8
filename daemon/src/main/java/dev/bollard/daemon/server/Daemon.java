package dev.bollard.daemon.server;

import dev.bollard.daemon.BollardVersion;
import dev.bollard.daemon.config.BollardConfig;
import dev.bollard.daemon.config.BollardConfig.LogLevel;
import dev.bollard.daemon.config.ConfigException;
import dev.bollard.daemon.config.ConfigLoader;
import dev.bollard.daemon.admin.ImagesAdminService;
import dev.bollard.daemon.cri.ImageRpcs;
import dev.bollard.daemon.cri.ImageServiceImpl;
import dev.bollard.daemon.image.ImageManager;
import dev.bollard.daemon.registry.HostsConfig;
import dev.bollard.daemon.registry.RegistryClient;
import java.time.Clock;
import java.time.Duration;
import dev.bollard.daemon.cri.RuntimeInfoRpcs;
import dev.bollard.daemon.cri.RuntimeServiceImpl;
import dev.bollard.daemon.linux.CgroupLayout;
import dev.bollard.daemon.linux.Systemd;
import dev.bollard.daemon.linux.UnixSockets;
import dev.bollard.daemon.log.Log;
import dev.bollard.daemon.runtime.CgroupDriver;
import dev.bollard.daemon.runtime.PodCidrs;
import dev.bollard.daemon.runtime.RuntimeHandlers;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;

/**
 * The daemon's life: validate everything that can be validated without touching the disk, then create what is
 * missing, lock the root, and serve. A failure at any step undoes the steps before it.
 */
public final class Daemon implements AutoCloseable {

    private static final Log LOG = Log.get("daemon");

    /** What the command line gave; null fields fall back to the config file, then to the embedded defaults. */
    public record Options(Path configFile, Path socket, Path root, Path state, LogLevel logLevel) {
    }

    private final BollardConfig config;
    private final CriServer server;
    private final FileChannel lockChannel;
    private final FileLock lock;

    private final ImageManager images;

    private Daemon(BollardConfig config, CriServer server, FileChannel lockChannel, FileLock lock, ImageManager images) {
        this.images = images;
        this.config = config;
        this.server = server;
        this.lockChannel = lockChannel;
        this.lock = lock;
    }

    public BollardConfig config() {
        return config;
    }

    public static Daemon start(Options options) throws StartupException {
        long startNanos = System.nanoTime();
        ConfigLoader.Loaded loaded;
        try {
            loaded = ConfigLoader.load(options.configFile());
        } catch (ConfigException e) {
            throw new StartupException(e.getMessage());
        }
        BollardConfig config = loaded.config().withPaths(absolute(options.socket()), absolute(options.root()),
                absolute(options.state()));
        var d = config.daemon();
        Log.configure(options.logLevel() != null ? options.logLevel() : d.logLevel(), d.logFormat());

        int socketBytes = UnixSockets.pathBytes(d.socket());
        if (socketBytes > UnixSockets.MAX_PATH_BYTES) {
            throw new StartupException("socket path " + d.socket() + " is " + socketBytes
                    + " bytes long; UNIX socket paths are limited to " + UnixSockets.MAX_PATH_BYTES + " bytes");
        }
        CgroupDriver cgroupDriver;
        try {
            cgroupDriver = CgroupDriver.resolve(config.runtime().cgroupDriver(), Systemd.isRunning());
        } catch (ConfigException e) {
            throw new StartupException(e.getMessage());
        }
        boolean staleSocket = switch (probe(d.socket())) {
            case LIVE_SOCKET -> throw new StartupException("socket " + d.socket()
                    + " is in use: another server (a running bollard daemon?) answers on it; stop it or pick another --socket");
            case NOT_A_SOCKET -> throw new StartupException("socket path " + d.socket() + " exists and is not a socket");
            case STALE_SOCKET -> true;
            case ABSENT -> false;
        };

        var created = new CreatedPaths();
        FileChannel lockChannel = null;
        ImageManager images = null;
        try {
            created.directory("socket directory", d.socket().getParent());
            created.directory("root", d.root());
            created.directory("state", d.state());

            Path lockFile = d.root().resolve("bollard.lock");
            if (!Files.exists(lockFile)) {
                created.file(lockFile);
            }
            lockChannel = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
            FileLock lock = lockChannel.tryLock();
            if (lock == null) {
                throw new StartupException("root " + d.root() + " is in use by another bollard daemon (" + lockFile + " is locked)");
            }
            lockChannel.truncate(0).write(java.nio.ByteBuffer.wrap(
                    (ProcessHandle.current().pid() + "\n").getBytes(StandardCharsets.UTF_8)));

            var layout = CgroupLayout.detect();
            var handlers = new RuntimeHandlers(config, cgroupDriver, layout);
            var podCidrs = new PodCidrs(d.root().resolve("pod-cidr"));
            var info = new RuntimeInfoRpcs(config, handlers, cgroupDriver, layout, podCidrs);

            if (staleSocket) {
                Files.deleteIfExists(d.socket());
                LOG.info("removed stale socket", "path", d.socket());
            }
            var reg = config.registry();
            images = new ImageManager(d.root().resolve("image"), new HostsConfig(reg.configPath()),
                    RegistryClient.Options.defaults().withProgressTimeout(Duration.ofSeconds(reg.pullProgressTimeoutSeconds())),
                    reg.maxConcurrentDownloads(), Clock.systemUTC());
            images.startHousekeeping();
            CriServer server = CriServer.start(d.socket(), List.of(new RuntimeServiceImpl(info),
                    new ImageServiceImpl(new ImageRpcs(images)), new ImagesAdminService(images)));
            // Said only now: a start-up that fails prints its one error line and nothing else.
            if (!loaded.fileFound()) {
                LOG.info("no config file, using embedded defaults", "path", options.configFile());
            }
            LOG.info("bollard ready", "version", BollardVersion.version(), "socket", d.socket(), "root", d.root(),
                    "state", d.state(), "cgroupDriver", cgroupDriver, "cgroupLayout", layout.mode(),
                    "startupMillis", (System.nanoTime() - startNanos) / 1_000_000);
            return new Daemon(config, server, lockChannel, lock, images);
        } catch (StartupException e) {
            if (images != null) {
                images.close();
            }
            closeQuietly(lockChannel);
            created.rollback();
            throw e;
        } catch (IOException | RuntimeException e) {
            if (images != null) {
                images.close();
            }
            closeQuietly(lockChannel);
            created.rollback();
            throw new StartupException(e.getMessage() == null ? e.toString() : e.getMessage(), e);
        }
    }

    public void awaitTermination() throws InterruptedException {
        server.awaitTermination();
    }

    @Override
    public void close() {
        LOG.info("shutting down", "socket", server.socket());
        server.close();
        images.close();
        try {
            lock.release();
        } catch (IOException ignored) {
            // released with the channel below anyway
        }
        closeQuietly(lockChannel);
        LOG.info("stopped");
    }

    private static UnixSockets.PathState probe(Path socket) throws StartupException {
        try {
            return UnixSockets.probe(socket);
        } catch (IOException e) {
            throw new StartupException("socket " + socket + ": cannot check it: " + CreatedPaths.reason(e));
        }
    }

    private static Path absolute(Path p) {
        return p == null ? null : p.toAbsolutePath().normalize();
    }

    private static void closeQuietly(FileChannel ch) {
        if (ch != null) {
            try {
                ch.close();
            } catch (IOException ignored) {
                // nothing more to do
            }
        }
    }
}
