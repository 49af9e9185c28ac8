package dev.bollard.daemon.registry;

import dev.bollard.daemon.config.ConfigException;
import dev.bollard.daemon.config.TomlText;
import dev.bollard.daemon.registry.RegistryEndpoint.ClientCert;
import dev.bollard.daemon.registry.RegistryEndpoint.Tls;
import org.tomlj.TomlArray;
import org.tomlj.TomlParseResult;
import org.tomlj.TomlTable;

import java.io.IOException;
import java.net.InetAddress;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Per-registry host configuration in containerd's certs.d format (containerd docs/hosts.md): for an image on
 * {@code <domain>}, the first of {@code <config_path>/<host>_<port>_}, {@code <config_path>/<host>:<port>} (or just
 * {@code <config_path>/<host>} without a port) and {@code <config_path>/_default} that exists is the host directory.
 *
 * <p>In a host directory, {@code hosts.toml} lists mirrors as {@code [host."<url>"]} tables, tried in file order, and
 * then the upstream {@code server} (default: the domain itself over https, {@code registry-1.docker.io} for
 * docker.io, plain http for a loopback host with a port). A directory without {@code hosts.toml} is read the Docker
 * way: {@code *.crt} files are extra CAs and {@code *.cert} (with a same-named {@code *.key}) client certificates.
 *
 * <p>Files are read on every call, so edits apply to the next pull without a restart (as in containerd).
 */
public final class HostsConfig {

    public static final String HOSTS_FILE = "hosts.toml";
    public static final String DEFAULT_DIRECTORY = "_default";

    /** What a host may be used for; containerd's HostCapabilities. Push is parsed but Bollard never pushes. */
    public enum Capability { PULL, RESOLVE, PUSH }

    /** Both the top level and each {@code [host."<url>"]} table take these keys (the top level adds {@code server}). */
    private static final List<String> ENTRY_KEYS = List.of("capabilities", "ca", "client", "skip_verify", "header",
            "override_path");
    /** Keys containerd knows that Bollard cannot honour yet: refused by name rather than silently ignored. */
    private static final List<String> UNSUPPORTED_KEYS = List.of("dial_timeout", "proxy", "dial_addr");

    private static final Pattern HAS_SCHEME = Pattern.compile("[A-Za-z][A-Za-z0-9+.-]*://");

    private final Path configPath;

    public HostsConfig(Path configPath) {
        this.configPath = configPath;
    }

    public Path configPath() {
        return configPath;
    }

    /**
     * The endpoints to try for images on {@code domain} (an {@link dev.bollard.daemon.image.ref.ImageReference}
     * domain such as {@code docker.io} or {@code localhost:5000}), in order: mirrors, then the upstream server.
     *
     * @throws ConfigException naming the file, line and key of a bad {@code hosts.toml}
     */
    public List<RegistryEndpoint> endpointsFor(String domain) throws ConfigException {
        Optional<Path> directory = hostDirectory(domain);
        if (directory.isEmpty()) {
            return List.of(defaultUpstream(domain, Entry.EMPTY));
        }
        Path file = directory.get().resolve(HOSTS_FILE);
        String text;
        try {
            text = Files.readString(file);
        } catch (NoSuchFileException e) {
            text = "";
        } catch (IOException e) {
            throw new ConfigException(file + ": cannot read: " + e.getMessage());
        }
        if (text.isEmpty()) {
            return List.of(defaultUpstream(domain, dockerCertFiles(directory.get())));
        }
        return parse(domain, text, directory.get(), file.toString());
    }

    /** The host directory that applies to {@code domain}, if any exists. */
    public Optional<Path> hostDirectory(String domain) {
        for (String name : directoryNames(domain)) {
            Path candidate = configPath.resolve(name);
            if (Files.exists(candidate)) {
                return Optional.of(candidate);
            }
        }
        return Optional.empty();
    }

