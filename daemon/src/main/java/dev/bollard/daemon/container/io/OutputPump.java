package dev.bollard.daemon.container.io;

import dev.bollard.daemon.log.Log;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.io.OutputStream;
import java.nio.channels.AsynchronousCloseException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;

/**
 * Copies one output FIFO of a process into a client's stream on a virtual thread (streaming exec). Nothing is
 * dropped: while the client's stream blocks, the FIFO is not read, the pipe fills and the process waits, which is
 * the backpressure a slow client should exert. The read end is opened at once, before the process exists.
 */
public final class OutputPump implements AutoCloseable {

    private static final Log LOG = Log.get("container.io");

    /** The client's stream failed: the client is gone. */
    public static final class ClientGone extends IOException {
        ClientGone(Exception cause) {
            super("writing to the client failed: " + cause.getMessage(), cause);
        }
    }

    private final FifoReader reader;
    private final CompletableFuture<Void> done = new CompletableFuture<>();
    private final Thread thread;
    private volatile long lastProgressNanos = System.nanoTime();
    private volatile boolean writing;

    private OutputPump(FifoReader reader, OutputStream out) {
        this.reader = reader;
        this.thread = Thread.ofVirtual().name("exec-pump " + reader.path()).start(() -> copy(out));
    }

    /** Opens the FIFO's read end without blocking and starts copying into {@code out}. */
    public static OutputPump start(Path fifo, OutputStream out) throws IOException {
        return new OutputPump(FifoReader.open(fifo), out);
    }

    /**
     * Completes at end of file (the process and all that inherited its output closed it); exceptionally with
     * {@link ClientGone} when writing to the client failed, or with the read error.
     */
    public CompletableFuture<Void> done() {
        return done;
    }

    /**
     * Whether the pump has waited for output for {@code idle}: a lingering child keeps it open, yet quiet. A pump
     * waiting on a slow client is never idle (that output is owed to it).
     */
    public boolean idleFor(Duration idle) {
        return !writing && System.nanoTime() - lastProgressNanos > idle.toNanos();
    }

    /** Stops copying (a write blocked on the client is interrupted) and closes the read end; idempotent. */
    @Override
    public void close() {
        reader.close();
        thread.interrupt();
        try {
            thread.join(Duration.ofSeconds(5));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (thread.isAlive()) {
            LOG.warn("an exec output pump did not stop: the client's stream ignores interrupts", "fifo", reader.path());
        }
    }

    private void copy(OutputStream out) {
        byte[] buf = new byte[64 * 1024];
        try {
            int n;
            while ((n = reader.read(buf)) >= 0) {
                writing = true;
                try {
                    out.write(buf, 0, n);
                    out.flush();
                } catch (IOException | RuntimeException e) {
                    done.completeExceptionally(new ClientGone(e));
                    return;
                } finally {
                    lastProgressNanos = System.nanoTime();
                    writing = false;
                }
            }
            done.complete(null);
        } catch (AsynchronousCloseException | InterruptedIOException e) {
            done.completeExceptionally(new IOException("output pump of " + reader.path() + " was closed"));
        } catch (IOException | RuntimeException e) {
            LOG.warn("reading exec output failed", "fifo", reader.path(), "error", e.getMessage());
            done.completeExceptionally(e);
        } finally {
            reader.close();
        }
    }
}
