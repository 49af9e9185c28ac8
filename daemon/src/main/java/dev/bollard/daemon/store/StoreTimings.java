package dev.bollard.daemon.store;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * Where the crash-safe stores report how long their disk operations took (for the operator metrics). Sinks are
 * registered by directory (a daemon's root and state) rather than globally, because tests may run two daemons in
 * one JVM and each must count only its own files. With nothing registered an operation costs one list check.
 */
public final class StoreTimings {

    /** Receives one finished operation. Must be cheap and must not throw. */
    @FunctionalInterface
    public interface Sink {
        void observe(String store, String op, long nanos);
    }

    private record Registration(Path dir, Sink sink) {
    }

    private static final List<Registration> SINKS = new CopyOnWriteArrayList<>();

    private StoreTimings() {
    }

    /** Reports the operations on files under {@code dir} to {@code sink} until the returned handle is closed. */
    public static AutoCloseable register(Path dir, Sink sink) {
        var r = new Registration(dir.toAbsolutePath().normalize(), sink);
        SINKS.add(r);
        return () -> SINKS.remove(r);
    }

    /**
     * One operation on {@code file} that began at {@code startNanos} ({@link System#nanoTime()}) ended now.
     *
     * @param store which store: a record store's directory name, {@code images}, or {@code files} for other
     *              crash-safe writes
     * @param op    {@code write}, {@code delete} or {@code load}
     */
    public static void observe(Path file, String store, String op, long startNanos) {
        if (SINKS.isEmpty()) {
            return;
        }
        long nanos = System.nanoTime() - startNanos;
        Path abs = file.toAbsolutePath();
        for (var r : SINKS) {
            if (abs.startsWith(r.dir())) {
                r.sink().observe(store, op, nanos);
                return;
            }
        }
    }
}
