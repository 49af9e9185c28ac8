package dev.bollard.daemon.registry;

import dev.bollard.daemon.registry.RegistryException.Kind;
import dev.bollard.daemon.testkit.TestImages;
import dev.bollard.daemon.testkit.TestPush;
import dev.bollard.daemon.testkit.TestRegistry;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.http.HttpClient;
import java.nio.channels.Channels;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** https against docker-registry, trusting a CA the test made with openssl. */
class RegistryTlsTest {

    @TempDir
    static Path tmp;
    static TestRegistry registry;
    static final TestImages.Image IMAGE = TestImages.busybox();

    @BeforeAll
    static void start() throws Exception {
        assumeTrue(TestRegistry.available(), "docker-registry is not installed");
        registry = TestRegistry.startWithTls(tmp.resolve("tls"));
        var http = HttpClient.newBuilder().sslContext(TestRegistry.trusting(registry.caFile())).build();
        IMAGE.push(new TestPush(registry.apiRoot(), http, null), "test/busybox", "1.0");
    }

    @AfterAll
    static void stop() throws Exception {
        if (registry != null) {
            registry.close();
        }
    }

    /** A stand-in for the real TLS client factory: trust the endpoint's CA files. */
    static HttpClient clientFor(RegistryEndpoint.Tls tls) {
        try {
            var b = HttpClient.newBuilder();
            if (!tls.caFiles().isEmpty()) {
                b.sslContext(TestRegistry.trusting(tls.caFiles().toArray(Path[]::new)));
            }
            return b.build();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Test
    void pullsOverHttpsWithTheEndpointsCa() throws Exception {
        var sleeps = new ArrayList<Duration>();
        var options = RegistryClient.Options.defaults().withPlatform(Platform.LINUX_AMD64)
                .withRetries(3, Duration.ofMillis(1), Duration.ofMillis(2), sleeps::add);
        var c = new RegistryClient(RegistryTlsTest::clientFor, host -> Optional.empty(), options);
        var ep = new RegistryEndpoint(registry.apiRoot(), false, true, true,
                new RegistryEndpoint.Tls(List.of(registry.caFile()), false, List.of()), Map.of());
        var r = c.resolve("test/busybox", "1.0", List.of(ep));
        assertEquals(IMAGE.manifest().digest(), r.manifest().digest());
        var layer = IMAGE.layers().getFirst();
        var out = new ByteArrayOutputStream();
        c.fetchBlob("test/busybox", layer.digest(), layer.size(), List.of(ep), BlobTarget.of(Channels.newChannel(out)));
        assertArrayEquals(layer.bytes(), out.toByteArray());

        var untrusted = assertThrows(RegistryException.class, () -> c.resolve("test/busybox", "1.0",
                List.of(RegistryEndpoint.upstream(registry.apiRoot()))));
        assertEquals(Kind.TRANSPORT, untrusted.kind());
        assertTrue(untrusted.getMessage().contains(registry.host()), untrusted.getMessage());
        assertTrue(sleeps.isEmpty(), "an untrusted certificate is not retried: " + sleeps);
    }
}
