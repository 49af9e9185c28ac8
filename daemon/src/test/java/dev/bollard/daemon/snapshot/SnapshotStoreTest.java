package dev.bollard.daemon.snapshot;

import dev.bollard.daemon.content.Digest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SnapshotStoreTest {

    private static final Digest CHAIN = Digest.sha256("layer".getBytes());

    @Test
    void buildsOncePublishesWhole(@TempDir Path root) throws Exception {
        var store = new SnapshotStore(root);
        var fills = new AtomicInteger();
        try (var pool = Executors.newVirtualThreadPerTaskExecutor()) {
            for (int i = 0; i < 6; i++) {
                pool.submit(() -> store.ensure(CHAIN, dir -> {
                    fills.incrementAndGet();
                    Files.writeString(dir.resolve("file"), "x");
                }));
            }
        }
        assertEquals(1, fills.get());
        assertEquals("x", Files.readString(store.path(CHAIN).resolve("file")));
        assertEquals(List.of(CHAIN), store.list());
        assertEquals("rwxr-xr-x", java.nio.file.attribute.PosixFilePermissions.toString(
                Files.getPosixFilePermissions(store.path(CHAIN))), "a layer root is a container's /");
    }

    @Test
    void aFailedFillLeavesNothing(@TempDir Path root) throws Exception {
        var store = new SnapshotStore(root);
        var e = assertThrows(IOException.class, () -> store.ensure(CHAIN, dir -> {
            Files.createDirectories(dir.resolve("a/b"));
            Files.writeString(dir.resolve("a/b/c"), "partial");
            throw new IOException("layer is corrupt");
        }));
        assertEquals("layer is corrupt", e.getMessage());
        assertFalse(store.has(CHAIN));
        try (var files = Files.list(root.resolve("tmp"))) {
            assertEquals(0, files.count());
        }
    }

    @Test
    void interruptedUnpacksAreClearedAtStartAndRemoveIsIdempotent(@TempDir Path root) throws Exception {
        Files.createDirectories(root.resolve("tmp/half-done/usr"));
        var store = new SnapshotStore(root);
        try (var files = Files.list(root.resolve("tmp"))) {
            assertEquals(0, files.count());
        }
        store.ensure(CHAIN, dir -> Files.createSymbolicLink(dir.resolve("escape"), Path.of("/")));
        store.remove(CHAIN);
        store.remove(CHAIN);
        assertFalse(store.has(CHAIN));
        assertTrue(Files.isDirectory(Path.of("/etc")), "a symlink to / is removed, not followed");
    }

    @Test
    void aWorkDirectoryLeftByADaemonThatStoppedIsRemovedByTheNextStart(@TempDir Path root) throws Exception {
        var work = new SnapshotStore(root).newWorkDir("pause-");
        Files.writeString(work.resolve("pause.tar"), "half written");
        assertEquals(root.resolve("tmp"), work.getParent(), "in the store, not in the node's /tmp");
        assertTrue(work.getFileName().toString().startsWith("pause-"));

        new SnapshotStore(root); // the next start
        assertFalse(Files.exists(work));
    }
}
