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
import java.net.http.HttpClient;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Faults injected by a scripted server; the healthy fallback endpoint is a real docker-registry. */
class RegistryFaultTest {

    @TempDir
    static Path tmp;
    static TestRegistry registry;
    static final TestImages.Image IMAGE = TestImages.busybox();
    static final TestImages.Blob LAYER = IMAGE.layers().getFirst();

    @BeforeAll
    static void start() throws Exception {
        assertTrue(TestRegistry.available(), "docker-registry is not installed: scripts/install-deps.sh installs it");
        registry = TestRegistry.start(tmp.resolve("registry"));
        IMAGE.push(new TestPush(registry.apiRoot()), "test/busybox", "1.0");
    }

    @AfterAll
    static void stop() throws Exception {
        if (registry != null) {
            registry.close();
        }
    }

    final List<Duration> sleeps = new ArrayList<>();

    RegistryClient client(Duration progressTimeout, int attempts) {
        var options = RegistryClient.Options.defaults().withPlatform(Platform.LINUX_AMD64)
                .withProgressTimeout(progressTimeout)
                .withRetries(attempts, Duration.ofMillis(1), Duration.ofMillis(4), sleeps::add);
        return new RegistryClient(tls -> HttpClient.newHttpClient(), host -> Optional.empty(), options);
    }

    RegistryClient client() {
        return client(Duration.ofSeconds(5), 3);
    }

    static BlobTarget memory(ByteArrayOutputStream out) {
        return BlobTarget.of(Channels.newChannel(out));
    }

    static byte[] corrupt(byte[] b) {
        byte[] c = b.clone();
        c[c.length / 2] ^= 1;
        return c;
    }

    @Test
    void digestMismatchIsDetectedAndNotRetried() throws Exception {
        try (var fake = new FaultServer((ex, n) -> FaultServer.send(ex, 200, "application/octet-stream",
                corrupt(LAYER.bytes())))) {
            var e = assertThrows(RegistryException.class, () -> client().fetchBlob("test/busybox", LAYER.digest(),
                    LAYER.size(), List.of(fake.endpoint(false)), memory(new ByteArrayOutputStream())));
            assertEquals(Kind.DIGEST_MISMATCH, e.kind());
            assertTrue(e.getMessage().contains(LAYER.digest().toString()) && e.getMessage().contains(fake.host()),
                    e.getMessage());
            assertEquals(1, fake.requests.size());
        }
    }

    @Test
    void digestMismatchOnAMirrorStartsOverUpstream(@TempDir Path dir) throws Exception {
        try (var fake = new FaultServer((ex, n) -> FaultServer.send(ex, 200, "application/octet-stream",
                corrupt(LAYER.bytes())))) {
            Path file = dir.resolve("blob");
            BlobFetch f;
            try (var ch = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                f = client().fetchBlob("test/busybox", LAYER.digest(), LAYER.size(),
                        List.of(fake.endpoint(true), registry.upstream()), BlobTarget.of(ch));
            }
            assertEquals(registry.upstream(), f.endpoint());
            assertArrayEquals(LAYER.bytes(), Files.readAllBytes(file));
        }
    }

    @Test
    void aCorruptBlobFromTheUpstreamServerIsBlamedOnItNotOnAMirror(@TempDir Path dir) throws Exception {
        try (var fake = new FaultServer((ex, n) -> FaultServer.send(ex, 200, "application/octet-stream",
                corrupt(LAYER.bytes())))) {
            // hosts.toml: the real registry as a mirror (it lacks this repository: 404), the fake as the server,
            // on another host than the image's domain
            Files.createDirectories(dir.resolve("corrupt.example"));
            Files.writeString(dir.resolve("corrupt.example/hosts.toml"), """
                    server = "http://%s"
                    [host."http://%s"]
                      capabilities = ["pull", "resolve"]
                    """.formatted(fake.host(), registry.host()));
            var endpoints = new HostsConfig(dir).endpointsFor("corrupt.example");
            Path file = dir.resolve("blob");
            try (var ch = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                var e = assertThrows(RegistryException.class, () -> client().fetchBlob("elsewhere/busybox",
                        LAYER.digest(), LAYER.size(), endpoints, BlobTarget.of(ch)));
                assertEquals(Kind.DIGEST_MISMATCH, e.kind(), e.getMessage());
                assertTrue(e.getMessage().startsWith("upstream server " + fake.host() + ": "), e.getMessage());
                assertFalse(e.getMessage().contains("mirror " + fake.host()), e.getMessage());
                assertTrue(e.getMessage().contains("[also tried: mirror " + registry.host()), e.getMessage());
            }
        }
    }

