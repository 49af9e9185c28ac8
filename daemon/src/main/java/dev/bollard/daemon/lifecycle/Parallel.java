package dev.bollard.daemon.lifecycle;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/** Restart recovery's fan-out: one virtual thread per item, all awaited; the first failure is rethrown. */
public final class Parallel {

    @FunctionalInterface
    public interface Body<T> {
        void run(T item) throws IOException, InterruptedException;
    }

    private Parallel() {
    }

    public static <T> void each(List<T> items, Body<T> body) throws IOException, InterruptedException {
        if (items.size() <= 1) {
            for (T item : items) {
                body.run(item);
            }
            return;
        }
        try (var exec = Executors.newVirtualThreadPerTaskExecutor()) {
            var futures = new ArrayList<Future<Void>>();
            for (T item : items) {
                futures.add(exec.submit(() -> {
                    body.run(item);
                    return null;
                }));
            }
            for (var f : futures) {
                await(f);
            }
        }
    }

    /** The task's result, its failure rethrown as what the task threw (a checked cause other than these wrapped). */
    static <T> T await(Future<T> task) throws IOException, InterruptedException {
        try {
            return task.get();
        } catch (ExecutionException e) {
            switch (e.getCause()) {
                case IOException io -> throw io;
                case InterruptedException ie -> throw ie;
                case RuntimeException re -> throw re;
                case Error err -> throw err;
                default -> throw new IOException(e.getCause());
            }
        }
    }
}
