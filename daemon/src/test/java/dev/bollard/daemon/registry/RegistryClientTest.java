package dev.bollard.daemon.registry;

import dev.bollard.daemon.content.Digest;
import dev.bollard.daemon.registry.RegistryException.Kind;
import dev.bollard.daemon.testkit.TestImages;
import dev.bollard.daemon.testkit.TestPush;
import dev.bollard.daemon.testkit.TestRegistry;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Against a real docker-registry (distribution 2.8) on loopback, with images pushed by the test itself. */
class RegistryClientTest {

    @TempDir
    static Path tmp;
    static TestRegistry registry;
    static TestRegistry mirror;
    static final TestImages.Image BUSYBOX = TestImages.busybox();
    static final TestImages.Index MULTI = TestImages.index(false,
            List.of(TestImages.tiny(Platform.LINUX_AMD64), TestImages.tiny(Platform.LINUX_ARM64)));
    static final TestImages.Index DOCKER_LIST = TestImages.index(true,
            List.of(TestImages.docker(Platform.LINUX_ARM64), TestImages.docker(Platform.LINUX_AMD64)));

    @BeforeAll
    static void startRegistries() throws Exception {
        assertTrue(TestRegistry.available(), "docker-registry is not installed: scripts/install-deps.sh installs it");
        registry = TestRegistry.start(tmp.resolve("upstream"));
        mirror = TestRegistry.start(tmp.resolve("mirror"));
        var push = new TestPush(registry.apiRoot());
        BUSYBOX.push(push, "test/busybox", "1.0");
        MULTI.push(push, "test/multi", "latest");
        DOCKER_LIST.push(push, "test/docker", "v2");
        // the mirror holds the multi-platform image too, so tests can see which endpoint served what
        MULTI.push(new TestPush(mirror.apiRoot()), "test/multi", "latest");
    }

    @AfterAll
    static void stopRegistries() throws Exception {
        if (mirror != null) {
            mirror.close();
        }
        if (registry != null) {
            registry.close();
        }
    }

    static RegistryClient client(RegistryClient.Options options) {
        return new RegistryClient(tls -> HttpClient.newHttpClient(), host -> Optional.empty(), options);
    }

    static RegistryClient.Options fast() {
        return RegistryClient.Options.defaults().withPlatform(Platform.LINUX_AMD64)
                .withProgressTimeout(Duration.ofSeconds(5))
                .withRetries(3, Duration.ofMillis(1), Duration.ofMillis(4), d -> {
                });
    }

    @Test
    void resolveByTag() throws Exception {
        var r = client(fast()).resolve("test/busybox", "1.0", List.of(registry.upstream()));
        assertEquals(BUSYBOX.manifest().digest(), r.top().digest());
        assertEquals(MediaTypes.OCI_MANIFEST, r.top().mediaType());
        assertArrayEquals(BUSYBOX.manifest().bytes(), r.top().bytes());
        assertSame(r.top(), r.manifest());
        assertTrue(r.indexes().isEmpty());
        assertEquals(2, r.image().layers().size());
        assertEquals(BUSYBOX.config().digest(), r.image().config().digest());
        assertEquals(MediaTypes.OCI_LAYER_GZIP, r.image().layers().getFirst().mediaType());
    }

    @Test
    void resolveByDigest() throws Exception {
        Digest d = BUSYBOX.manifest().digest();
        var r = client(fast()).resolve("test/busybox", d.toString(), List.of(registry.upstream()));
        assertEquals(d, r.manifest().digest());
        assertEquals(BUSYBOX.layers().get(1).digest(), r.image().layers().get(1).digest());
    }

    @Test
    void indexSelectsTheNodePlatform() throws Exception {
        var amd = client(fast()).resolve("test/multi", "latest", List.of(registry.upstream()));
        assertEquals(MULTI.index().digest(), amd.top().digest());
        assertEquals(MediaTypes.OCI_INDEX, amd.top().mediaType());
        assertEquals(1, amd.indexes().size());
        assertEquals(MULTI.images().get(0).manifest().digest(), amd.manifest().digest());

        var top = client(fast()).fetchManifest("test/multi", "latest", List.of(registry.upstream()));
        assertArrayEquals(MULTI.index().bytes(), top.bytes());
        assertEquals(MediaTypes.OCI_INDEX, top.descriptor().mediaType());

        var arm = client(fast().withPlatform(new Platform("linux", "aarch64", "v8")))
                .resolve("test/multi", "latest", List.of(registry.upstream()));
        assertEquals(MULTI.images().get(1).manifest().digest(), arm.manifest().digest());
    }