    /** Directory names looked up for {@code domain}, in order; a port is tried as {@code host_port_} first. */
    static List<String> directoryNames(String domain) {
        var hostPort = HostPort.of(domain);
        if (hostPort.port().isPresent()) {
            return List.of(hostPort.host() + "_" + hostPort.port().get() + "_", domain, DEFAULT_DIRECTORY);
        }
        return List.of(domain, DEFAULT_DIRECTORY);
    }

    /**
     * Reads one {@code hosts.toml} for images on {@code domain}.
     *
     * @param hostDirectory relative {@code ca} and {@code client} paths are resolved against it
     * @param source        the file name used in error messages
     */
    public static List<RegistryEndpoint> parse(String domain, String text, Path hostDirectory, String source)
            throws ConfigException {
        TomlParseResult toml = TomlText.parse(text, source);
        var reader = new FileReader(toml, source, hostDirectory);
        var endpoints = new ArrayList<RegistryEndpoint>();
        TomlTable hosts = null;
        for (String key : toml.keySet()) {
            if (key.equals("host")) {
                if (!toml.isTable(key)) {
                    throw reader.error(List.of(key), "host: expected tables [host.\"<url>\"]");
                }
                hosts = toml.getTable(key);
            } else if (!key.equals("server")) {
                reader.checkEntryKey(List.of(), key);
            }
        }
        if (hosts != null) {
            // tomlj keeps tables in the order they first appear, which is containerd's try order.
            for (String url : hosts.keySet()) {
                var path = List.of("host", url);
                if (!hosts.isTable(List.of(url))) {
                    throw reader.error(path, dotted(path) + ": expected a table [host.\"" + url + "\"]");
                }
                TomlTable table = hosts.getTable(List.of(url));
                for (String key : table.keySet()) {
                    reader.checkEntryKey(path, key);
                }
                var entry = reader.entry(path, table);
                endpoints.add(entry.endpoint(domain, reader.url(path, url, entry.overridePath()), false));
            }
        }
        var root = reader.entry(List.of(), toml);
        if (toml.contains("server")) {
            var path = List.of("server");
            Object server = toml.get(path);
            if (!(server instanceof String s) || s.isBlank()) {
                throw reader.error(path, "server: expected a URL string, got " + TomlText.describe(server));
            }
            endpoints.add(root.endpoint(domain, reader.url(path, s, root.overridePath()), true));
        } else {
            endpoints.add(defaultUpstream(domain, root));
        }
        return List.copyOf(endpoints);
    }

    /**
     * The upstream when no {@code server} is configured. As in containerd, the top-level TLS settings and headers
     * still apply, but capabilities are all of them and the path is {@code /v2}.
     */
    private static RegistryEndpoint defaultUpstream(String domain, Entry root) {
        var hostPort = HostPort.of(domain);
        String scheme = "https";
        Entry entry = root.withCapabilities(EnumSet.allOf(Capability.class));
        String authority = domain;
        if (domain.equals("docker.io")) {
            authority = "registry-1.docker.io";
        } else if (hostPort.isLoopback()) {
            // A local registry usually speaks plain http; on 443 (or no port) it is https with a throwaway cert.
            String port = hostPort.port().orElse("443");
            if (!port.equals("443")) {
                scheme = "http";
            }
            if (!port.equals("80")) {
                entry = entry.withSkipVerify(true);
            }
        }
        return entry.endpoint(domain, URI.create(scheme + "://" + authority + "/v2"), true);
    }

