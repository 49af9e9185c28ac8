package dev.bollard.daemon.container;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.bollard.daemon.linux.Syscalls;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CheckpointArchiveTest {

    /** Entry name → entry and content, in archive order. */
    private static Map<String, Map.Entry<TarArchiveEntry, byte[]>> read(InputStream in) throws IOException {
        var out = new LinkedHashMap<String, Map.Entry<TarArchiveEntry, byte[]>>();
        try (var tar = new TarArchiveInputStream(in)) {
            for (TarArchiveEntry e = tar.getNextEntry(); e != null; e = tar.getNextEntry()) {
                out.put(e.getName(), Map.entry(e, tar.readAllBytes()));
            }
        }
        return out;
    }

    @Test
    void holdsTheCriuImagesConfigSpecAndTheWritableLayer(@TempDir Path dir) throws Exception {
        Path images = Files.createDirectories(dir.resolve("images"));
        Files.writeString(images.resolve("inventory.img"), "criu inventory");
        Files.writeString(images.resolve("pages-1.img"), "pages");
        Path upper = Files.createDirectories(dir.resolve("upper"));
        Files.createDirectories(upper.resolve("tmp"));
        Files.writeString(upper.resolve("tmp/count"), "42\n");
        Files.createSymbolicLink(upper.resolve("tmp/link"), Path.of("count"));
        Files.createDirectories(upper.resolve("etc"));
        Syscalls.mknod(upper.resolve("etc/motd"), Syscalls.S_IFCHR | 0, 0, 0); // a whiteout: the image's file deleted
        var config = new JsonObject();
        config.addProperty("id", "abc");
        var spec = new JsonObject();
        spec.addProperty("ociVersion", "1.0.2");
        Path location = dir.resolve("out/checkpoint.tar");
        Files.createDirectories(location.getParent());

        CheckpointArchive.write(location, images, config, spec, upper);

        var entries = read(Files.newInputStream(location));
        assertTrue(entries.containsKey("checkpoint/"), entries.keySet().toString());
        assertEquals("criu inventory", new String(entries.get("checkpoint/inventory.img").getValue(), StandardCharsets.UTF_8));
        assertTrue(entries.containsKey("checkpoint/pages-1.img"));
        assertEquals("abc", JsonParser.parseString(new String(entries.get("config.dump").getValue(),
                StandardCharsets.UTF_8)).getAsJsonObject().get("id").getAsString());
        assertEquals(spec, JsonParser.parseString(new String(entries.get("spec.dump").getValue(), StandardCharsets.UTF_8)));
        assertEquals("[\"/etc/motd\"]", new String(entries.get("deleted.files").getValue(), StandardCharsets.UTF_8));

        var diff = read(new ByteArrayInputStream(entries.get("rootfs-diff.tar").getValue()));
        assertEquals("42\n", new String(diff.get("tmp/count").getValue(), StandardCharsets.UTF_8));
        assertEquals("count", diff.get("tmp/link").getKey().getLinkName());
        assertTrue(diff.get("tmp/").getKey().isDirectory());
        assertFalse(diff.containsKey("etc/motd"), "a whiteout is listed in deleted.files, not archived");

        try (var left = Files.list(location.getParent())) {
            assertEquals(1, left.count(), "only the archive: no temporary files beside it");
        }
    }

    @Test
    void aRestoreUnpacksTheImagesAndTheWritableLayerWithItsWhiteouts(@TempDir Path dir) throws Exception {
        Path images = Files.createDirectories(dir.resolve("images"));
        Files.writeString(images.resolve("core-1.img"), "core");
        Path upper = Files.createDirectories(dir.resolve("upper"));
        Files.createDirectories(upper.resolve("tmp"));
        Files.writeString(upper.resolve("tmp/count"), "7\n");
        Files.createDirectories(upper.resolve("etc"));
        Syscalls.mknod(upper.resolve("etc/motd"), Syscalls.S_IFCHR, 0, 0);
        var config = new JsonObject();
        config.addProperty("rootfsImage", "sha256:" + "ab".repeat(32));
        config.addProperty("rootfsImageName", "bollard.local/busybox:test");
        var criConfig = new JsonObject();
        criConfig.add("command", new com.google.gson.JsonArray());
        criConfig.getAsJsonArray("command").add("sh");
        config.add("containerConfig", criConfig);
        Path archive = dir.resolve("c.tar");
        CheckpointArchive.write(archive, images, config, new JsonObject(), upper);

        assertTrue(CheckpointArchive.isArchivePath(archive.toString()));
        assertFalse(CheckpointArchive.isArchivePath("bollard.local/busybox:test"));
        var meta = CheckpointArchive.readMetadata(archive);
        assertEquals("sha256:" + "ab".repeat(32), meta.imageId());
        assertEquals("bollard.local/busybox:test", meta.imageName());
        var restored = CheckpointArchive.restoredConfig(dev.bollard.api.cri.v1.ContainerConfig.newBuilder()
                .setImage(dev.bollard.api.cri.v1.ImageSpec.newBuilder().setImage(archive.toString())).build(), meta);
        assertEquals(java.util.List.of("sh"), restored.getCommandList(), "the checkpointed process's command");
        assertEquals(archive.toString(), restored.getImage().getImage());

        Path newImages = dir.resolve("restore/images");
        Path newUpper = Files.createDirectories(dir.resolve("restore/upper"));
        CheckpointArchive.extract(archive, newImages, newUpper);
        assertEquals("core", Files.readString(newImages.resolve("core-1.img")));
        assertEquals("7\n", Files.readString(newUpper.resolve("tmp/count")));
        var motd = Files.readAttributes(newUpper.resolve("etc/motd"), "unix:mode,rdev", java.nio.file.LinkOption.NOFOLLOW_LINKS);
        assertEquals(Syscalls.S_IFCHR, ((Integer) motd.get("mode")) & Syscalls.S_IFMT, "a whiteout again");
        assertEquals(0L, motd.get("rdev"));
    }

    @Test
    void aFileThatIsNoCheckpointArchiveIsRefusedByName(@TempDir Path dir) throws Exception {
        Path notTar = Files.writeString(dir.resolve("plain.txt"), "hello");
        var e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> CheckpointArchive.readMetadata(notTar));
        assertTrue(e.getMessage().contains(notTar.toString()), e.getMessage());
    }

    @Test
    @org.junit.jupiter.api.Timeout(60) // a FIFO read would hang: fail instead
    void aFifoOrDeviceAsArchiveIsRefusedWithoutBlocking(@TempDir Path dir) throws Exception {
        Path fifo = dir.resolve("archive.tar");
        Syscalls.mkfifo(fifo, 0600);
        for (Path archive : new Path[] {fifo, Path.of("/dev/zero")}) {
            var metadata = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                    () -> CheckpointArchive.readMetadata(archive));
            assertTrue(metadata.getMessage().contains(archive + " is not a regular file"), metadata.getMessage());
            var extract = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                    () -> CheckpointArchive.extract(archive, dir.resolve("images"), dir.resolve("upper")));
            assertTrue(extract.getMessage().contains("config.image.image"), extract.getMessage());
        }
    }
}
