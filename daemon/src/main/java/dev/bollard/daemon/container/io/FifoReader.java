package dev.bollard.daemon.container.io;

import dev.bollard.daemon.linux.Syscalls;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.channels.AsynchronousCloseException;
import java.nio.file.Path;

/**
 * The read end of a FIFO, opened without blocking (so that it exists before the writer opens, and the shim's
 * blocking O_WRONLY open returns at once) and read from a virtual thread through {@link FifoPoller}.
 *
 * <p>End of file: read(2) on a FIFO returns 0 whenever no writer has it open, also before the first writer came,
 * so 0 alone proves nothing. The kernel reports EPOLLHUP only once a writer has opened and all writers closed since
 * this read end was opened; EOF is therefore a 0 read after EPOLLHUP was seen. Nothing here holds a write end, so
 * EOF comes when the process and every child that inherited its stdout have closed it.
 */
final class FifoReader extends FifoEnd {

    private static final int BUFFER = 64 * 1024;

    private boolean hungUp;

    private FifoReader(Path path, int fd, FifoPoller.Registration registration) {
        super(path, fd, registration, BUFFER);
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
            try {
                n = locked(() -> {
                    var slice = buffer.asSlice(0, Math.min(dst.length, BUFFER));
                    long got = Syscalls.read(fd, slice);
                    if (got > 0) {
                        MemorySegment.copy(slice, ValueLayout.JAVA_BYTE, 0, dst, 0, (int) got);
                    }
                    return got;
                });
            } catch (Syscalls.ErrnoException e) {
                throw new IOException("reading FIFO " + path + ": " + e.getMessage(), e);
            }
            if (n > 0) {
                return (int) n;
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
}