    /** Docker's certs.d layout: {@code *.crt} CAs, {@code *.cert} client certificates with an optional {@code *.key}. */
    private static Entry dockerCertFiles(Path directory) throws ConfigException {
        var cas = new ArrayList<Path>();
        var clients = new ArrayList<ClientCert>();
        try (Stream<Path> files = Files.list(directory)) {
            for (Path file : files.sorted().toList()) {
                String name = file.getFileName().toString();
                if (Files.isDirectory(file)) {
                    continue;
                }
                if (name.endsWith(".crt")) {
                    cas.add(file);
                } else if (name.endsWith(".cert")) {
                    Path key = file.resolveSibling(name.substring(0, name.length() - ".cert".length()) + ".key");
                    clients.add(new ClientCert(file, Files.exists(key) ? Optional.of(key) : Optional.empty()));
                }
            }
        } catch (IOException e) {
            throw new ConfigException(directory + ": cannot list certificate files: " + e.getMessage());
        }
        return new Entry(EnumSet.allOf(Capability.class), List.copyOf(cas), List.copyOf(clients), Optional.empty(),
                Map.of(), false);
    }

    /** The settings of the top level or of one {@code [host."<url>"]} table. */
    private record Entry(Set<Capability> capabilities, List<Path> caFiles, List<ClientCert> clientCerts,
                         Optional<Boolean> skipVerify, Map<String, List<String>> headers, boolean overridePath) {

        static final Entry EMPTY = new Entry(EnumSet.allOf(Capability.class), List.of(), List.of(), Optional.empty(),
                Map.of(), false);

        Entry withCapabilities(Set<Capability> newCapabilities) {
            return new Entry(newCapabilities, caFiles, clientCerts, skipVerify, headers, overridePath);
        }

        Entry withSkipVerify(boolean skip) {
            return new Entry(capabilities, caFiles, clientCerts, Optional.of(skip), headers, overridePath);
        }

        /** @param upstream the {@code server} (or the default upstream), not a {@code [host]} table */
        RegistryEndpoint endpoint(String domain, URI apiRoot, boolean upstream) {
            return new RegistryEndpoint(apiRoot, isMirror(domain, apiRoot), capabilities.contains(Capability.PULL),
                    capabilities.contains(Capability.RESOLVE),
                    new Tls(caFiles, skipVerify.orElse(false), clientCerts), headers, upstream);
        }
    }

    /**
     * Whether requests to {@code apiRoot} go to some other host than the image's registry (containerd's isProxy,
     * which is when it adds {@code ?ns=<domain>} to requests). docker.io's own API host is registry-1.docker.io.
     */
    private static boolean isMirror(String domain, URI apiRoot) {
        String authority = apiRoot.getRawAuthority();
        if (authority.equalsIgnoreCase(domain)) {
            return false;
        }
        return !(domain.equals("docker.io") && authority.equalsIgnoreCase("registry-1.docker.io"));
    }

    /** Type-checks one parsed file, naming file, line and key on the first problem. */
    private record FileReader(TomlParseResult toml, String source, Path hostDirectory) {

        void checkEntryKey(List<String> tablePath, String key) throws ConfigException {
            var path = append(tablePath, key);
            if (ENTRY_KEYS.contains(key)) {
                return;
            }
            String where = tablePath.isEmpty() ? "at the top level" : "in [" + dotted(tablePath) + "]";
            if (UNSUPPORTED_KEYS.contains(key)) {
                throw error(path, dotted(path) + ": containerd's \"" + key + "\" is not supported by Bollard");
            }
            if (key.equals("host")) {
                throw error(path, dotted(path) + ": [host] tables cannot be nested in a host");
            }
            throw error(path, "unknown key \"" + key + "\" " + where + " (known: "
                    + (tablePath.isEmpty() ? "server, host, " : "") + String.join(", ", ENTRY_KEYS) + ")");
        }

