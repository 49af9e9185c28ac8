package dev.bollard.daemon.registry;

import dev.bollard.daemon.config.ConfigException;
import dev.bollard.daemon.registry.RegistryEndpoint.ClientCert;
import dev.bollard.daemon.registry.RegistryEndpoint.Tls;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class HostsConfigTest {

    @TempDir
    Path certsD;

    private HostsConfig config() {
        return new HostsConfig(certsD);
    }

    private Path hostsToml(String directory, String text) throws IOException {
        Path dir = Files.createDirectories(certsD.resolve(directory));
        Files.writeString(dir.resolve("hosts.toml"), text);
        return dir;
    }

    private List<URI> roots(String domain) throws ConfigException {
        return config().endpointsFor(domain).stream().map(RegistryEndpoint::apiRoot).toList();
    }

    @Test
    void withoutAnyConfigurationTheUpstreamIsHttps() throws Exception {
        assertEquals(List.of(RegistryEndpoint.upstream(URI.create("https://quay.io/v2"))),
                config().endpointsFor("quay.io"));
        assertEquals(List.of(URI.create("https://registry.example.com:8443/v2")), roots("registry.example.com:8443"));
    }

    @Test
    void missingConfigPathIsNoConfiguration() throws Exception {
        var endpoints = new HostsConfig(certsD.resolve("absent")).endpointsFor("quay.io");
        assertEquals(List.of(URI.create("https://quay.io/v2")), endpoints.stream().map(RegistryEndpoint::apiRoot).toList());
    }

    @Test
    void dockerHubsApiHostIsRegistry1() throws Exception {
        var endpoints = config().endpointsFor("docker.io");
        assertEquals(List.of(RegistryEndpoint.upstream(URI.create("https://registry-1.docker.io/v2"))), endpoints);
        assertFalse(endpoints.getFirst().mirror(), "registry-1.docker.io is docker.io itself, not a mirror");
    }

    @ParameterizedTest(name = "{0} -> {1} skip_verify={2}")
    @CsvSource({
            "localhost:5000,   http://localhost:5000/v2,   true",
            "127.0.0.1:5000,   http://127.0.0.1:5000/v2,   true",
            "127.1.2.3:5000,   http://127.1.2.3:5000/v2,   true",
            "[::1]:5000,       http://[::1]:5000/v2,       true",
            "localhost:80,     http://localhost:80/v2,     false",
            "localhost,        https://localhost/v2,       true",
            "127.0.0.1:443,    https://127.0.0.1:443/v2,   true",
            "[::1],            https://[::1]/v2,           true",
            "10.0.0.1:5000,    https://10.0.0.1:5000/v2,   false",
            "localhost.example.com:5000, https://localhost.example.com:5000/v2, false",
    })
    void loopbackRegistriesDefaultToHttp(String domain, String apiRoot, boolean skipVerify) throws Exception {
        var endpoint = config().endpointsFor(domain).getFirst();
        assertEquals(URI.create(apiRoot), endpoint.apiRoot());
        assertEquals(skipVerify, endpoint.tls().skipVerify());
        assertFalse(endpoint.mirror());
        assertTrue(endpoint.canPull() && endpoint.canResolve());
    }

    @Test
    void mirrorsComeInFileOrderBeforeTheServer() throws Exception {
        hostsToml("docker.io", """
                server = "https://registry-1.docker.io"    # the upstream

                [host."https://public-mirror.example.com"]
                  capabilities = ["pull"]
                [host."https://mirror-bak.registry/us/"]
                  capabilities = ["pull", "resolve"]
                [host."http://127.0.0.1:5000"]
                [host."127.0.0.1:5001"]
                [host."https://already.example/v2"]
                [host."https://non-compliant.example/v2/upstream"]
                  override_path = true
                [host."https://root-is-api.example"]
                  override_path = true
                """);
        var endpoints = config().endpointsFor("docker.io");
        assertEquals(List.of(
                URI.create("https://public-mirror.example.com/v2"),
                URI.create("https://mirror-bak.registry/us/v2"),
                URI.create("http://127.0.0.1:5000/v2"),
                URI.create("https://127.0.0.1:5001/v2"),
                URI.create("https://already.example/v2"),
                URI.create("https://non-compliant.example/v2/upstream"),
                URI.create("https://root-is-api.example"),
                URI.create("https://registry-1.docker.io/v2")), endpoints.stream().map(RegistryEndpoint::apiRoot).toList());
        assertEquals(List.of(true, true, true, true, true, true, true, false),
                endpoints.stream().map(RegistryEndpoint::mirror).toList());
        assertEquals(List.of(true, true, true, true, true, true, true, true),
                endpoints.stream().map(RegistryEndpoint::canPull).toList());
        assertEquals(List.of(false, true, true, true, true, true, true, true),
                endpoints.stream().map(RegistryEndpoint::canResolve).toList(),
                "a host without capabilities may do everything, as in containerd");
    }

    @Test
    void theUpstreamIsAddedWhenNoServerIsGiven() throws Exception {
        Path dir = hostsToml("registry.k8s.io", """
                capabilities = ["pull"]          # ignored without a server, as in containerd
                ca = "upstream-ca.pem"

                [host."http://127.0.0.1:5000"]
                """);
        var endpoints = config().endpointsFor("registry.k8s.io");
        assertEquals(2, endpoints.size());
        var mirror = endpoints.get(0);
        assertEquals(URI.create("http://127.0.0.1:5000/v2"), mirror.apiRoot());
        assertTrue(mirror.mirror());
        assertEquals(Tls.DEFAULT, mirror.tls(), "top-level TLS settings belong to the server, not the mirrors");
        var upstream = endpoints.get(1);
        assertEquals(URI.create("https://registry.k8s.io/v2"), upstream.apiRoot());
        assertFalse(upstream.mirror());
        assertTrue(upstream.canPull() && upstream.canResolve());
        assertEquals(List.of(dir.resolve("upstream-ca.pem")), upstream.tls().caFiles());
    }

    @Test
    void aServerOtherThanTheDomainIsAMirrorAndReplacesTheUpstream() throws Exception {
        hostsToml("_default", """
                server = "https://registry.example.com"
                capabilities = ["pull", "resolve"]
                """);
        var endpoints = config().endpointsFor("quay.io");
        assertEquals(1, endpoints.size());
        assertEquals(URI.create("https://registry.example.com/v2"), endpoints.getFirst().apiRoot());
        assertTrue(endpoints.getFirst().mirror(), "requests go to another host than quay.io");
    }

    @Test
    void aServerOnTheDomainIsNotAMirror() throws Exception {
        hostsToml("docker.io", """
                server = "https://docker.io"
                [host."https://registry-1.docker.io"]
                  capabilities = ["pull", "resolve"]
                """);
        var endpoints = config().endpointsFor("docker.io");
        assertEquals(List.of(URI.create("https://registry-1.docker.io/v2"), URI.create("https://docker.io/v2")),
                endpoints.stream().map(RegistryEndpoint::apiRoot).toList());
        assertEquals(List.of(false, false), endpoints.stream().map(RegistryEndpoint::mirror).toList());
    }

    @Test
    void tlsSettingsAndHeaders() throws Exception {
        Path dir = hostsToml("myregistry.io:5000", """
                server = "https://myregistry.io:5000"
                ca = ["/etc/certs/a.pem", "rel/b.pem"]
                client = [["/etc/certs/client.cert", "/etc/certs/client.key"], ["both.pem", ""]]
                skip_verify = false

                [header]
                  x-custom-1 = "custom header"
                  x-custom-2 = ["part a", "part b"]

                [host."https://mirror.registry"]
                  capabilities = ["PULL"]
                  ca = "mirror.pem"
                  skip_verify = true
                  client = "client.pem"
                  [host."https://mirror.registry".header]
                    x-mirror = ["v1", "v2"]

                [host."https://test-3.registry"]
                  client = ["/etc/certs/client-1.pem", "client-2.pem"]
                """);
        var endpoints = config().endpointsFor("myregistry.io:5000");
        assertEquals(3, endpoints.size());

        var mirror = endpoints.get(0);
        assertEquals(new Tls(List.of(dir.resolve("mirror.pem")), true,
                List.of(new ClientCert(dir.resolve("client.pem"), Optional.empty()))), mirror.tls());
        assertEquals(Map.of("x-mirror", List.of("v1", "v2")), mirror.headers());
        assertTrue(mirror.canPull());
        assertFalse(mirror.canResolve());

        var test3 = endpoints.get(1);
        assertEquals(List.of(new ClientCert(Path.of("/etc/certs/client-1.pem"), Optional.empty()),
                new ClientCert(dir.resolve("client-2.pem"), Optional.empty())), test3.tls().clientCerts());
        assertEquals(Map.of(), test3.headers());

        var server = endpoints.get(2);
        assertEquals(URI.create("https://myregistry.io:5000/v2"), server.apiRoot());
        assertFalse(server.mirror());
        assertEquals(new Tls(List.of(Path.of("/etc/certs/a.pem"), dir.resolve("rel/b.pem")), false, List.of(
                new ClientCert(Path.of("/etc/certs/client.cert"), Optional.of(Path.of("/etc/certs/client.key"))),
                new ClientCert(dir.resolve("both.pem"), Optional.empty()))), server.tls());
        assertEquals(List.of("x-custom-1", "x-custom-2"), List.copyOf(server.headers().keySet()));
        assertEquals(List.of("part a", "part b"), server.headers().get("x-custom-2"));
        assertEquals(List.of("custom header"), server.headers().get("x-custom-1"));
    }

    @Test
    void directoryWithPortIsLookedUpAsHostPortUnderscoreFirst() throws Exception {
        hostsToml("myregistry.io:5000", "server = \"https://colon.example\"\n");
        assertEquals(List.of(URI.create("https://colon.example/v2")), roots("myregistry.io:5000"));
        hostsToml("myregistry.io_5000_", "server = \"https://underscore.example\"\n");
        assertEquals(List.of(URI.create("https://underscore.example/v2")), roots("myregistry.io:5000"));
        assertEquals(List.of("myregistry.io_5000_", "myregistry.io:5000", "_default"),
                HostsConfig.directoryNames("myregistry.io:5000"));
        assertEquals(List.of("[::1]_5000_", "[::1]:5000", "_default"), HostsConfig.directoryNames("[::1]:5000"));
        assertEquals(List.of("quay.io", "_default"), HostsConfig.directoryNames("quay.io"));
    }

    @Test
    void defaultDirectoryAppliesOnlyWhenTheHostHasNone() throws Exception {
        hostsToml("_default", "[host.\"https://everything-mirror.example\"]\n");
        assertEquals(List.of(URI.create("https://everything-mirror.example/v2"), URI.create("https://quay.io/v2")),
                roots("quay.io"));
        assertEquals(List.of(URI.create("https://everything-mirror.example/v2"),
                URI.create("https://registry-1.docker.io/v2")), roots("docker.io"));

        Files.createDirectories(certsD.resolve("ghcr.io"));
        assertEquals(List.of(URI.create("https://ghcr.io/v2")), roots("ghcr.io"),
                "a host directory without hosts.toml still shadows _default");
    }

    @Test
    void directoryWithoutHostsTomlIsReadTheDockerWay() throws Exception {
        Path dir = Files.createDirectories(certsD.resolve("private.example:5000"));
        for (String name : List.of("b-ca.crt", "a-ca.crt", "client.cert", "client.key", "solo.cert", "notes.txt")) {
            Files.writeString(dir.resolve(name), "x");
        }
        Files.createDirectories(dir.resolve("sub.crt"));
        var endpoints = config().endpointsFor("private.example:5000");
        assertEquals(1, endpoints.size());
        assertEquals(URI.create("https://private.example:5000/v2"), endpoints.getFirst().apiRoot());
        assertEquals(new Tls(List.of(dir.resolve("a-ca.crt"), dir.resolve("b-ca.crt")), false, List.of(
                new ClientCert(dir.resolve("client.cert"), Optional.of(dir.resolve("client.key"))),
                new ClientCert(dir.resolve("solo.cert"), Optional.empty()))), endpoints.getFirst().tls());
    }

    @Test
    void emptyHostsTomlIsLikeNone() throws Exception {
        hostsToml("quay.io", "");
        assertEquals(List.of(RegistryEndpoint.upstream(URI.create("https://quay.io/v2"))),
                config().endpointsFor("quay.io"));
    }

    @Test
    void editsApplyToTheNextCall() throws Exception {
        hostsToml("quay.io", "server = \"https://one.example\"\n");
        assertEquals(List.of(URI.create("https://one.example/v2")), roots("quay.io"));
        hostsToml("quay.io", "server = \"https://two.example\"\n");
        assertEquals(List.of(URI.create("https://two.example/v2")), roots("quay.io"));
    }

    @Test
    void emptyCapabilitiesMeanAll() throws Exception {
        hostsToml("quay.io", "server = \"https://quay.io\"\ncapabilities = []\n");
        var e = config().endpointsFor("quay.io").getFirst();
        assertTrue(e.canPull() && e.canResolve());
    }

    @Test
    void resolveOnlyHostCannotPull() throws Exception {
        hostsToml("quay.io", "[host.\"https://m.example\"]\ncapabilities = [\"resolve\", \"push\"]\n");
        var e = config().endpointsFor("quay.io").getFirst();
        assertFalse(e.canPull());
        assertTrue(e.canResolve());
    }

    private String error(String text) throws IOException {
        Path dir = hostsToml("quay.io", text);
        var m = assertThrows(ConfigException.class, () -> config().endpointsFor("quay.io")).getMessage();
        String prefix = dir.resolve("hosts.toml") + ":";
        assertTrue(m.startsWith(prefix), m);
        return m.substring(prefix.length());
    }

    @Test
    void unknownKeysNameFileLineAndKey() throws Exception {
        assertEquals("2: unknown key \"sever\" at the top level (known: server, host, capabilities, ca, client,"
                + " skip_verify, header, override_path)", error("\nsever = \"https://x\"\n"));
        assertEquals("3: unknown key \"capability\" in [host.\"https://m.example\"] (known: capabilities, ca, client,"
                + " skip_verify, header, override_path)", error("\n[host.\"https://m.example\"]\ncapability = [\"pull\"]\n"));
        assertEquals("2: server: expected a URL string, got the boolean true", error("# x\nserver = true\n"));
    }

    @Test
    void nestedHostsAndUnsupportedKeysAreRefused() throws Exception {
        assertEquals("3: host.\"http://m.registry\".host: [host] tables cannot be nested in a host", error("""
                [host."http://m.registry"]
                  capabilities = ["pull"]
                  [host."http://m.registry".host."http://double.registry"]
                """));
        assertEquals("2: host.\"https://m\".dial_timeout: containerd's \"dial_timeout\" is not supported by Bollard",
                error("[host.\"https://m\"]\ndial_timeout = \"1s\"\n"));
        assertEquals("1: proxy: containerd's \"proxy\" is not supported by Bollard", error("proxy = \"http://p:8080\"\n"));
        assertEquals("1: host: expected tables [host.\"<url>\"]", error("host = \"https://m\"\n"));
        assertEquals("1: host.\"https://m\": expected a table [host.\"https://m\"]", error("host.\"https://m\" = 1\n"));
    }

    @Test
    void wrongTypesAreNamed() throws Exception {
        assertEquals("2: host.\"https://m\".skip_verify: expected true or false, got the string \"yes\"",
                error("[host.\"https://m\"]\nskip_verify = \"yes\"\n"));
        assertEquals("1: capabilities: expected an array of strings, got the string \"pull\"",
                error("capabilities = \"pull\"\n"));
        assertEquals("1: capabilities: unknown capability \"fetch\" (known: pull, resolve, push)",
                error("capabilities = [\"pull\", \"fetch\"]\n"));
        assertEquals("1: ca: expected strings, found the integer 1", error("ca = [\"a.pem\", 1]\n"));
        assertEquals("1: client: each entry must be a path or a [cert, key] pair of paths, got an array",
                error("client = [[\"a\", \"b\", \"c\"]]\n"));
        assertEquals("1: client: expected a path, an array of paths or an array of [cert, key] pairs, got the"
                + " integer 3", error("client = 3\n"));
        assertEquals("1: override_path: expected true or false, got the integer 1", error("override_path = 1\n"));
        assertEquals("2: header.x-a: expected a string or an array of strings, got the integer 1",
                error("[header]\nx-a = 1\n"));
        assertEquals("1: header: expected a table [header], got the string \"x\"", error("header = \"x\"\n"));
        assertEquals("1: ca: empty path", error("ca = \"\"\n"));
    }

    @Test
    void badUrlsAreNamed() throws Exception {
        assertEquals("1: host.\"ftp://m.example\": \"ftp://m.example\": the scheme must be http or https",
                error("[host.\"ftp://m.example\"]\n"));
        assertEquals("1: server: \"https://u:p@m.example\" must be scheme://host[:port][/path], without user,"
                + " query or fragment", error("server = \"https://u:p@m.example\"\n"));
        assertTrue(error("server = \"https://m.example/?x=1\"\n").startsWith("1: server: "));
        assertTrue(error("server = \"https://bad host\"\n").startsWith("1: server: \"https://bad host\" is not a URL"));
    }

    @Test
    void syntaxErrorsCarryTheLine() throws Exception {
        String m = error("server = \"https://x\"\n[host.\"https://m\"\n");
        assertTrue(m.startsWith("2: TOML syntax error: "), m);
    }

    @Test
    void parseIsUsableWithoutFiles() throws Exception {
        var endpoints = HostsConfig.parse("registry.k8s.io", "[host.\"http://127.0.0.1:5000\"]\n", Path.of("/x"), "t");
        assertEquals(List.of(URI.create("http://127.0.0.1:5000/v2"), URI.create("https://registry.k8s.io/v2")),
                endpoints.stream().map(RegistryEndpoint::apiRoot).toList());
    }
}
