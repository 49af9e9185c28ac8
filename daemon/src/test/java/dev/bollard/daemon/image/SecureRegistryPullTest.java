package dev.bollard.daemon.image;

import dev.bollard.daemon.registry.Credentials;
import dev.bollard.daemon.registry.HostsConfig;
import dev.bollard.daemon.registry.RegistryClient;
import dev.bollard.daemon.registry.RegistryException;
import dev.bollard.daemon.testkit.TestImages;
import dev.bollard.daemon.testkit.TestPush;
import dev.bollard.daemon.testkit.TestRegistry;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

import java.net.http.HttpClient;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.Base64;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A registry with https (a CA made by the test) and htpasswd Basic auth, configured through certs.d. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class SecureRegistryPullTest {

    private TestRegistry registry;
    private Path registryDir;
    private final TestImages.Image image = TestImages.tiny(dev.bollard.daemon.registry.Platform.LINUX_AMD64);

    @BeforeAll
    void start() throws Exception {
        registryDir = Files.createTempDirectory("bollard-secure-reg-");
        registry = TestRegistry.startWithTlsAndHtpasswd(registryDir, "puller", "s3cret");
        var http = HttpClient.newBuilder().sslContext(TestRegistry.trusting(registry.caFile())).build();
        String basic = "Basic " + Base64.getEncoder().encodeToString("puller:s3cret".getBytes(StandardCharsets.UTF_8));
        image.push(new TestPush(registry.apiRoot(), http, basic), "private/app", "1");
    }

    @AfterAll
    void stop() throws Exception {
        registry.close();
    }

    private ImageManager manager(Path root, Path certsD) throws Exception {
        return new ImageManager(root, new HostsConfig(certsD),
                RegistryClient.Options.defaults().withRetries(1, Duration.ofMillis(1), Duration.ofMillis(1), d -> { })
                , 2, Clock.systemUTC());
    }

    private Path certsD(Path dir, boolean withCa) throws Exception {
        Path host = Files.createDirectories(dir.resolve("certs.d").resolve(registry.host()));
        Files.writeString(host.resolve("hosts.toml"), "server = \"https://" + registry.host() + "\"\n"
                + (withCa ? "ca = \"" + registry.caFile() + "\"\n" : ""));
        return dir.resolve("certs.d");
    }

    @Test
    void pullsWithTheCaFromHostsTomlAndBasicCredentials(@TempDir Path dir) throws Exception {
        try (var images = manager(dir.resolve("root"), certsD(dir, true))) {
            var r = images.pull(registry.host() + "/private/app:1", Credentials.basic("puller", "s3cret"));
            assertEquals(image.config().digest().toString(), r.id());
        }
    }

    @Test
    void withoutCredentialsItIsUnauthorized(@TempDir Path dir) throws Exception {
        try (var images = manager(dir.resolve("root"), certsD(dir, true))) {
            var e = assertThrows(RegistryException.class,
                    () -> images.pull(registry.host() + "/private/app:1", Credentials.ANONYMOUS));
            assertEquals(RegistryException.Kind.UNAUTHORIZED, e.kind(), e.getMessage());
            var wrong = assertThrows(RegistryException.class,
                    () -> images.pull(registry.host() + "/private/app:1", Credentials.basic("puller", "nope")));
            assertEquals(RegistryException.Kind.UNAUTHORIZED, wrong.kind(), wrong.getMessage());
            assertTrue(images.list().isEmpty());
        }
    }

    @Test
    void withoutTheCaTheCertificateIsRefused(@TempDir Path dir) throws Exception {
        try (var images = manager(dir.resolve("root"), certsD(dir, false))) {
            var e = assertThrows(java.io.IOException.class,
                    () -> images.pull(registry.host() + "/private/app:1", Credentials.basic("puller", "s3cret")));
            assertTrue(e.getMessage().contains(registry.host()), e.getMessage());
            assertTrue(images.list().isEmpty());
        }
    }
}