        Entry entry(List<String> tablePath, TomlTable table) throws ConfigException {
            var capabilities = EnumSet.allOf(Capability.class);
            var capsPath = append(tablePath, "capabilities");
            if (table.contains(List.of("capabilities"))) {
                var names = strings(capsPath, table.get(List.of("capabilities")), false);
                if (!names.isEmpty()) {
                    capabilities = EnumSet.noneOf(Capability.class);
                    for (String name : names) {
                        try {
                            capabilities.add(Capability.valueOf(name.toUpperCase(Locale.ROOT)));
                        } catch (IllegalArgumentException e) {
                            throw error(capsPath, dotted(capsPath) + ": unknown capability \"" + name
                                    + "\" (known: pull, resolve, push)");
                        }
                    }
                }
            }
            var caFiles = new ArrayList<Path>();
            var caPath = append(tablePath, "ca");
            if (table.contains(List.of("ca"))) {
                for (String file : strings(caPath, table.get(List.of("ca")), true)) {
                    caFiles.add(file(caPath, file));
                }
            }
            var clients = clientCerts(append(tablePath, "client"), table.get(List.of("client")));
            Optional<Boolean> skipVerify = Optional.empty();
            var skipPath = append(tablePath, "skip_verify");
            if (table.contains(List.of("skip_verify"))) {
                skipVerify = Optional.of(bool(skipPath, table.get(List.of("skip_verify"))));
            }
            boolean overridePath = false;
            var overridePathKey = append(tablePath, "override_path");
            if (table.contains(List.of("override_path"))) {
                overridePath = bool(overridePathKey, table.get(List.of("override_path")));
            }
            return new Entry(capabilities, List.copyOf(caFiles), clients, skipVerify,
                    headers(append(tablePath, "header"), table.get(List.of("header"))), overridePath);
        }

        private List<ClientCert> clientCerts(List<String> path, Object raw) throws ConfigException {
            if (raw == null) {
                return List.of();
            }
            if (raw instanceof String s) {
                return List.of(new ClientCert(file(path, s), Optional.empty()));
            }
            if (!(raw instanceof TomlArray array)) {
                throw error(path, dotted(path) + ": expected a path, an array of paths or an array of [cert, key]"
                        + " pairs, got " + TomlText.describe(raw));
            }
            var certs = new ArrayList<ClientCert>();
            for (Object item : array.toList()) {
                if (item instanceof String s) {
                    certs.add(new ClientCert(file(path, s), Optional.empty()));
                } else if (item instanceof TomlArray pair && pair.size() == 2
                        && pair.get(0) instanceof String cert && pair.get(1) instanceof String key) {
                    // An empty key means the key is in the certificate file.
                    certs.add(new ClientCert(file(path, cert), key.isEmpty() ? Optional.empty()
                            : Optional.of(file(path, key))));
                } else {
                    throw error(path, dotted(path) + ": each entry must be a path or a [cert, key] pair of paths,"
                            + " got " + TomlText.describe(item));
                }
            }
            return List.copyOf(certs);
        }

        private Map<String, List<String>> headers(List<String> path, Object raw) throws ConfigException {
            if (raw == null) {
                return Map.of();
            }
            if (!(raw instanceof TomlTable table)) {
                throw error(path, dotted(path) + ": expected a table [header], got " + TomlText.describe(raw));
            }
            var headers = new LinkedHashMap<String, List<String>>();
            for (String name : table.keySet()) {
                var headerPath = append(path, name);
                if (name.isEmpty() || !name.chars().allMatch(c -> c > 32 && c < 127 && c != ':')) {
                    throw error(headerPath, dotted(headerPath) + ": not a valid HTTP header name");
                }
                headers.put(name, strings(headerPath, table.get(List.of(name)), true));
            }
            return Collections.unmodifiableMap(headers);
        }

        /** A string array; with {@code single}, a lone string too. */
        private List<String> strings(List<String> path, Object raw, boolean single) throws ConfigException {
            if (single && raw instanceof String s) {
                return List.of(s);
            }
            if (raw instanceof TomlArray array) {
                var out = new ArrayList<String>();
                for (Object item : array.toList()) {
                    if (!(item instanceof String s)) {
                        throw error(path, dotted(path) + ": expected strings, found " + TomlText.describe(item));
                    }
                    out.add(s);
                }
                return List.copyOf(out);
            }
            throw error(path, dotted(path) + ": expected " + (single ? "a string or " : "") + "an array of strings, got "
                    + TomlText.describe(raw));
        }

