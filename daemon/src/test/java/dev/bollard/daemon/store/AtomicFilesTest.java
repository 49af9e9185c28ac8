package dev.bollard.daemon.store;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class AtomicFilesTest {

    @TempDir
    Path dir;

    @Test
    void staleTemporariesOfAnotherProcessGoAndEverythingElseStays() throws Exception {
        Path stale = Files.writeString(dir.resolve(".abc-eth0.json.tmp-999999999"), "{\"half\":");
        Path own = Files.writeString(dir.resolve(".def.json.tmp-" + ProcessHandle.current().pid()), "{}");
        Path record = Files.writeString(dir.resolve("abc-eth0.json"), "{}");
        Path dotfile = Files.writeString(dir.resolve(".keep"), "");
        Files.createDirectory(dir.resolve(".sub.tmp-999999998"));

        assertEquals(List.of(stale), AtomicFiles.removeStaleTemporaries(dir));
        for (Path p : List.of(own, record, dotfile, dir.resolve(".sub.tmp-999999998"))) {
            assertTrue(Files.exists(p), p + " stays");
        }
        assertEquals(List.of(), AtomicFiles.removeStaleTemporaries(dir.resolve("absent")));
    }

    @Test
    void aWriteReplacesTheTargetAndLeavesNoTemporary() throws Exception {
        Path target = dir.resolve("r.json");
        AtomicFiles.write(target, "one".getBytes());
        AtomicFiles.write(target, "two".getBytes());
        assertEquals("two", Files.readString(target));
        try (var files = Files.list(dir)) {
            assertEquals(List.of(target), files.toList());
        }
    }

    @Test
    void aNewFileIsWrittenInPlacePrivateAndNeverOverAnExistingOne() throws Exception {
        Path spec = dir.resolve("config.json");
        AtomicFiles.writeNew(spec, "{}".getBytes());
        assertEquals("{}", Files.readString(spec));
        assertEquals("rw-------", java.nio.file.attribute.PosixFilePermissions.toString(Files.getPosixFilePermissions(spec)));
        org.junit.jupiter.api.Assertions.assertThrows(java.nio.file.FileAlreadyExistsException.class,
                () -> AtomicFiles.writeNew(spec, "{\"other\":1}".getBytes()));
        assertEquals("{}", Files.readString(spec));
    }

    /** The files a commit carries are made durable before it: one that cannot be fails the commit, which is not made. */
    @Test
    void aCommitWhoseCarriedFileCannotBeSyncedIsNotMade() throws Exception {
        Path spec = dir.resolve("config.json");
        AtomicFiles.writeNew(spec, "{}".getBytes());
        Path record = dir.resolve("r.json");
        AtomicFiles.writeUnlessPowerFails(record, "one".getBytes(), "files", List.of(spec));
        assertEquals("one", Files.readString(record));

        org.junit.jupiter.api.Assertions.assertThrows(java.nio.file.NoSuchFileException.class,
                () -> AtomicFiles.write(record, "two".getBytes(), "files", List.of(dir.resolve("gone.json"))));
        assertEquals("one", Files.readString(record), "the record is not replaced");
        org.junit.jupiter.api.Assertions.assertThrows(java.nio.file.NoSuchFileException.class,
                () -> AtomicFiles.writeUnlessPowerFails(record, "two".getBytes(), "files", List.of(dir.resolve("gone.json"))));
        assertEquals("one", Files.readString(record), "the record is not replaced");
        try (var files = Files.list(dir)) {
            assertEquals(java.util.Set.of(spec, record), java.util.Set.copyOf(files.toList()), "no temporary left");
        }
    }
}
