package dev.bollard.daemon.registry;

import dev.bollard.daemon.config.ConfigException;
import dev.bollard.daemon.testkit.Mutations;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.StringLength;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * hosts.toml files are the operator's, but a broken one must stop a pull with a ConfigException naming the file,
 * never with another exception (which would surface as INTERNAL, or kill a thread).
 */
class HostsConfigProperties {

    private static final Path DIR = Path.of("/etc/bollard/certs.d/docker.io");

    @Provide
    Arbitrary<String> files() {
        return Arbitraries.of("""
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
    }

    @Property(tries = 1000)
    void mutatedFilesParseOrFailWithAConfigException(@ForAll("files") String file, @ForAll long seed,
                                                     @ForAll @IntRange(min = 1, max = 8) int count) {
        parse(new String(Mutations.bytes(file.getBytes(StandardCharsets.UTF_8), seed, count), StandardCharsets.UTF_8));
    }

    @Property(tries = 300)
    void arbitraryTextParsesOrFailsWithAConfigException(@ForAll @StringLength(max = 500) String text) {
        parse(text);
    }

    @net.jqwik.api.Example
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
