package dev.bollard.daemon.container.io;

import dev.bollard.daemon.linux.Syscalls;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Writes into a process's stdin FIFO. The shim opens the read end during Create/Exec, so {@link #open} expects a
 * reader; it waits a little for one (a non-blocking open fails with ENXIO without one) rather than blocking forever.
 * Closing this writer does not give the process EOF by itself: the runc shim keeps a write end of its own open until
 * it is told CloseIO.
 */
public final class StdinWriter extends FifoEnd {

    /** How long {@link #open(Path)} waits for the read end to appear. */
    public static final Duration DEFAULT_READER_WAIT = Duration.ofSeconds(10);
    private static final int CHUNK = 64 * 1024;

    private final ReentrantLock writing = new ReentrantLock();

    private StdinWriter(Path path, int fd, FifoPoller.Registration registration) {
        super(path, fd, registration, CHUNK);
    }

    public static StdinWriter open(Path stdinFifo) throws IOException {
        return open(stdinFifo, DEFAULT_READER_WAIT);
    }

    /** Opens the write end, waiting up to {@code readerWait} for a reader. */
    public static StdinWriter open(Path stdinFifo, Duration readerWait) throws IOException {
        Objects.requireNonNull(stdinFifo, "stdinFifo");
        StdioFifos.requireFifo(stdinFifo);
        FifoPoller poller = FifoPoller.shared();
        long deadline = System.nanoTime() + readerWait.toNanos();
        long sleepMillis = 2;
        while (true) {
            try {
                int fd = Syscalls.open(stdinFifo, Syscalls.O_WRONLY | Syscalls.O_NONBLOCK | Syscalls.O_CLOEXEC);
                return new StdinWriter(stdinFifo, fd, poller.register(fd));
            } catch (Syscalls.ErrnoException e) {
                if (e.errno() != Syscalls.ENXIO) {
                    throw e;
                }
                if (System.nanoTime() - deadline > 0) {
                    throw new IOException("stdin FIFO " + stdinFifo + " has no reader after " + readerWait
                            + " (is the process created?)", e);
                }
            }
            try {
                Thread.sleep(sleepMillis);
            } catch (InterruptedException ie) {
                Thread.currentThread().interrupt();
                throw new InterruptedIOException("interrupted while waiting for a reader on " + stdinFifo);
            }
            sleepMillis = Math.min(sleepMillis * 2, 50);
        }
    }

    /** Writes all of it, waiting while the FIFO is full; fails with EPIPE once the reader is gone. */
    public void write(byte[] b, int off, int len) throws IOException {
        Objects.checkFromIndexSize(off, len, b.length);
        writing.lock();
        try {
            while (len > 0) {
                int chunk = Math.min(len, CHUNK);
                long n;
                int from = off;
                try {
                    n = locked(() -> {
                        var slice = buffer.asSlice(0, chunk);
                        MemorySegment.copy(b, from, slice, ValueLayout.JAVA_BYTE, 0, chunk);
                        return Syscalls.write(fd, slice);
                    });
                } catch (Syscalls.ErrnoException e) {
                    throw new IOException("writing stdin FIFO " + path + ": " + e.getMessage(), e);
                }
                if (n > 0) {
                    off += (int) n;
                    len -= (int) n;
                } else {
                    // Full: wait for room; EPOLLERR (reader gone) makes the next write fail with EPIPE.
                    registration.await(Syscalls.EPOLLOUT);
                }
            }
        } finally {
            writing.unlock();
        }
    }
}
