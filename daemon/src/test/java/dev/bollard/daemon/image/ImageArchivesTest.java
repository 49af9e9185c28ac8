package dev.bollard.daemon.image;

import dev.bollard.daemon.registry.HostsConfig;
import dev.bollard.daemon.registry.RegistryClient;
import dev.bollard.daemon.testkit.TestImages;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Air-gapped transfer: OCI layout and docker-save archives in, OCI layout out, no registry anywhere. */
class ImageArchivesTest {

    private final TestImages.Image busybox = TestImages.busybox();

    private static ImageManager manager(Path root) throws IOException {
        return new ImageManager(root, new HostsConfig(root.resolve("certs.d")), RegistryClient.Options.defaults(), 2,
                Clock.systemUTC());
    }

    private static void tar(Path file, Map<String, byte[]> entries) throws IOException {
        try (OutputStream os = Files.newOutputStream(file); var tar = new TarArchiveOutputStream(os)) {
            tar.setLongFileMode(TarArchiveOutputStream.LONGFILE_POSIX);
            for (var e : entries.entrySet()) {
                var te = new TarArchiveEntry(e.getKey());
                te.setSize(e.getValue().length);
                tar.putArchiveEntry(te);
                tar.write(e.getValue());
                tar.closeArchiveEntry();
            }
        }
    }

    private Map<String, byte[]> ociLayout(String annotations) {
        var files = new LinkedHashMap<String, byte[]>();
        files.put("oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}".getBytes(StandardCharsets.UTF_8));
        files.put("index.json", ("{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"" + busybox.manifest().mediaType()
                + "\",\"digest\":\"" + busybox.manifest().digest() + "\",\"size\":" + busybox.manifest().size()
                + annotations + "}]}").getBytes(StandardCharsets.UTF_8));
        for (var blob : List.of(busybox.manifest(), busybox.config(), busybox.layers().get(0), busybox.layers().get(1))) {
            files.put("blobs/sha256/" + blob.digest().hex(), blob.bytes());
        }
        return files;
    }

    @Test
    void importsAnOciLayoutAndExportsItBack(@TempDir Path dir) throws Exception {
        Path archive = dir.resolve("busybox.tar");
        tar(archive, ociLayout(",\"annotations\":{\"io.containerd.image.name\":\"example.com/tools/busybox:1.36\","
                + "\"org.opencontainers.image.ref.name\":\"1.36\"}"));
        Path exported = dir.resolve("exported.tar");
        String id;
        try (var images = manager(dir.resolve("a"))) {
            var r = images.importArchive(archive, "").getFirst();
            id = r.id();
            assertEquals(busybox.config().digest().toString(), id);
            assertEquals(List.of("example.com/tools/busybox:1.36"), r.repoTags());
            assertEquals(List.of("example.com/tools/busybox@" + busybox.manifest().digest()), r.repoDigests());
            var base = images.snapshots().path(dev.bollard.daemon.snapshot.ChainId.all(List.of(
                    dev.bollard.daemon.content.Digest.parse(r.layers().getFirst().diffId()))).getFirst());
            assertArrayEquals(Files.readAllBytes(Path.of("/bin/busybox")), Files.readAllBytes(base.resolve("bin/busybox")));
            images.export("example.com/tools/busybox:1.36", exported);
            assertThrows(IllegalArgumentException.class, () -> images.export(id, exported), "never overwrites");
        }
        try (var images = manager(dir.resolve("b"))) {
            var r = images.importArchive(exported, "").getFirst();
            assertEquals(id, r.id(), "an exported image imports as the same image");
            assertEquals(List.of("example.com/tools/busybox:1.36"), r.repoTags());
            assertEquals(List.of("example.com/tools/busybox@" + busybox.manifest().digest()), r.repoDigests());
        }
    }

