package dev.bollard.daemon.container.io;

/**
 * A consumer of a container's raw output beside its log (attach). Called on a thread of its own, in the order the
 * output was read; {@code data} must not be modified and is not reused, so the sink may keep it.
 */
@FunctionalInterface
public interface StreamSink {
    void accept(String stream /* "stdout" | "stderr" */, byte[] data, int off, int len);
}
