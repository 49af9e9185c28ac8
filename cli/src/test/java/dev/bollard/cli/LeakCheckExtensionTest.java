package dev.bollard.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HexFormat;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The leak check's scan and diff on real leftovers made here: a process, a mount, a cgroup. */
class LeakCheckExtensionTest {

    @TempDir
    Path dir;

    private static String randomId() {
        var b = new byte[32];
        ThreadLocalRandom.current().nextBytes(b);
        return HexFormat.of().formatHex(b);
    }

    @Test
    void theDiffIsWhatAppearedAndTheFailureListsIt() {
        var before = Set.of("process 1: old", "mount /x");
        var after = Set.of("process 1: old", "process 2: new", "cgroup /sys/fs/cgroup/pids/bollard/abc");
        assertEquals(Set.of("process 2: new", "cgroup /sys/fs/cgroup/pids/bollard/abc"),
                LeakCheckExtension.leaked(before, after));
        String message = LeakCheckExtension.failure("SomeIntegrationTest", Set.of("process 2: new")).getMessage();
        assertEquals("SomeIntegrationTest left 1 thing(s) behind:\n  process 2: new", message);
    }

    @Test
    void aProcessWorkingInATestDirectoryIsFoundUntilItEnds() throws Exception {
        Files.createDirectories(dir.resolve("state"));
        var sleeper = new ProcessBuilder("sleep", "600").directory(dir.resolve("state").toFile()).start();
        try {
            var found = LeftoverScan.scan(List.of(dir), List.of());
            assertTrue(found.contains("process " + sleeper.pid() + ": sleep 600"), found.toString());
        } finally {
            sleeper.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }
        assertEquals(Set.of(), LeftoverScan.scan(List.of(dir), List.of()));
    }

    @Test
    void aMountUnderATestDirectoryAndACgroupNamedByAnIdAreFound() throws Exception {
        Path mountPoint = Files.createDirectories(dir.resolve("state/shm"));
        String id = randomId();
        Path cgroup = Path.of("/sys/fs/cgroup/pids/bollard-leakcheck-" + id.substring(0, 8), id);
        assertEquals(0, new ProcessBuilder("mount", "-t", "tmpfs", "tmpfs", mountPoint.toString()).start().waitFor());
        try {
            Files.createDirectories(cgroup);
            var found = LeftoverScan.scan(List.of(dir), List.of(id));
            assertTrue(found.contains("mount " + mountPoint), found.toString());
            assertTrue(found.contains("cgroup " + Path.of("/sys/fs/cgroup/pids").relativize(cgroup) + " (in pids)"),
                    found.toString());
            assertTrue(LeftoverScan.scan(List.of(dir.resolve("elsewhere")), List.of()).isEmpty(),
                    "nothing of another directory is attributed");
        } finally {
            new ProcessBuilder("umount", mountPoint.toString()).start().waitFor();
            Files.deleteIfExists(cgroup);
            Files.deleteIfExists(cgroup.getParent());
        }
        assertEquals(Set.of(), LeftoverScan.scan(List.of(dir), List.of(id)));
    }

    @Test
    void podAndContainerIdsAreReadFromTheDaemonLogsButNotDigests() throws Exception {
        String id = randomId();
        Files.writeString(dir.resolve("daemon-1.log"), "level=info msg=\"pod sandbox ready\" id=" + id + "\n"
                + "level=info msg=\"image pulled\" digest=sha256:" + randomId() + " layer=" + randomId() + "\n");
        Files.writeString(dir.resolve("other.txt"), randomId());
        assertEquals(Set.of(id), LeftoverScan.loggedIds(dir));
    }
}
