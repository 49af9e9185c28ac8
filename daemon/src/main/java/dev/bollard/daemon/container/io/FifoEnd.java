package dev.bollard.daemon.container.io;

import dev.bollard.daemon.linux.Syscalls;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.AsynchronousCloseException;
import java.nio.file.Path;
import java.util.concurrent.locks.ReentrantLock;

/**
 * One end of a FIFO opened non-blocking and waited on through {@link FifoPoller}: the raw fd, its poller
 * registration and a native buffer, and a close that never frees them under a read(2) or write(2) in progress.
 */
abstract sealed class FifoEnd implements AutoCloseable permits FifoReader, StdinWriter {

    protected final Path path;
    protected final int fd;
    protected final FifoPoller.Registration registration;
    protected final MemorySegment buffer;
    private final Arena arena = Arena.ofShared();
    /** Held for each read(2)/write(2) so that close never frees the fd or buffer under it; never held while waiting. */
    private final ReentrantLock io = new ReentrantLock();
    private volatile boolean closed;
    private boolean released;

    FifoEnd(Path path, int fd, FifoPoller.Registration registration, int bufferBytes) {
        this.path = path;
        this.fd = fd;
        this.registration = registration;
        this.buffer = arena.allocate(bufferBytes);
    }

    /** The system call's body, run under the io lock; AsynchronousCloseException once closed. */
    @FunctionalInterface
    interface Io {
        long run() throws IOException;
    }

    final long locked(Io body) throws IOException {
        io.lock();
        try {
            if (closed) {
                throw new AsynchronousCloseException();
            }
            return body.run();
        } finally {
            io.unlock();
        }
    }

    /** Idempotent; a thread blocked on this end gets {@link AsynchronousCloseException}. */
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
                // close(2) fails only for a bad fd, and this one is ours: nothing to do either way.
            }
            arena.close();
        } finally {
            io.unlock();
        }
    }
}
