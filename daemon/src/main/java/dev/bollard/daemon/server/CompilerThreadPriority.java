package dev.bollard.daemon.server;

import dev.bollard.daemon.linux.ProcStat;
import dev.bollard.daemon.linux.Syscalls;
import dev.bollard.daemon.log.Log;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.OptionalInt;

/**
 * Gives the JIT's compiler threads their normal priority back once the daemon's start is over.
 * <p>
 * bin/bollard starts the daemon as root with {@code -XX:ThreadPriorityPolicy=1 -XX:CompilerThreadPriority=19}: while
 * the JVM starts, recovers the last run's pods and serves its first pods, its two compiler threads run at nice 19, so
 * on a node with few cores the threads doing that work come first and the compiling waits for the gaps (start to
 * the first Version and its CPU, docs/BENCHMARKS.md "Issue 16, stop 27"). Left at 19 for good, a load that keeps
 * the cores busy starves the compiler, and the calls run from interpreted code for longer: ListContainers at 8
 * clients fell by a fifth after a 5 s warm-up. So {@link #AFTER_READY} after the daemon is ready, each compiler
 * thread goes back to nice 0.
 * <p>
 * Nothing is done for threads at nice 0 already (a daemon started without those flags, or not as root).
 */
public final class CompilerThreadPriority {

    private static final Log LOG = Log.get("daemon");

    static final Duration AFTER_READY = Duration.ofSeconds(10);
    /** HotSpot's compiler threads are "C1 CompilerThread0", "C2 CompilerThread1", ...; the kernel keeps 15 bytes. */
    private static final String COMPILER_THREAD = " CompilerThre";

    /** Sets one thread's nice value; {@link Syscalls#setThreadNice} for the daemon, a fake in tests. */
    interface Renice {
        void set(int tid, int nice) throws IOException;
    }

    private CompilerThreadPriority() {
    }

    /** After {@link #AFTER_READY}, on a virtual thread: this JVM's compiler threads back to nice 0. */
    public static void restoreLater() {
        Thread.ofVirtual().name("compiler-priority").start(() -> {
            try {
                Thread.sleep(AFTER_READY);
                int changed = restore(Path.of("/proc/self/task"), Syscalls::setThreadNice);
                if (changed > 0) {
                    LOG.debug("compiler threads back to normal priority", "threads", changed);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } catch (IOException | RuntimeException e) {
                LOG.warn("could not give the compiler threads their priority back", "error", e.getMessage());
            }
        });
    }

    /**
     * Every thread under {@code taskDir} ({@code /proc/self/task}) named like a compiler thread and at a nice above 0
     * is set to 0. A thread that ends meanwhile is skipped. @return how many were changed
     */
    static int restore(Path taskDir, Renice renice) throws IOException {
        int changed = 0;
        try (DirectoryStream<Path> tasks = Files.newDirectoryStream(taskDir)) {
            for (Path task : tasks) {
                String stat;
                try {
                    stat = Files.readString(task.resolve("stat")); // its name and its nice in one read
                } catch (java.nio.file.NoSuchFileException e) {
                    continue; // the thread ended
                }
                if (!ProcStat.name(stat).contains(COMPILER_THREAD)) {
                    continue;
                }
                OptionalInt nice = niceOf(stat);
                if (nice.isPresent() && nice.getAsInt() > 0) {
                    renice.set(Integer.parseInt(task.getFileName().toString()), 0);
                    changed++;
                }
            }
        }
        return changed;
    }

    /** The nice value of a {@code /proc/<pid>/task/<tid>/stat} line: its 19th field. */
    static OptionalInt niceOf(String stat) {
        String[] fields = ProcStat.fieldsFromState(stat);
        if (fields.length <= 16) {
            return OptionalInt.empty();
        }
        try {
            return OptionalInt.of(Integer.parseInt(fields[16])); // field 19
        } catch (NumberFormatException e) {
            return OptionalInt.empty();
        }
    }
}