    @Test
    void aRefNameTagTakesTheBaseName(@TempDir Path dir) throws Exception {
        Path archive = dir.resolve("a.tar");
        tar(archive, ociLayout(",\"annotations\":{\"org.opencontainers.image.ref.name\":\"demo\"}"));
        try (var images = manager(dir.resolve("r"))) {
            var e = assertThrows(IllegalArgumentException.class, () -> images.importArchive(archive, ""));
            assertTrue(e.getMessage().contains("give a base name"), e.getMessage());
            assertTrue(images.list().isEmpty());
            var r = images.importArchive(archive, "bollard.local/busybox").getFirst();
            assertEquals(List.of("bollard.local/busybox:demo"), r.repoTags());
        }
    }

    @Test
    void importsADockerSaveArchive(@TempDir Path dir) throws Exception {
        var files = new LinkedHashMap<String, byte[]>();
        byte[] plainLayer = TestImages.tar(List.of(TestImages.Entry.file("etc/docker.txt", "from docker save\n")));
        // a docker save of busybox's config needs diff IDs that match: build a config for this one layer
        String config = "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"User\":\"1000\"},"
                + "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" + dev.bollard.daemon.content.Digest.sha256(plainLayer) + "\"]}}";
        files.put("abc123.json", config.getBytes(StandardCharsets.UTF_8));
        files.put("l1/layer.tar", plainLayer);
        files.put("manifest.json", "[{\"Config\":\"abc123.json\",\"RepoTags\":[\"app:2\"],\"Layers\":[\"l1/layer.tar\"]}]"
                .getBytes(StandardCharsets.UTF_8));
        Path archive = dir.resolve("docker.tar");
        tar(archive, files);
        try (var images = manager(dir.resolve("r"))) {
            var r = images.importArchive(archive, "").getFirst();
            assertEquals(List.of("docker.io/library/app:2"), r.repoTags());
            assertEquals(List.of(), r.repoDigests(), "no registry manifest, no repo digest");
            assertEquals(1000, r.uid());
            assertEquals(r, images.resolve("app:2").orElseThrow());
        }
    }

    @Test
    void aLayerMissingFromTheArchiveFailsAndRecordsNothing(@TempDir Path dir) throws Exception {
        var files = ociLayout(",\"annotations\":{\"io.containerd.image.name\":\"example.com/x:1\"}");
        files.remove("blobs/sha256/" + busybox.layers().get(1).digest().hex());
        Path archive = dir.resolve("broken.tar");
        tar(archive, files);
        try (var images = manager(dir.resolve("r"))) {
            var e = assertThrows(IOException.class, () -> images.importArchive(archive, ""));
            assertTrue(e.getMessage().contains(busybox.layers().get(1).digest().toString()), e.getMessage());
            assertTrue(images.list().isEmpty());
        }
    }

    @Test
    void archivePathsAreNeverOpened(@TempDir Path dir) throws Exception {
        var files = ociLayout(",\"annotations\":{\"io.containerd.image.name\":\"example.com/x:1\"}");
        files.put("../../escape.txt", "outside".getBytes(StandardCharsets.UTF_8));
        Path archive = dir.resolve("evil.tar");
        tar(archive, files);
        try (var images = manager(dir.resolve("r"))) {
            images.importArchive(archive, "");
            assertFalse(Files.exists(dir.resolve("escape.txt")));
            assertFalse(Files.exists(dir.getParent().resolve("escape.txt")));
        }
    }

    @Test
    void notAnImageArchive(@TempDir Path dir) throws Exception {
        Path archive = dir.resolve("x.tar");
        tar(archive, Map.of("readme.txt", "hi".getBytes(StandardCharsets.UTF_8)));
        try (var images = manager(dir.resolve("r"))) {
            var e = assertThrows(IOException.class, () -> images.importArchive(archive, ""));
            assertTrue(e.getMessage().contains("neither index.json"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> images.importArchive(dir.resolve("nope.tar"), ""));
        }
    }
}
