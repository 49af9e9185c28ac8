package dev.bollard.daemon.container.io;

import dev.bollard.daemon.log.Log;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.channels.AsynchronousCloseException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * ExecSync's output: both streams captured up to a cap each; beyond it the rest is read and discarded (so the
 * process never blocks on a full pipe) and the stream is marked truncated.
 */
public final class OutputCapture implements AutoCloseable {

    /** containerd's cap on ExecSync output per stream. */
    public static final int DEFAULT_CAP_BYTES = 16 * 1024 * 1024;

    private static final Log LOG = Log.get("container.io");

    /** What the process wrote; {@code stderr} is empty for a terminal process. */
    public record Output(byte[] stdout, byte[] stderr, boolean stdoutTruncated, boolean stderrTruncated) {
    }

    private final Capped stdout;
    private final Capped stderr;
    private final List<FifoReader> readers;
    private final List<Thread> pumps = new ArrayList<>(2);

    private OutputCapture(int capBytes, List<FifoReader> readers) {
        this.stdout = new Capped(capBytes);
        this.stderr = new Capped(capBytes);
        this.readers = readers;
    }

    /** Opens the read ends now, without blocking (before the shim's Exec), and starts reading. */
    public static OutputCapture start(StdioFifos fifos, int capBytes) throws IOException {
        if (capBytes < 0) {
            throw new IllegalArgumentException("capture cap must be >= 0, got " + capBytes);
        }
        var readers = new ArrayList<FifoReader>(2);
        try {
            readers.add(FifoReader.open(fifos.stdout()));
            if (fifos.stderr() != null) {
                readers.add(FifoReader.open(fifos.stderr()));
            }
        } catch (IOException | RuntimeException e) {
            readers.forEach(FifoReader::close);
            throw e;
        }
        var capture = new OutputCapture(capBytes, List.copyOf(readers));
        capture.pumps.add(Thread.ofVirtual().name("exec-stdout " + fifos.stdout())
                .start(() -> capture.stdout.drain(readers.get(0))));
        if (readers.size() > 1) {
            capture.pumps.add(Thread.ofVirtual().name("exec-stderr " + fifos.stderr())
                    .start(() -> capture.stderr.drain(readers.get(1))));
        } else {
            capture.stderr.done.complete(null);
        }
        return capture;
    }

    /**
     * Waits for end of file on both streams (the process and everything that inherited its output closed it).
     *
     * @throws TimeoutException when that did not happen in time; the capture goes on, so the caller may kill the
     *                          process and wait again, or close
     */
    public Output await(Duration timeout) throws InterruptedException, TimeoutException {
        long deadline = System.nanoTime() + timeout.toNanos();
        try {
            stdout.done.get(Math.max(0, timeout.toNanos()), TimeUnit.NANOSECONDS);
            stderr.done.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
        } catch (ExecutionException e) {
            throw new IllegalStateException("output capture failed", e.getCause());
        }
        return new Output(stdout.bytes(), stderr.bytes(), stdout.truncated, stderr.truncated);
    }

    /** Stops reading and closes the FIFOs' read ends; idempotent. */
    @Override
    public void close() {
        readers.forEach(FifoReader::close);
        boolean interrupted = false;
        for (Thread t : pumps) {
            while (true) {
                try {
                    t.join();
                    break;
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    private static final class Capped {
        private final int cap;
        private final ByteArrayOutputStream kept = new ByteArrayOutputStream();
        private final CompletableFuture<Void> done = new CompletableFuture<>();
        private volatile boolean truncated;

        Capped(int cap) {
            this.cap = cap;
        }

        void drain(FifoReader reader) {
            byte[] buf = new byte[64 * 1024];
            try {
                int n;
                while ((n = reader.read(buf)) >= 0) {
                    int room = cap - kept.size();
                    if (n > room) {
                        truncated = true;
                    }
                    kept.write(buf, 0, Math.min(n, room));
                }
                done.complete(null);
            } catch (AsynchronousCloseException | InterruptedIOException e) {
                done.completeExceptionally(new IOException("output capture of " + reader.path() + " was closed"));
            } catch (IOException | RuntimeException e) {
                LOG.warn("reading exec output failed", "fifo", reader.path(), "error", e.getMessage());
                done.completeExceptionally(e);
            } finally {
                reader.close();
            }
        }

        /** Only after {@link #done}: the pump has stopped writing. */
        byte[] bytes() {
            return kept.toByteArray();
        }
    }
}
