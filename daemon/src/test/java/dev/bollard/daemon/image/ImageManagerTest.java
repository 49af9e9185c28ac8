package dev.bollard.daemon.image;

import dev.bollard.daemon.content.Digest;
import dev.bollard.daemon.registry.Credentials;
import dev.bollard.daemon.registry.HostsConfig;
import dev.bollard.daemon.registry.Platform;
import dev.bollard.daemon.registry.RegistryClient;
import dev.bollard.daemon.registry.RegistryException;
import dev.bollard.daemon.snapshot.ChainId;
import dev.bollard.daemon.testkit.TestImages;
import dev.bollard.daemon.testkit.TestPush;
import dev.bollard.daemon.testkit.TestRegistry;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Pulls from a real docker-registry on loopback into a real content store and snapshots. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ImageManagerTest {

    private TestRegistry registry;
    private Path registryDir;
    private final TestImages.Image busybox = TestImages.busybox();
    private final TestImages.Index multi = TestImages.index(false, List.of(
            TestImages.tiny(Platform.LINUX_ARM64), TestImages.tiny(Platform.LINUX_AMD64)));

    @BeforeAll
    void startRegistry() throws Exception {
        registryDir = Files.createTempDirectory("bollard-reg-");
        registry = TestRegistry.start(registryDir);
        var push = new TestPush(registry.apiRoot());
        busybox.push(push, "library/busybox", "1.36");
        busybox.push(push, "library/busybox", "latest");
        multi.push(push, "multi", "1");
    }

    @AfterAll
    void stopRegistry() throws Exception {
        registry.close();
    }

    private ImageManager manager(Path root, Path certsD) throws Exception {
        var options = RegistryClient.Options.defaults().withProgressTimeout(Duration.ofSeconds(10));
        return new ImageManager(root, new HostsConfig(certsD), options, 3, Clock.systemUTC());
    }

    private String local(String repoAndTag) {
        return registry.host() + "/" + repoAndTag;
    }

    @Test
    void pullUnpacksEveryLayerAndRecordsTheImage(@TempDir Path root) throws Exception {
        try (var images = manager(root, root.resolve("certs.d"))) {
            var r = images.pull(local("library/busybox:1.36"), Credentials.ANONYMOUS);
            assertEquals(busybox.config().digest().toString(), r.id(), "the image ID is the config digest");
            assertEquals(List.of(local("library/busybox:1.36")), r.repoTags());
            assertEquals(List.of(local("library/busybox") + "@" + busybox.manifest().digest()), r.repoDigests());
            long expectedSize = busybox.manifest().size() + busybox.config().size()
                    + busybox.layers().stream().mapToLong(TestImages.Blob::size).sum();
            assertEquals(expectedSize, r.size());
            assertEquals(-1, r.uid(), "the config names no user");

            var diffIds = r.layers().stream().map(l -> Digest.parse(l.diffId())).toList();
            var chains = ChainId.all(diffIds);
            Path base = images.snapshots().path(chains.get(0));
            assertArrayEquals(Files.readAllBytes(Path.of("/bin/busybox")), Files.readAllBytes(base.resolve("bin/busybox")));
            assertEquals(Path.of("busybox"), Files.readSymbolicLink(base.resolve("bin/sh")));
            assertEquals("hello from bollard\n", Files.readString(images.snapshots().path(chains.get(1)).resolve("etc/hello.txt")));
            for (var l : busybox.layers()) {
                assertTrue(images.content().has(l.digest()), "compressed layer kept for export");
            }
            assertEquals(r, images.resolve(r.id()).orElseThrow());
            assertEquals(r, images.resolve(r.id().substring(7)).orElseThrow());
            assertEquals(r, images.resolve(r.repoDigests().getFirst()).orElseThrow());
            assertTrue(images.usage().bytes() > Files.size(Path.of("/bin/busybox")));
        }
    }

    @Test
    void partialDownloadsCountInTheUsageAndGarbageCollectionDropsStaleOnes(@TempDir Path root) throws Exception {
        try (var images = manager(root, root.resolve("certs.d"))) {
            long before = images.usage().bytes();
            byte[] blob = new byte[100_000];
            try (var w = images.content().writer(Digest.sha256(blob), blob.length)) {
                w.write(java.nio.ByteBuffer.wrap(blob, 0, 60_000)); // an interrupted download
            }
            assertEquals(before + 60_000, images.usage().bytes(), "ImageFsInfo counts the partial download");
            images.collect();
            assertEquals(before + 60_000, images.usage().bytes(), "a recent one stays for the retry to resume");
            Path partial = root.resolve("content/ingest/sha256-" + Digest.sha256(blob).hex());
            Files.setLastModifiedTime(partial, java.nio.file.attribute.FileTime.from(
                    java.time.Instant.now().minus(Duration.ofHours(2))));
            images.collect();
            assertFalse(Files.exists(partial), "stale: collected");
            assertEquals(before, images.usage().bytes());
        }
    }

    @Test
    void theSameImageFromTwoReferencesIsOneImage(@TempDir Path root) throws Exception {
        try (var images = manager(root, root.resolve("certs.d"))) {
            var a = images.pull(local("library/busybox:1.36"), Credentials.ANONYMOUS);
            var b = images.pull(local("library/busybox:latest"), Credentials.ANONYMOUS);
            assertEquals(a.id(), b.id());
            assertEquals(List.of(local("library/busybox:1.36"), local("library/busybox:latest")), b.repoTags());
            assertEquals(1, images.list().size());

            assertTrue(images.remove(local("library/busybox:1.36")), "one of two tags: untagged");
            assertEquals(List.of(local("library/busybox:latest")), images.resolve(a.id()).orElseThrow().repoTags());
            assertTrue(images.content().has(busybox.layers().getFirst().digest()));

            assertTrue(images.remove(a.id()));
            assertTrue(images.list().isEmpty());
            assertTrue(images.content().list().isEmpty(), "content collected");
            assertTrue(images.snapshots().list().isEmpty(), "snapshots collected");
            assertFalse(images.remove(a.id()), "removing an absent image is a no-op");
        }
    }

    @Test
    void anIndexResolvesToTheNodesPlatform(@TempDir Path root) throws Exception {
        try (var images = manager(root, root.resolve("certs.d"))) {
            var r = images.pull(local("multi:1"), Credentials.ANONYMOUS);
            var amd64 = multi.images().get(1);
            assertEquals(amd64.config().digest().toString(), r.id());
            assertEquals(amd64.manifest().digest().toString(), r.manifestDigest());
            assertEquals(List.of(local("multi") + "@" + multi.index().digest()), r.repoDigests(),
                    "the repo digest is what the tag names: the index");
            var chain = ChainId.all(List.of(Digest.parse(r.layers().getFirst().diffId()))).getFirst();
            assertTrue(Files.readString(images.snapshots().path(chain).resolve("etc/platform")).contains("amd64"));
        }
    }

    @Test
    void aMirrorFromCertsDServesADockerHubName(@TempDir Path root) throws Exception {
        Path certsD = root.resolve("certs.d");
        Files.createDirectories(certsD.resolve("docker.io"));
        Files.writeString(certsD.resolve("docker.io/hosts.toml"), """
                server = "https://registry-1.docker.io"

                [host."http://%s"]
                  capabilities = ["pull", "resolve"]
                """.formatted(registry.host()));
        try (var images = manager(root.resolve("r"), certsD)) {
            var r = images.pull("busybox:1.36", Credentials.ANONYMOUS);
            assertEquals(List.of("docker.io/library/busybox:1.36"), r.repoTags());
            assertEquals(busybox.config().digest().toString(), images.resolve("busybox:1.36").orElseThrow().id());
            assertEquals(r, images.resolve("docker.io/library/busybox:1.36").orElseThrow());
        }
    }

    @Test
    void concurrentPullsFetchEachBlobOnce(@TempDir Path root) throws Exception {
        try (var images = manager(root, root.resolve("certs.d")); var pool = Executors.newVirtualThreadPerTaskExecutor()) {
            var futures = new ArrayList<Future<ImageRecord>>();
            for (int i = 0; i < 4; i++) {
                String tag = i % 2 == 0 ? "1.36" : "latest";
                futures.add(pool.submit(() -> images.pull(local("library/busybox:" + tag), Credentials.ANONYMOUS)));
            }
            for (var f : futures) {
                assertEquals(busybox.config().digest().toString(), f.get().id());
            }
            assertEquals(1, images.list().size());
            assertEquals(2, images.snapshots().list().size());
        }
    }

    @Test
    void missingImagesAndBadReferencesAreClearErrors(@TempDir Path root) throws Exception {
        try (var images = manager(root, root.resolve("certs.d"))) {
            var e = assertThrows(RegistryException.class, () -> images.pull(local("nothing:here"), Credentials.ANONYMOUS));
            assertEquals(RegistryException.Kind.NOT_FOUND, e.kind());
            assertTrue(e.getMessage().contains("nothing"), e.getMessage());
            var bad = assertThrows(IllegalArgumentException.class, () -> images.pull("UPPER/Case", Credentials.ANONYMOUS));
            assertTrue(bad.getMessage().startsWith("invalid image reference \"UPPER/Case\""), bad.getMessage());
            assertTrue(images.list().isEmpty());
            assertTrue(images.content().list().isEmpty(), "nothing stored for a failed pull");
        }
    }

    /**
     * A mirror serving corrupt layer bytes: the download starts over upstream while the layer is being unpacked
     * from the growing ingest, so the unpack must start over too, from the verified blob.
     */
    @Test
    void aCorruptMirrorBlobIsFetchedAgainUpstreamAndUnpackedWhole(@TempDir Path root) throws Exception {
        var mirror = com.sun.net.httpserver.HttpServer.create(
                new java.net.InetSocketAddress(java.net.InetAddress.getLoopbackAddress(), 0), 0);
        mirror.createContext("/", exchange -> {
            String path = exchange.getRequestURI().getPath();
            byte[] body = null;
            if (path.equals("/v2/")) {
                body = new byte[0];
            } else if (path.endsWith(busybox.config().digest().toString())) {
                body = busybox.config().bytes();
            } else {
                for (var layer : busybox.layers()) {
                    if (path.endsWith(layer.digest().toString())) {
                        body = layer.bytes().clone();
                        body[body.length / 2] ^= 0x55;
                    }
                }
            }
            if (body == null) {
                exchange.sendResponseHeaders(404, -1);
            } else {
                exchange.sendResponseHeaders(200, body.length == 0 ? -1 : body.length);
                exchange.getResponseBody().write(body);
            }
            exchange.close();
        });
        mirror.start();
        try {
            Path certsD = root.resolve("certs.d");
            Files.createDirectories(certsD.resolve(registry.host()));
            Files.writeString(certsD.resolve(registry.host()).resolve("hosts.toml"), """
                    server = "http://%s"
                    [host."http://127.0.0.1:%d"]
                      capabilities = ["pull"]
                    """.formatted(registry.host(), mirror.getAddress().getPort()));
            try (var images = manager(root.resolve("r"), certsD)) {
                var r = images.pull(local("library/busybox:1.36"), Credentials.ANONYMOUS);
                var chains = ChainId.all(r.layers().stream().map(l -> Digest.parse(l.diffId())).toList());
                assertArrayEquals(Files.readAllBytes(Path.of("/bin/busybox")),
                        Files.readAllBytes(images.snapshots().path(chains.get(0)).resolve("bin/busybox")));
                for (var layer : busybox.layers()) {
                    assertArrayEquals(layer.bytes(), images.content().read(layer.digest()));
                }
            }
        } finally {
            mirror.stop(0);
        }
    }

    @Test
    void housekeepingCollectsWhatACrashedPullLeftUnrecorded(@TempDir Path root) throws Exception {
        byte[] orphan = "a manifest whose pull died before it was recorded".getBytes();
        try (var images = manager(root, root.resolve("certs.d"))) {
            images.pull(local("library/busybox:1.36"), Credentials.ANONYMOUS);
            images.content().put(Digest.sha256(orphan), orphan);
            Files.createDirectories(images.snapshots().path(Digest.sha256(orphan)));
        }
        try (var images = manager(root, root.resolve("certs.d"))) {
            images.startHousekeeping();
            long deadline = System.nanoTime() + 10_000_000_000L;
            while ((images.content().has(Digest.sha256(orphan)) || images.snapshots().has(Digest.sha256(orphan)))
                    && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            assertFalse(images.content().has(Digest.sha256(orphan)));
            assertFalse(images.snapshots().has(Digest.sha256(orphan)));
            assertTrue(images.content().has(busybox.config().digest()), "recorded images keep their content");
            assertEquals(2, images.snapshots().list().size());
        }
    }

    @Test
    void recordsSurviveARestartOfTheManager(@TempDir Path root) throws Exception {
        String id;
        try (var images = manager(root, root.resolve("certs.d"))) {
            id = images.pull(local("library/busybox:1.36"), Credentials.ANONYMOUS).id();
        }
        try (var images = manager(root, root.resolve("certs.d"))) {
            assertEquals(id, images.resolve(local("library/busybox:1.36")).orElseThrow().id());
        }
    }
}