    @Test
    void brokenTransferResumesWithRange() throws Exception {
        byte[] all = LAYER.bytes();
        int half = all.length / 2;
        try (var fake = new FaultServer((ex, n) -> {
            if (n == 0) {
                FaultServer.sendCut(ex, 200, all.length, Arrays.copyOf(all, half));
            }
            String range = ex.getRequestHeaders().getFirst("Range");
            long from = Long.parseLong(range.substring("bytes=".length(), range.length() - 1));
            ex.getResponseHeaders().set("Content-Range", "bytes " + from + "-" + (all.length - 1) + "/" + all.length);
            FaultServer.send(ex, 206, null, Arrays.copyOfRange(all, (int) from, all.length));
        })) {
            var out = new ByteArrayOutputStream();
            var f = client().fetchBlob("test/busybox", LAYER.digest(), LAYER.size(), List.of(fake.endpoint(false)),
                    memory(out));
            assertArrayEquals(all, out.toByteArray());
            assertEquals(1, f.resumes());
            assertEquals(2, fake.requests.size());
            String range = fake.requests.get(1).headers().getFirst("Range");
            long from = Long.parseLong(range.substring("bytes=".length(), range.length() - 1));
            assertTrue(from > 0 && from <= half, range);
        }
    }

    @Test
    void serverIgnoringRangeHasThePrefixSkipped() throws Exception {
        byte[] all = LAYER.bytes();
        try (var fake = new FaultServer((ex, n) -> {
            if (n == 0) {
                FaultServer.sendCut(ex, 200, all.length, Arrays.copyOf(all, all.length / 3));
            }
            FaultServer.send(ex, 200, null, all);
        })) {
            var out = new ByteArrayOutputStream();
            var f = client().fetchBlob("test/busybox", LAYER.digest(), LAYER.size(), List.of(fake.endpoint(false)),
                    memory(out));
            assertArrayEquals(all, out.toByteArray());
            assertEquals(1, f.resumes());
        }
    }

    @Test
    void stalledTransferFailsWithProgressTimeout() throws Exception {
        try (var fake = new FaultServer((ex, n) -> {
            ex.sendResponseHeaders(200, LAYER.size());
            ex.getResponseBody().write(LAYER.bytes(), 0, 1000);
            ex.getResponseBody().flush();
            fake().hang();
        })) {
            current = fake;
            long t0 = System.nanoTime();
            var e = assertThrows(RegistryException.class, () -> client(Duration.ofMillis(300), 2).fetchBlob(
                    "test/busybox", LAYER.digest(), LAYER.size(), List.of(fake.endpoint(false)),
                    memory(new ByteArrayOutputStream())));
            assertEquals(Kind.PROGRESS_TIMEOUT, e.kind());
            assertTrue(e.getMessage().contains("no data for 300 ms"), e.getMessage());
            assertTrue(Duration.ofNanos(System.nanoTime() - t0).compareTo(Duration.ofSeconds(5)) < 0);
            assertEquals(2, fake.requests.size(), "the second attempt resumed, stalled too, and used up the budget");
        }
    }

    @Test
    void stalledHeadersFailWithProgressTimeout() throws Exception {
        try (var fake = new FaultServer((ex, n) -> fake().hang())) {
            current = fake;
            var e = assertThrows(RegistryException.class, () -> client(Duration.ofMillis(300), 1)
                    .resolve("test/busybox", "1.0", List.of(fake.endpoint(false))));
            assertEquals(Kind.PROGRESS_TIMEOUT, e.kind());
        }
    }

    @Test
    void slowButMovingTransferDoesNotTimeOut() throws Exception {
        byte[] all = LAYER.bytes();
        try (var fake = new FaultServer((ex, n) -> {
            ex.sendResponseHeaders(200, all.length);
            int step = all.length / 8 + 1;
            for (int i = 0; i < all.length; i += step) {
                ex.getResponseBody().write(all, i, Math.min(step, all.length - i));
                ex.getResponseBody().flush();
                Thread.sleep(150);
            }
        })) {
            var out = new ByteArrayOutputStream();
            // about 1.2 s in total, never 400 ms without bytes
            var f = client(Duration.ofMillis(400), 1).fetchBlob("test/busybox", LAYER.digest(), LAYER.size(),
                    List.of(fake.endpoint(false)), memory(out));
            assertArrayEquals(all, out.toByteArray());
            assertEquals(0, f.resumes());
        }
    }

