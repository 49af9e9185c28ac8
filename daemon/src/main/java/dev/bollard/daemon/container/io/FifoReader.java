package dev.bollard.daemon.container.io;

import dev.bollard.daemon.linux.Syscalls;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.channels.AsynchronousCloseException;
import java.nio.file.Path;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The read end of a FIFO, opened without blocking (so that it exists before the writer opens, and the shim's
 * blocking O_WRONLY open returns at once) and read from a virtual thread through {@link FifoPoller}.
 *
 * <p>End of file: read(2) on a FIFO returns 0 whenever no writer has it open, also before the first writer came,
 * so 0 alone proves nothing. The kernel reports EPOLLHUP only once a writer has opened and all writers closed since
 * this read end was opened; EOF is therefore a 0 read after EPOLLHUP was seen. Nothing here holds a write end, so
 * EOF comes when the process and every child that inherited its stdout have closed it.
 */
final class FifoReader implements AutoCloseable {

    private static final int BUFFER = 64 * 1024;

    private final Path path;
    private final int fd;
    private final FifoPoller.Registration registration;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment buffer;
    /** Held for each read(2) so that close never frees the fd or buffer under a read; never held while waiting. */
    private final ReentrantLock io = new ReentrantLock();
    private volatile boolean closed;
    private boolean released;
    private boolean hungUp;

    private FifoReader(Path path, int fd, FifoPoller.Registration registration) {
        this.path = path;
        this.fd = fd;
        this.registration = registration;
        this.buffer = arena.allocate(BUFFER);
    }

    static FifoReader open(Path fifo) throws IOException {
        StdioFifos.requireFifo(fifo);
        FifoPoller poller = FifoPoller.shared();
        int fd = Syscalls.open(fifo, Syscalls.O_RDONLY | Syscalls.O_NONBLOCK | Syscalls.O_CLOEXEC);
        return new FifoReader(fifo, fd, poller.register(fd));
    }

    Path path() {
        return path;
    }

    /**
     * Blocks until data arrives and copies up to {@code dst.length} bytes of it; -1 at end of file. Throws
     * {@link AsynchronousCloseException} once {@link #close()} was called.
     */
    int read(byte[] dst) throws IOException {
        while (true) {
            long n;
            io.lock();
            try {
                if (closed) {
                    throw new AsynchronousCloseException();
                }
                var slice = buffer.asSlice(0, Math.min(dst.length, BUFFER));
                n = Syscalls.read(fd, slice);
                if (n > 0) {
                    MemorySegment.copy(slice, ValueLayout.JAVA_BYTE, 0, dst, 0, (int) n);
                    return (int) n;
                }
            } catch (Syscalls.ErrnoException e) {
                throw new IOException("reading FIFO " + path + ": " + e.getMessage(), e);
            } finally {
                io.unlock();
            }
            if (n == 0 && hungUp) {
                return -1;
            }
            int events = registration.await(Syscalls.EPOLLIN);
            if ((events & (Syscalls.EPOLLHUP | Syscalls.EPOLLERR)) != 0) {
                hungUp = true;
            }
        }
    }

    /** Idempotent; a reader blocked in {@link #read} gets {@link AsynchronousCloseException}. */
    @Override
    public void close() {
        closed = true;
        registration.cancel();
        io.lock();
        try {
            if (released) {
                return;
            }
            released = true;
            registration.deregister();
            try {
                Syscalls.close(fd);
            } catch (IOException ignored) {
                // close(2) fails only for a bad fd, which we own: nothing to do either way.
            }
            arena.close();
        } finally {
            io.unlock();
        }
    }
}