    @Test
    void indexWithoutTheNodePlatformNamesWhatItOffers() {
        var e = assertThrows(RegistryException.class, () -> client(fast().withPlatform(new Platform("linux", "s390x",
                ""))).resolve("test/multi", "latest", List.of(registry.upstream())));
        assertEquals(Kind.NO_MATCHING_PLATFORM, e.kind());
        assertTrue(e.getMessage().contains("linux/s390x"), e.getMessage());
        assertTrue(e.getMessage().contains("linux/amd64, linux/arm64"), e.getMessage());
        assertTrue(e.getMessage().contains("test/multi"), e.getMessage());
    }

    @Test
    void dockerManifestListSelectsThePlatform() throws Exception {
        var r = client(fast()).resolve("test/docker", "v2", List.of(registry.upstream()));
        assertEquals(MediaTypes.DOCKER_MANIFEST_LIST, r.top().mediaType());
        assertEquals(MediaTypes.DOCKER_MANIFEST, r.manifest().mediaType());
        assertEquals(DOCKER_LIST.images().get(1).manifest().digest(), r.manifest().digest());
        assertEquals(MediaTypes.DOCKER_CONFIG, r.image().config().mediaType());
    }

    @Test
    void fetchBlobStreamsAndVerifies(@TempDir Path dir) throws Exception {
        var layer = BUSYBOX.layers().getFirst();
        Path file = dir.resolve("layer");
        var progress = new ArrayList<Long>();
        BlobFetch f;
        try (var ch = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            f = client(fast()).fetchBlob("test/busybox", layer.digest(), layer.size(), List.of(registry.upstream()),
                    BlobTarget.of(ch).withProgress(progress::add));
        }
        assertEquals(layer.size(), f.size());
        assertEquals(0, f.resumes());
        assertArrayEquals(layer.bytes(), Files.readAllBytes(file));
        assertEquals(layer.size(), progress.getLast());

        byte[] config = client(fast()).fetchBlobBytes("test/busybox",
                new Descriptor(MediaTypes.OCI_CONFIG, BUSYBOX.config().digest(), BUSYBOX.config().size()),
                List.of(registry.upstream()));
        assertArrayEquals(BUSYBOX.config().bytes(), config);
    }

    @Test
    void fetchBlobContinuesAStoredPrefix() throws Exception {
        var layer = BUSYBOX.layers().getFirst();
        int half = layer.bytes().length / 2;
        var hasher = layer.digest().newHasher();
        hasher.update(layer.bytes(), 0, half);
        var out = new ByteArrayOutputStream();
        out.write(layer.bytes(), 0, half);
        var f = client(fast()).fetchBlob("test/busybox", layer.digest(), layer.size(), List.of(registry.upstream()),
                BlobTarget.resume(Channels.newChannel(out), half, hasher));
        assertEquals(layer.size(), f.size());
        assertArrayEquals(layer.bytes(), out.toByteArray());
    }

    @Test
    void wrongSizeIsDetected() {
        var layer = BUSYBOX.layers().get(1);
        var e = assertThrows(RegistryException.class, () -> client(fast()).fetchBlob("test/busybox", layer.digest(),
                layer.size() - 1, List.of(registry.upstream()), BlobTarget.of(Channels.newChannel(
                        new ByteArrayOutputStream()))));
        assertEquals(Kind.SIZE_MISMATCH, e.kind());
    }