    @Test
    void serverErrorsAndTooManyRequestsAreRetriedWithBackoff() throws Exception {
        try (var fake = new FaultServer((ex, n) -> {
            if (n == 0) {
                FaultServer.send(ex, 503, "application/json", "{\"errors\":[]}".getBytes(StandardCharsets.UTF_8));
            } else if (n == 1) {
                FaultServer.send(ex, 429, null, new byte[0]);
            } else {
                FaultServer.send(ex, 200, "application/octet-stream", LAYER.bytes());
            }
        })) {
            var out = new ByteArrayOutputStream();
            client(Duration.ofSeconds(5), 4).fetchBlob("test/busybox", LAYER.digest(), LAYER.size(),
                    List.of(fake.endpoint(false)), memory(out));
            assertArrayEquals(LAYER.bytes(), out.toByteArray());
            assertEquals(List.of(Duration.ofMillis(1), Duration.ofMillis(2)), sleeps);
        }
    }

    @Test
    void retryAfterIsHonouredUpToTheLongestBackoff() throws Exception {
        try (var fake = new FaultServer((ex, n) -> {
            if (n < 2) {
                ex.getResponseHeaders().set("Retry-After", n == 0 ? "2" : "120");
                FaultServer.send(ex, 429, null, new byte[0]);
            } else {
                FaultServer.send(ex, 200, "application/octet-stream", LAYER.bytes());
            }
        })) {
            var options = RegistryClient.Options.defaults().withPlatform(Platform.LINUX_AMD64)
                    .withRetries(3, Duration.ofMillis(100), Duration.ofSeconds(10), sleeps::add);
            new RegistryClient(tls -> HttpClient.newHttpClient(), host -> Optional.empty(), options).fetchBlob(
                    "test/busybox", LAYER.digest(), LAYER.size(), List.of(fake.endpoint(false)),
                    memory(new ByteArrayOutputStream()));
            assertEquals(List.of(Duration.ofSeconds(2), Duration.ofSeconds(10)), sleeps);
        }
    }

    @Test
    void redirectsAreFollowedWithoutCredentialsOrEndpointHeaders() throws Exception {
        try (var storage = new FaultServer((ex, n) -> FaultServer.send(ex, 200, "application/octet-stream",
                LAYER.bytes()))) {
            try (var fake = new FaultServer((ex, n) -> {
                if (ex.getRequestHeaders().getFirst("Authorization") == null) {
                    ex.getResponseHeaders().set("WWW-Authenticate", "Basic realm=\"test\"");
                    FaultServer.send(ex, 401, null, new byte[0]);
                    return;
                }
                ex.getResponseHeaders().set("Location", "http://" + storage.host() + "/bucket/blob?signature=x");
                FaultServer.send(ex, 307, null, new byte[0]);
            })) {
                var ep = new RegistryEndpoint(fake.endpoint(false).apiRoot(), false, true, true,
                        RegistryEndpoint.Tls.DEFAULT, Map.of("X-Mirror-Token", List.of("m1")));
                var options = RegistryClient.Options.defaults().withPlatform(Platform.LINUX_AMD64)
                        .withRetries(1, Duration.ofMillis(1), Duration.ofMillis(1), sleeps::add);
                var c = new RegistryClient(tls -> HttpClient.newHttpClient(),
                        host -> host.equals(fake.host()) ? Optional.of(Credentials.basic("u", "p")) : Optional.empty(),
                        options);
                var out = new ByteArrayOutputStream();
                c.fetchBlob("test/busybox", LAYER.digest(), LAYER.size(), List.of(ep), memory(out));
                assertArrayEquals(LAYER.bytes(), out.toByteArray());
                var last = fake.requests.getLast().headers();
                assertEquals(Authenticator.basic("u", "p"), last.getFirst("Authorization"));
                assertEquals("m1", last.getFirst("X-Mirror-Token"));
                var redirected = storage.requests.getFirst();
                assertEquals("/bucket/blob", redirected.path());
                assertEquals(null, redirected.headers().getFirst("Authorization"));
                assertEquals(null, redirected.headers().getFirst("X-Mirror-Token"));
            }
        }
    }

