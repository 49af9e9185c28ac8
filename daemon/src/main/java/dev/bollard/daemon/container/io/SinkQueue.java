package dev.bollard.daemon.container.io;

import dev.bollard.daemon.log.Log;

import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Hands output to one {@link StreamSink} on its own virtual thread through a queue bounded in bytes: a sink that
 * falls behind loses output (counted, warned once), or with {@code dropSink} is dropped altogether (an attach
 * client must not see output with holes in it), instead of ever stalling the log or the container.
 */
final class SinkQueue implements SinkHandle {

    private static final Log LOG = Log.get("container.io");

    private record Chunk(String stream, byte[] data) {
    }

    private static final Chunk END = new Chunk(null, null);

    private final StreamSink sink;
    private final long limitBytes;
    private final Runnable onClose;
    private final boolean dropSink;
    private final java.util.concurrent.CompletableFuture<Void> ended = new java.util.concurrent.CompletableFuture<>();
    private volatile boolean overflowed;
    private final LinkedBlockingQueue<Chunk> queue = new LinkedBlockingQueue<>();
    private final AtomicLong queuedBytes = new AtomicLong();
    private final AtomicLong droppedBytes = new AtomicLong();
    private final AtomicBoolean stopped = new AtomicBoolean();
    private final Thread thread;

    SinkQueue(StreamSink sink, long limitBytes, Runnable onClose) {
        this(sink, limitBytes, onClose, false);
    }

    SinkQueue(StreamSink sink, long limitBytes, Runnable onClose, boolean dropSink) {
        this.sink = sink;
        this.limitBytes = limitBytes;
        this.onClose = onClose;
        this.dropSink = dropSink;
        this.thread = Thread.ofVirtual().name("stream-sink").start(this::deliver);
    }

    /** Queues {@code data} (which the caller never modifies again), or drops it when the sink is too far behind. */
    void offer(String stream, byte[] data) {
        if (stopped.get()) {
            return;
        }
        if (queuedBytes.addAndGet(data.length) > limitBytes) {
            queuedBytes.addAndGet(-data.length);
            if (dropSink) {
                overflowed = true;
                LOG.warn("a stream sink is too slow: dropped", "queued_limit_bytes", limitBytes);
                close();
                return;
            }
            if (droppedBytes.getAndAdd(data.length) == 0) {
                LOG.warn("a stream sink is too slow: dropping output", "queued_limit_bytes", limitBytes);
            }
            return;
        }
        queue.add(new Chunk(stream, data));
    }

    /** No more output: the sink gets what is queued, then its thread ends. */
    void end() {
        queue.add(END);
    }

    long droppedBytes() {
        return droppedBytes.get();
    }

    @Override
    public java.util.concurrent.CompletableFuture<Void> ended() {
        return ended;
    }

    @Override
    public boolean overflowed() {
        return overflowed;
    }

    /** Unregisters: nothing more is delivered; a sink blocked in accept is interrupted, not waited for. */
    @Override
    public void close() {
        if (stopped.compareAndSet(false, true)) {
            queue.clear();
            queue.add(END);
            thread.interrupt();
            onClose.run();
            ended.complete(null);
        }
    }

    private void deliver() {
        try {
            while (true) {
                Chunk c = queue.take();
                if (c == END || stopped.get()) {
                    return;
                }
                queuedBytes.addAndGet(-c.data().length);
                try {
                    sink.accept(c.stream(), c.data(), 0, c.data().length);
                } catch (RuntimeException e) {
                    LOG.warn("a stream sink failed: unregistered", "error", String.valueOf(e));
                    close();
                    return;
                }
            }
        } catch (InterruptedException e) {
            // close() interrupts: end quietly.
        } finally {
            ended.complete(null);
        }
    }
}
