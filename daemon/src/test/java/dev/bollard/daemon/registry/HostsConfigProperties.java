package dev.bollard.daemon.registry;

import dev.bollard.daemon.config.ConfigException;
import dev.bollard.daemon.testkit.Mutations;
import dev.bollard.daemon.testkit.Gen;
import dev.bollard.daemon.testkit.Tries;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * hosts.toml files are the operator's, but a broken one must stop a pull with a ConfigException naming the file,
 * never with another exception (which would surface as INTERNAL, or kill a thread).
 */
class HostsConfigProperties {

    private static final Path DIR = Path.of("/etc/bollard/certs.d/docker.io");

    private static final List<String> FILES = List.of("""
                server = "https://registry-1.docker.io"
                [host."http://127.0.0.1:5000"]
                  capabilities = ["pull", "resolve"]
                  skip_verify = true
                  ca = ["/etc/certs/a.pem", "rel/b.pem"]
                  client = [["/etc/certs/client.cert", "/etc/certs/client.key"]]
                  override_path = false
                  [host."http://127.0.0.1:5000".header]
                    x-a = ["1", "2"]
                """, """
                server = "https://myregistry.io:5000"
                ca = "/etc/certs/ca.pem"
                client = "both.pem"
                [header]
                  x-custom = "v"
                [host."https://mirror.registry/v2/ns"]
                  capabilities = ["PULL"]
                  override_path = true
                """);

    /** One of the valid files, and the seed and count of its byte-level mutations. */
    record Mutated(String file, long seed, int count) {
    }

    @TestFactory
    Stream<DynamicTest> mutatedFilesParseOrFailWithAConfigException() {
        Gen<Mutated> samples = r -> new Mutated(Gen.oneOf(FILES).next(r), r.nextLong(), Gen.ints(1, 8).next(r));
        return Tries.forAll(1000, samples, m -> parse(new String(
                Mutations.bytes(m.file().getBytes(StandardCharsets.UTF_8), m.seed(), m.count()), StandardCharsets.UTF_8)));
    }

    @TestFactory
    Stream<DynamicTest> arbitraryTextParsesOrFailsWithAConfigException() {
        return Tries.forAll(300, Gen.strings(500), HostsConfigProperties::parse);
    }

    @Test
    void anInvalidEscapeInAQuotedKeyIsASyntaxErrorNamingTheLine() {
        var e = org.junit.jupiter.api.Assertions.assertThrows(ConfigException.class, () -> HostsConfig.parse(
                "docker.io", "server = \"https://a\"\n[host.\"http://127.0.0.1:5000\\/\"]\n", DIR, "hosts.toml"));
        assertTrue(e.getMessage().startsWith("hosts.toml:2: TOML syntax error"), e.getMessage());
    }

    private static void parse(String text) {
        assertTimeoutPreemptively(Duration.ofSeconds(5), () -> {
            try {
                for (var ep : HostsConfig.parse("docker.io", text, DIR, "hosts.toml")) {
                    assertTrue(ep.apiRoot().isAbsolute(), ep.toString());
                }
            } catch (ConfigException expected) {
                assertTrue(expected.getMessage().contains("hosts.toml"), expected.getMessage());
            }
        });
    }
}