    @Test
    void persistentServerErrorsFallThroughToTheNextEndpoint() throws Exception {
        try (var fake = new FaultServer((ex, n) -> FaultServer.send(ex, 500, null, new byte[0]))) {
            var r = client(Duration.ofSeconds(5), 3).resolve("test/busybox", "1.0",
                    List.of(fake.endpoint(true), registry.upstream()));
            assertEquals(registry.upstream(), r.top().endpoint());
            assertEquals(3, fake.requests.size());
            assertEquals(List.of(Duration.ofMillis(1), Duration.ofMillis(2)), sleeps);

            var e = assertThrows(RegistryException.class, () -> client(Duration.ofSeconds(5), 3)
                    .resolve("test/busybox", "1.0", List.of(fake.endpoint(false))));
            assertEquals(Kind.SERVER_ERROR, e.kind());
            assertEquals(500, e.status());
        }
    }

    @Test
    void schema1IsRefused() throws Exception {
        byte[] schema1 = """
                {"schemaVersion": 1, "name": "test/old", "tag": "1.0", "architecture": "amd64",
                 "fsLayers": [], "history": [], "signatures": []}""".getBytes(StandardCharsets.UTF_8);
        try (var fake = new FaultServer((ex, n) -> FaultServer.send(ex, 200, MediaTypes.DOCKER_SCHEMA1_SIGNED,
                schema1))) {
            var e = assertThrows(RegistryException.class, () -> client().resolve("test/old", "1.0",
                    List.of(fake.endpoint(false))));
            assertEquals(Kind.UNSUPPORTED_MEDIA_TYPE, e.kind());
            assertTrue(e.getMessage().contains("schema 1") && e.getMessage().contains("test/old"), e.getMessage());
            String accept = fake.requests.getFirst().headers().getFirst("Accept");
            for (String t : MediaTypes.MANIFEST_ACCEPT) {
                assertTrue(accept.contains(t), accept);
            }
            assertTrue(!accept.contains("distribution.manifest.v1"), accept);
        }
    }

    @Test
    void oversizedManifestsAreRefused() throws Exception {
        byte[] big = new byte[RegistryClient.MAX_MANIFEST_BYTES + 10];
        Arrays.fill(big, (byte) ' ');
        try (var fake = new FaultServer((ex, n) -> {
            ex.getResponseHeaders().set("Content-Type", MediaTypes.OCI_MANIFEST);
            ex.sendResponseHeaders(200, n == 0 ? big.length : 0); // then chunked, without a length
            ex.getResponseBody().write(big);
        })) {
            for (int i = 0; i < 2; i++) {
                var e = assertThrows(RegistryException.class, () -> client().resolve("test/big", "1.0",
                        List.of(fake.endpoint(false))));
                assertEquals(Kind.TOO_LARGE, e.kind());
                assertTrue(e.getMessage().contains("4 MiB"), e.getMessage());
            }
        }
    }

    @Test
    void wrongDockerContentDigestIsDetected() throws Exception {
        try (var fake = new FaultServer((ex, n) -> {
            ex.getResponseHeaders().set("Docker-Content-Digest", LAYER.digest().toString());
            FaultServer.send(ex, 200, MediaTypes.OCI_MANIFEST, IMAGE.manifest().bytes());
        })) {
            var e = assertThrows(RegistryException.class, () -> client().resolve("test/busybox", "1.0",
                    List.of(fake.endpoint(false))));
            assertEquals(Kind.DIGEST_MISMATCH, e.kind());
        }
    }

    @Test
    void manifestByDigestIsVerified() throws Exception {
        try (var fake = new FaultServer((ex, n) -> FaultServer.send(ex, 200, MediaTypes.OCI_MANIFEST,
                TestImages.tiny(Platform.LINUX_AMD64).manifest().bytes()))) {
            var e = assertThrows(RegistryException.class, () -> client().resolve("test/busybox",
                    IMAGE.manifest().digest().toString(), List.of(fake.endpoint(false))));
            assertEquals(Kind.DIGEST_MISMATCH, e.kind());
        }
    }

    @Test
    void failingSinkIsNeitherRetriedNorFallenThrough() throws Exception {
        var failing = new java.nio.channels.WritableByteChannel() {
            @Override
            public int write(java.nio.ByteBuffer src) throws java.io.IOException {
                throw new java.io.IOException("disk full");
            }

            @Override
            public boolean isOpen() {
                return true;
            }

            @Override
            public void close() {
            }
        };
        var e = assertThrows(java.io.IOException.class, () -> client().fetchBlob("test/busybox", LAYER.digest(),
                LAYER.size(), List.of(registry.mirror(true), registry.upstream()), BlobTarget.of(failing)));
        assertEquals("disk full", e.getMessage());
        assertTrue(sleeps.isEmpty());
    }

    private FaultServer current;

    private FaultServer fake() {
        return current;
    }
}
