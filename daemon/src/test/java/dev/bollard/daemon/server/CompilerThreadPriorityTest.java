package dev.bollard.daemon.server;

import dev.bollard.daemon.linux.Syscalls;
import dev.bollard.daemon.store.FileTrees;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

class CompilerThreadPriorityTest {

    private static String stat(int tid, String comm, int nice) {
        // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime
        // priority nice threads ...
        return tid + " (" + comm + ") S 1 1 1 0 -1 4194368 10 0 0 0 5 3 0 0 " + (20 + nice) + " " + nice + " 30 0 100\n";
    }

    @Test
    void theNiceValueIsTheNineteenthFieldCountedAfterTheName() {
        assertEquals(OptionalInt.of(19), CompilerThreadPriority.niceOf(stat(12, "C2 CompilerThre", 19)));
        assertEquals(OptionalInt.of(-5), CompilerThreadPriority.niceOf(stat(12, "Reference Handl", -5)));
        // a name with spaces and parentheses of its own
        assertEquals(OptionalInt.of(3), CompilerThreadPriority.niceOf(stat(12, "a) (b c) d", 3)));
        assertEquals(OptionalInt.empty(), CompilerThreadPriority.niceOf("12 (cut short) S 1 1"));
        assertEquals(OptionalInt.empty(), CompilerThreadPriority.niceOf("no name at all"));
    }

    @Test
    void onlyCompilerThreadsAboveNiceZeroAreSetBack() throws Exception {
        Path tasks = Files.createTempDirectory("bollard-tasks-");
        try {
            Map<Integer, String[]> threads = Map.of(
                    101, new String[] {"C2 CompilerThre", "19"},
                    102, new String[] {"C1 CompilerThre", "19"},
                    103, new String[] {"C2 CompilerThre", "0"},
                    104, new String[] {"ForkJoinPool-1-", "19"},
                    105, new String[] {"java", "5"});
            for (var t : threads.entrySet()) {
                Path dir = Files.createDirectories(tasks.resolve(String.valueOf(t.getKey())));
                Files.writeString(dir.resolve("stat"), stat(t.getKey(), t.getValue()[0], Integer.parseInt(t.getValue()[1])));
            }
            Files.createDirectories(tasks.resolve("106")); // a thread that ended while being read: no files left
            var set = new TreeMap<Integer, Integer>();
            int changed = CompilerThreadPriority.restore(tasks, set::put);
            assertEquals(2, changed);
            assertEquals(Map.of(101, 0, 102, 0), set);
        } finally {
            FileTrees.deleteTree(tasks);
        }
    }

    @Test
    void thisJvmsCompilerThreadsGetNiceZeroBack() throws Exception {
        assumeTrue("root".equals(System.getProperty("user.name")), "raising a thread's priority needs CAP_SYS_NICE");
        Path tasks = Path.of("/proc/self/task");
        List<Integer> compilers = new ArrayList<>();
        try (var dirs = Files.list(tasks)) {
            for (Path task : dirs.toList()) {
                if (Files.readString(task.resolve("comm")).contains(" CompilerThre")) {
                    compilers.add(Integer.parseInt(task.getFileName().toString()));
                }
            }
        }
        assumeTrue(!compilers.isEmpty(), "a JVM without compiler threads (-Xint)");
        try {
            for (int tid : compilers) {
                Syscalls.setThreadNice(tid, 7);
                assertEquals(OptionalInt.of(7), niceOf(tid));
            }
            assertTrue(CompilerThreadPriority.restore(tasks, Syscalls::setThreadNice) >= compilers.size());
            for (int tid : compilers) {
                assertEquals(OptionalInt.of(0), niceOf(tid), "compiler thread " + tid);
            }
            assertEquals(0, CompilerThreadPriority.restore(tasks, Syscalls::setThreadNice), "nothing left to do");
        } finally {
            for (int tid : compilers) {
                Syscalls.setThreadNice(tid, 0);
            }
        }
    }

    @Test
    void aThreadThatIsNotACompilerKeepsItsNice() throws Exception {
        assumeTrue("root".equals(System.getProperty("user.name")), "raising a thread's priority needs CAP_SYS_NICE");
        var failure = new java.util.concurrent.atomic.AtomicReference<Throwable>();
        var t = Thread.ofPlatform().name("not-a-compiler").start(() -> {
            try {
                int tid = Integer.parseInt(Files.readSymbolicLink(Path.of("/proc/thread-self")).getFileName().toString());
                Syscalls.setThreadNice(tid, 4);
                try {
                    CompilerThreadPriority.restore(Path.of("/proc/self/task"), Syscalls::setThreadNice);
                    assertEquals(OptionalInt.of(4), niceOf(tid));
                } finally {
                    Syscalls.setThreadNice(tid, 0);
                }
            } catch (Throwable e) {
                failure.set(e);
            }
        });
        t.join();
        assertFalse(failure.get() != null, () -> String.valueOf(failure.get()));
    }

    private static OptionalInt niceOf(int tid) throws Exception {
        return CompilerThreadPriority.niceOf(Files.readString(Path.of("/proc/self/task/" + tid + "/stat")));
    }
}
