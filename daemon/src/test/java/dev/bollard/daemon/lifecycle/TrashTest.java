package dev.bollard.daemon.lifecycle;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TrashTest {

    @TempDir
    Path dir;

    private static Path tree(Path at) throws Exception {
        Files.createDirectories(at.resolve("a/b"));
        Files.writeString(at.resolve("a/b/file"), "x");
        Files.writeString(at.resolve("top"), "y");
        return at;
    }

    private static long entries(Path d) throws Exception {
        try (var s = Files.list(d)) {
            return s.count();
        }
    }

    @Test
    void aDiscardedTreeIsGoneAtOnceAndDeletedFromTheTrashSoonAfter() throws Exception {
        var trash = new Trash(dir.resolve("trash"));
        Path victim = tree(dir.resolve("containers/abc"));
        trash.discard(victim);
        assertFalse(Files.exists(victim), "the name is gone when discard returns");
        assertTrue(trash.awaitIdle(Duration.ofSeconds(10)));
        assertEquals(0, entries(dir.resolve("trash")), "nothing left in the trash");
        trash.discard(victim); // missing: no error
    }

    @Test
    void theSweepDeletesWhatAnEarlierRunLeftButNotThisRunsEntries() throws Exception {
        tree(dir.resolve("trash/kx1-1-left-by-a-crash"));
        var trash = new Trash(dir.resolve("trash"));
        trash.sweep();
        assertTrue(trash.awaitIdle(Duration.ofSeconds(10)));
        assertEquals(0, entries(dir.resolve("trash")), "the earlier run's entry deleted");
    }

    @Test
    void aTreeOnNoTrashFilesystemIsDeletedInline() throws Exception {
        // /dev/shm is a tmpfs, the temporary directory is not (or is another tmpfs): the rename fails with EXDEV
        Path other = Files.createTempDirectory(Path.of("/dev/shm"), "trash-test");
        try {
            Path victim = tree(other.resolve("x"));
            var trash = new Trash(dir.resolve("trash"));
            trash.discard(victim);
            assertFalse(Files.exists(victim));
            assertEquals(0, entries(dir.resolve("trash")));
        } finally {
            dev.bollard.daemon.store.FileTrees.deleteTree(other);
        }
    }
}
