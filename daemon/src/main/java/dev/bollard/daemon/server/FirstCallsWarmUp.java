package dev.bollard.daemon.server;

import dev.bollard.daemon.log.Log;

import java.util.List;

/**
 * One-time work the first pod after a start would do on its own time, done on a virtual thread instead, started
 * when kubelet's first Status has its answer ({@code RuntimeInfoRpcs.afterFirstStatus}), while kubelet moves on to
 * RunPodSandbox. The AOT cache holds these classes loaded and linked, but their static initializers still run in each
 * new JVM, and some are costly (measured with {@code -Xlog:class+load,class+init} in the cold bench's first calls, 2
 * cores under load): the FFM downcall stubs of {@code linux.Syscalls} (~190 ms of the first RunPodSandbox when that
 * class linked all of them at once; now each has a holder, so the pod links what the warm-up has not yet), protobuf's
 * JSON printer and its well-known types (the first RunPodSandbox's record, ~20 ms). Started at daemon start instead,
 * on 2 cores, the same work delayed the first Version answer and raised the idle daemon's memory by ~20 MB. A call
 * that arrives while a class is still being initialized waits for that initialization (the JVM's class init lock)
 * instead of doing it again, so it is never worse off than without the warm-up.
 */
final class FirstCallsWarmUp {

    private static final Log LOG = Log.get("daemon");

    private FirstCallsWarmUp() {
    }

    /** Initializes {@code classes}, in order, then runs {@code tasks}, on a virtual thread started now. */
    static Thread start(List<Class<?>> classes, List<Runnable> tasks) {
        return start("first-calls-warm-up", classes, tasks);
    }

    /** {@link #start(List, List)} on a thread named {@code name} (a restart's recovery warm-up uses it too). */
    static Thread start(String name, List<Class<?>> classes, List<Runnable> tasks) {
        return Thread.ofVirtual().name(name).start(() -> {
            long t0 = System.nanoTime();
            for (Class<?> c : classes) {
                long c0 = System.nanoTime();
                try {
                    Class.forName(c.getName(), true, c.getClassLoader());
                } catch (ClassNotFoundException | LinkageError e) {
                    LOG.debug("first-calls warm-up: class not initialized", "class", c.getName(), "error", e.toString());
                }
                if (LOG.isDebug()) {
                    LOG.debug("first-calls warm-up: initialized", "class", c.getSimpleName(),
                            "millis", (System.nanoTime() - c0) / 1_000_000);
                }
            }
            for (Runnable task : tasks) {
                try {
                    task.run();
                } catch (RuntimeException | LinkageError e) {
                    // the call that needs it meets the same failure, and reports it there
                    LOG.debug("first-calls warm-up: task failed", "error", e.toString());
                }
            }
            LOG.debug("first-calls warm-up done", "millis", (System.nanoTime() - t0) / 1_000_000);
        });
    }
}