        private boolean bool(List<String> path, Object raw) throws ConfigException {
            if (raw instanceof Boolean b) {
                return b;
            }
            throw error(path, dotted(path) + ": expected true or false, got " + TomlText.describe(raw));
        }

        private Path file(List<String> path, String name) throws ConfigException {
            if (name.isBlank()) {
                throw error(path, dotted(path) + ": empty path");
            }
            return hostDirectory.resolve(name).normalize();
        }

        /**
         * A server or mirror URL as containerd reads it: https when no scheme is given; {@code /v2} appended to the
         * path unless it already ends so or override_path takes the path as the API root itself.
         */
        URI url(List<String> path, String text, boolean overridePath) throws ConfigException {
            String withScheme = HAS_SCHEME.matcher(text).lookingAt() ? text : "https://" + text;
            URI uri;
            try {
                uri = new URI(withScheme);
            } catch (URISyntaxException e) {
                throw error(path, dotted(path) + ": \"" + text + "\" is not a URL: " + e.getReason());
            }
            String scheme = uri.getScheme();
            if (!"http".equals(scheme) && !"https".equals(scheme)) {
                throw error(path, dotted(path) + ": \"" + text + "\": the scheme must be http or https");
            }
            if (uri.getHost() == null || uri.getRawUserInfo() != null || uri.getRawQuery() != null
                    || uri.getRawFragment() != null) {
                throw error(path, dotted(path) + ": \"" + text + "\" must be scheme://host[:port][/path],"
                        + " without user, query or fragment");
            }
            String apiPath = cleanPath(uri.getRawPath());
            if (!overridePath && !apiPath.endsWith("/v2")) {
                apiPath = apiPath + "/v2";
            }
            return URI.create(scheme + "://" + uri.getRawAuthority() + apiPath);
        }

        ConfigException error(List<String> path, String message) {
            return new ConfigException(TomlText.at(source, toml.inputPositionOf(path)) + ": " + message);
        }
    }

    /** Like Go's path.Clean for what a URL path can hold, minus the trailing slash: {@code /a//b/} is {@code /a/b}. */
    private static String cleanPath(String raw) {
        var parts = new ArrayList<String>();
        for (String part : (raw == null ? "" : raw).split("/")) {
            if (part.isEmpty() || part.equals(".")) {
                continue;
            }
            if (part.equals("..")) {
                if (!parts.isEmpty()) {
                    parts.removeLast();
                }
                continue;
            }
            parts.add(part);
        }
        return parts.isEmpty() ? "" : "/" + String.join("/", parts);
    }

    /** A domain split at its port; IPv6 literals keep their brackets in {@code host}. */
    record HostPort(String host, Optional<String> port) {

        static HostPort of(String domain) {
            int colon = domain.lastIndexOf(':');
            if (colon > 0 && colon > domain.lastIndexOf(']')) {
                return new HostPort(domain.substring(0, colon), Optional.of(domain.substring(colon + 1)));
            }
            return new HostPort(domain, Optional.empty());
        }

        /** {@code localhost} or a loopback address literal; never a DNS lookup. */
        boolean isLoopback() {
            if (host.equalsIgnoreCase("localhost")) {
                return true;
            }
            String literal = host.startsWith("[") && host.endsWith("]") ? host.substring(1, host.length() - 1) : host;
            try {
                return InetAddress.ofLiteral(literal).isLoopbackAddress();
            } catch (IllegalArgumentException e) {
                return false;
            }
        }
    }

    private static List<String> append(List<String> path, String key) {
        var out = new ArrayList<>(path);
        out.add(key);
        return out;
    }

    /** {@code host."https://m.io".ca}: the key as it would be written in the file. */
    private static String dotted(List<String> path) {
        var out = new StringBuilder();
        for (String part : path) {
            if (!out.isEmpty()) {
                out.append('.');
            }
            out.append(part.matches("[A-Za-z0-9_-]+") ? part : "\"" + part + "\"");
        }
        return out.toString();
    }
}
