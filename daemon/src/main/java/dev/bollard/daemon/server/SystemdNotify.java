package dev.bollard.daemon.server;

import dev.bollard.daemon.linux.Syscalls;
import dev.bollard.daemon.log.Log;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.nio.charset.StandardCharsets;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * systemd's readiness protocol (sd_notify(3)) for {@code Type=notify} units: one datagram a state, sent to the UNIX
 * datagram socket named by {@code $NOTIFY_SOCKET} (a path, or an abstract address written with a leading {@code @}).
 * The JDK has no UNIX datagram channel, so the socket is made through FFM. Without the variable (not under systemd)
 * nothing is sent; a failed send is logged, never fatal: the daemon serves either way.
 */
public final class SystemdNotify {

    private static final Log LOG = Log.get("daemon");
    public static final String READY = "READY=1";
    public static final String STOPPING = "STOPPING=1";

    private static final int AF_UNIX = 1;
    private static final int SOCK_DGRAM = 2;
    private static final int SOCK_CLOEXEC = 02000000;
    private static final int MSG_NOSIGNAL = 0x4000;
    /** struct sockaddr_un: sa_family_t (2 bytes) and sun_path[108]. */
    private static final int SUN_PATH_OFFSET = 2;
    private static final int SUN_PATH_BYTES = 108;

    /** The native calls, made on first use only: a daemon not under systemd never pays for them. */
    private static final class Native {
        static final Linker LINKER = Linker.nativeLinker();
        static final StructLayout CAPTURE = Linker.Option.captureStateLayout();
        static final VarHandle ERRNO = CAPTURE.varHandle(MemoryLayout.PathElement.groupElement("errno"));
        static final MethodHandle SOCKET = handle("socket", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
        static final MethodHandle SENDTO = handle("sendto",
                FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT));
        static final MethodHandle CLOSE = handle("close", FunctionDescriptor.of(JAVA_INT, JAVA_INT));

        private static MethodHandle handle(String name, FunctionDescriptor fd) {
            var symbol = LINKER.defaultLookup().find(name).orElseThrow(() -> new UnsatisfiedLinkError("libc has no " + name));
            return LINKER.downcallHandle(symbol, fd, Linker.Option.captureCallState("errno"));
        }
    }

    private SystemdNotify() {
    }

    /** Tells systemd the daemon serves; call once the CRI socket answers. */
    public static void ready() {
        notifyQuietly(READY);
    }

    /** Tells systemd the daemon is shutting down (so a slow stop is not taken for a hang). */
    public static void stopping() {
        notifyQuietly(STOPPING);
    }

    private static void notifyQuietly(String state) {
        String socket = System.getenv("NOTIFY_SOCKET");
        if (socket == null || socket.isEmpty()) {
            return;
        }
        try {
            send(socket, state);
            LOG.debug("told systemd", "state", state, "socket", socket);
        } catch (IOException e) {
            LOG.warn("cannot notify systemd", "state", state, "socket", socket, "error", e.getMessage());
        }
    }

    /**
     * Sends {@code state} (newline-separated VAR=value lines) as one datagram to {@code socket}: a file system path,
     * or {@code @name} for the abstract namespace.
     */
    public static void send(String socket, String state) throws IOException {
        byte[] address = sunPath(socket);
        byte[] message = state.getBytes(StandardCharsets.UTF_8);
        try (var arena = Arena.ofConfined()) {
            var errno = arena.allocate(Native.CAPTURE);
            int fd = (int) Native.SOCKET.invokeExact(errno, AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
            if (fd < 0) {
                throw failure("socket", socket, errno);
            }
            try {
                var sockaddr = arena.allocate(SUN_PATH_OFFSET + SUN_PATH_BYTES);
                sockaddr.set(ValueLayout.JAVA_SHORT, 0, (short) AF_UNIX);
                MemorySegment.copy(address, 0, sockaddr, ValueLayout.JAVA_BYTE, SUN_PATH_OFFSET, address.length);
                var buf = arena.allocateFrom(ValueLayout.JAVA_BYTE, message);
                long sent = (long) Native.SENDTO.invokeExact(errno, fd, buf, (long) message.length, MSG_NOSIGNAL, sockaddr,
                        SUN_PATH_OFFSET + address.length);
                if (sent < 0) {
                    throw failure("sendto", socket, errno);
                }
            } finally {
                int ignored = (int) Native.CLOSE.invokeExact(errno, fd);
            }
        } catch (IOException | RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IOException(t);
        }
    }

    /**
     * The bytes of sun_path and how many of them count: a path ends with its NUL; an abstract address starts with
     * NUL in place of the {@code @} and has no terminator (its length is part of the name).
     */
    static byte[] sunPath(String socket) throws IOException {
        boolean isAbstract = socket.startsWith("@");
        byte[] name = socket.getBytes(StandardCharsets.UTF_8);
        if (!isAbstract && !socket.startsWith("/")) {
            throw new IOException("NOTIFY_SOCKET " + socket + " is neither an absolute path nor an @abstract address");
        }
        byte[] path = isAbstract ? name.clone() : java.util.Arrays.copyOf(name, name.length + 1);
        if (isAbstract) {
            path[0] = 0;
        }
        if (path.length > SUN_PATH_BYTES) {
            throw new IOException("NOTIFY_SOCKET " + socket + " is longer than a UNIX socket address can be");
        }
        return path;
    }

    private static IOException failure(String call, String socket, MemorySegment errno) {
        int code = (int) Native.ERRNO.get(errno, 0L);
        return new IOException(call + " " + socket + ": " + Syscalls.describe(code));
    }
}