    @Test
    void notFoundErrorsCarryTheRegistryCodes() {
        var c = client(fast());
        var tag = assertThrows(RegistryException.class,
                () -> c.resolve("test/busybox", "nope", List.of(registry.upstream())));
        assertEquals(Kind.NOT_FOUND, tag.kind());
        assertTrue(tag.errorCodes().contains("MANIFEST_UNKNOWN"), tag.errorCodes().toString());
        assertTrue(tag.getMessage().contains(registry.host()) && tag.getMessage().contains("test/busybox:nope"),
                tag.getMessage());

        var repo = assertThrows(RegistryException.class,
                () -> c.resolve("test/absent", "1.0", List.of(registry.upstream())));
        assertEquals(Kind.NOT_FOUND, repo.kind());
        assertTrue(repo.errorCodes().contains("NAME_UNKNOWN") || repo.errorCodes().contains("MANIFEST_UNKNOWN"),
                repo.errorCodes().toString());

        Digest absent = Digest.sha256(new byte[]{1, 2, 3});
        var blob = assertThrows(RegistryException.class, () -> c.fetchBlob("test/busybox", absent, 3,
                List.of(registry.upstream()), BlobTarget.of(Channels.newChannel(new ByteArrayOutputStream()))));
        assertEquals(Kind.NOT_FOUND, blob.kind());
        assertTrue(blob.errorCodes().contains("BLOB_UNKNOWN"), blob.errorCodes() + " " + blob.getMessage());
    }

    @Test
    void deadMirrorFallsThroughToUpstream() throws Exception {
        var dead = new RegistryEndpoint(URI.create("http://127.0.0.1:" + deadPort() + "/v2"), true, true, true,
                RegistryEndpoint.Tls.DEFAULT, java.util.Map.of());
        var sleeps = new ArrayList<Duration>();
        var c = client(fast().withRetries(3, Duration.ofMillis(1), Duration.ofMillis(4), sleeps::add));
        var r = c.resolve("test/busybox", "1.0", List.of(dead, registry.upstream()));
        assertEquals(registry.upstream(), r.top().endpoint());
        assertTrue(sleeps.isEmpty(), "connection refused moves on without retrying: " + sleeps);
        var layer = BUSYBOX.layers().get(1);
        var out = new ByteArrayOutputStream();
        var f = c.fetchBlob("test/busybox", layer.digest(), layer.size(), List.of(dead, registry.upstream()),
                BlobTarget.of(Channels.newChannel(out)));
        assertEquals(registry.upstream(), f.endpoint());
        assertArrayEquals(layer.bytes(), out.toByteArray());
    }

    @Test
    void mirrorWithout404FallsThroughToUpstream() throws Exception {
        // the mirror has test/multi but not test/busybox
        var r = client(fast()).resolve("test/busybox", "1.0", List.of(mirror.mirror(true), registry.upstream()));
        assertEquals(registry.upstream(), r.top().endpoint());
    }

    @Test
    void mirrorWithoutResolveIsNotAskedForTags() throws Exception {
        var pullOnly = mirror.mirror(false);
        var r = client(fast()).resolve("test/multi", "latest", List.of(pullOnly, registry.upstream()));
        assertEquals(registry.upstream(), r.top().endpoint(), "the tag is resolved upstream");
        assertEquals(pullOnly, r.manifest().endpoint(), "content by digest comes from the mirror");

        var resolving = client(fast()).resolve("test/multi", "latest", List.of(mirror.mirror(true),
                registry.upstream()));
        assertEquals(mirror.mirror(true), resolving.top().endpoint());
    }

    @Test
    void noEndpointMayResolve() {
        var e = assertThrows(RegistryException.class, () -> client(fast()).resolve("test/multi", "latest",
                List.of(mirror.mirror(false))));
        assertEquals(Kind.NO_ENDPOINT, e.kind());
    }

    @Test
    void invalidNamesAreRefusedBeforeAnyRequest() {
        var c = client(fast());
        assertThrows(IllegalArgumentException.class, () -> c.resolve("Test/Upper", "1.0", List.of()));
        assertThrows(IllegalArgumentException.class, () -> c.resolve("test/../x", "1.0", List.of()));
        assertThrows(IllegalArgumentException.class, () -> c.resolve("test/x", "a/b", List.of()));
        assertThrows(IllegalArgumentException.class, () -> c.resolve("test/x", "sha256:abc", List.of()));
    }

    static int deadPort() throws Exception {
        try (var s = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }
}
