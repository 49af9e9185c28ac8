package dev.bollard.daemon.server;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * What systemd does for a {@code Type=notify} unit, for tests: a bound UNIX datagram socket whose address goes into
 * the daemon's {@code NOTIFY_SOCKET}, and a receive with a timeout. A path socket or an abstract one ({@code @name}).
 */
public final class NotifyReceiver implements AutoCloseable {

    private static final Linker LINKER = Linker.nativeLinker();
    private static final MethodHandle SOCKET = handle("socket", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle BIND = handle("bind", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle POLL = handle("poll", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT));
    private static final MethodHandle RECV = handle("recv", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT));
    private static final MethodHandle CLOSE = handle("close", FunctionDescriptor.of(JAVA_INT, JAVA_INT));

    private final int fd;
    private final String address;
    private final Path file;

    private NotifyReceiver(int fd, String address, Path file) {
        this.fd = fd;
        this.address = address;
        this.file = file;
    }

    /** A socket at {@code path} (removed on close). */
    public static NotifyReceiver at(Path path) throws IOException {
        return open(path.toString(), path);
    }

    /** A socket in the abstract namespace, {@code @name}. */
    public static NotifyReceiver abstractNamed(String name) throws IOException {
        return open("@" + name, null);
    }

    private static NotifyReceiver open(String address, Path file) throws IOException {
        try (var arena = Arena.ofConfined()) {
            int fd = (int) SOCKET.invokeExact(1 /* AF_UNIX */, 2 /* SOCK_DGRAM */ | 02000000 /* CLOEXEC */, 0);
            if (fd < 0) {
                throw new IOException("socket failed");
            }
            byte[] path = SystemdNotify.sunPath(address);
            var sockaddr = arena.allocate(110);
            sockaddr.set(ValueLayout.JAVA_SHORT, 0, (short) 1);
            MemorySegment.copy(path, 0, sockaddr, ValueLayout.JAVA_BYTE, 2, path.length);
            if ((int) BIND.invokeExact(fd, sockaddr, 2 + path.length) != 0) {
                int ignored = (int) CLOSE.invokeExact(fd);
                throw new IOException("bind " + address + " failed");
            }
            return new NotifyReceiver(fd, address, file);
        } catch (IOException e) {
            throw e;
        } catch (Throwable t) {
            throw new IOException(t);
        }
    }

    /** What the daemon's environment gets as NOTIFY_SOCKET. */
    public String address() {
        return address;
    }

    /** The next datagram, or empty when none arrives within {@code timeout}. */
    public Optional<String> receive(Duration timeout) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        try (var arena = Arena.ofConfined()) {
            var pollfd = arena.allocate(8);
            var buf = arena.allocate(4096);
            while (true) {
                long left = (deadline - System.nanoTime()) / 1_000_000;
                if (left <= 0) {
                    return Optional.empty();
                }
                pollfd.set(JAVA_INT, 0, fd);
                pollfd.set(ValueLayout.JAVA_SHORT, 4, (short) 1 /* POLLIN */);
                pollfd.set(ValueLayout.JAVA_SHORT, 6, (short) 0);
                int ready = (int) POLL.invokeExact(pollfd, 1L, (int) Math.min(left, 200));
                if (ready <= 0) {
                    continue; // timeout slice, or EINTR
                }
                long n = (long) RECV.invokeExact(fd, buf, 4096L, 0);
                if (n < 0) {
                    throw new IOException("recv on " + address + " failed");
                }
                return Optional.of(new String(buf.asSlice(0, n).toArray(ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8));
            }
        } catch (IOException e) {
            throw e;
        } catch (Throwable t) {
            throw new IOException(t);
        }
    }

    @Override
    public void close() throws IOException {
        try {
            int ignored = (int) CLOSE.invokeExact(fd);
        } catch (Throwable t) {
            throw new IOException(t);
        }
        if (file != null) {
            Files.deleteIfExists(file);
        }
    }

    private static MethodHandle handle(String name, FunctionDescriptor fd) {
        return LINKER.downcallHandle(LINKER.defaultLookup().find(name).orElseThrow(), fd);
    }
}
