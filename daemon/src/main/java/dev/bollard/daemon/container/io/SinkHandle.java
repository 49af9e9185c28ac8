package dev.bollard.daemon.container.io;

import java.util.concurrent.CompletableFuture;

/** A registered {@link StreamSink}: closing it unregisters the sink. */
public interface SinkHandle extends AutoCloseable {

    /**
     * Completes once the sink got everything up to the end of the container's output, or was dropped (closed,
     * failed, or, with {@link ContainerLogger.Overflow#DROP_SINK}, too far behind).
     */
    CompletableFuture<Void> ended();

    /** Whether the sink was dropped for falling behind (with {@link ContainerLogger.Overflow#DROP_SINK}). */
    boolean overflowed();

    @Override
    void close();
}
