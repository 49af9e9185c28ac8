package dev.bollard.daemon.linux;

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
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * A child process started with one end of a UNIX stream socketpair as its fd 3 (how NRI hands pre-installed plugins
 * their connection; Java's ProcessBuilder passes no descriptor beyond stdio). socketpair(2) and posix_spawn(3)
 * through FFM; the child keeps the daemon's stdout and stderr, every other descriptor above 3 is closed in it.
 * The parent's end is read and written here with read(2)/write(2), blocking (callers use a platform thread).
 */
public final class SocketPairSpawn implements AutoCloseable {

    private static final Linker LINKER = Linker.nativeLinker();
    private static final StructLayout CAPTURE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CAPTURE.varHandle(MemoryLayout.PathElement.groupElement("errno"));
    private static final int AF_UNIX = 1;
    private static final int SOCK_STREAM = 1;
    private static final int SOCK_CLOEXEC = 02000000;
    private static final int SHUT_RDWR = 2;
    /** glibc's posix_spawn_file_actions_t is 80 bytes on 64-bit Linux; more is harmless. */
    private static final long FILE_ACTIONS_SIZE = 256;

    private static final MethodHandle SOCKETPAIR = handle("socketpair",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS));
    private static final MethodHandle FA_INIT = plain("posix_spawn_file_actions_init", FunctionDescriptor.of(JAVA_INT, ADDRESS));
    private static final MethodHandle FA_DESTROY = plain("posix_spawn_file_actions_destroy",
            FunctionDescriptor.of(JAVA_INT, ADDRESS));
    private static final MethodHandle FA_DUP2 = plain("posix_spawn_file_actions_adddup2",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT));
    private static final MethodHandle FA_CLOSEFROM = plain("posix_spawn_file_actions_addclosefrom_np",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle SPAWN = plain("posix_spawn",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS));
    private static final MethodHandle WAITPID = handle("waitpid", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle KILL = handle("kill", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle SHUTDOWN = handle("shutdown", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle CLOSE = handle("close", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    private static final MethodHandle READ = handle("read", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG));
    private static final MethodHandle WRITE = handle("write", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG));

    private final int fd;
    private final int pid;
    private volatile boolean closed;

    private SocketPairSpawn(int fd, int pid) {
        this.fd = fd;
        this.pid = pid;
    }

    /** Starts {@code program} with {@code args} (argv[0] is the program path) and exactly {@code env}. */
    public static SocketPairSpawn start(Path program, List<String> args, List<String> env) throws IOException {
        try (var arena = Arena.ofConfined()) {
            var errno = arena.allocate(CAPTURE);
            var fds = arena.allocate(JAVA_INT, 2);
            int rc = (int) SOCKETPAIR.invokeExact(errno, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds);
            if (rc != 0) {
                throw new IOException("socketpair: " + Syscalls.describe((int) ERRNO.get(errno, 0L)));
            }
            int ours = fds.getAtIndex(JAVA_INT, 0);
            int theirs = fds.getAtIndex(JAVA_INT, 1);
            var actions = arena.allocate(FILE_ACTIONS_SIZE, 16);
            int spawned;
            try {
                check((int) FA_INIT.invokeExact(actions), "posix_spawn_file_actions_init");
                try {
                    check((int) FA_DUP2.invokeExact(actions, theirs, 3), "posix_spawn_file_actions_adddup2");
                    check((int) FA_CLOSEFROM.invokeExact(actions, 4), "posix_spawn_file_actions_addclosefrom_np");
                    var pidOut = arena.allocate(JAVA_INT);
                    var argv = strings(arena, args.isEmpty() ? List.of(program.toString()) : args);
                    var envp = strings(arena, env);
                    int err = (int) SPAWN.invokeExact(pidOut, arena.allocateFrom(program.toString()), actions,
                            MemorySegment.NULL, argv, envp);
                    if (err != 0) {
                        throw new IOException("cannot start " + program + ": " + Syscalls.describe(err));
                    }
                    spawned = pidOut.get(JAVA_INT, 0);
                } finally {
                    int ignored = (int) FA_DESTROY.invokeExact(actions);
                }
            } catch (IOException | RuntimeException e) {
                closeFd(ours);
                throw e;
            } finally {
                closeFd(theirs);
            }
            return new SocketPairSpawn(ours, spawned);
        } catch (IOException | RuntimeException e) {
            throw e;
        } catch (Throwable t) {
            throw new IOException(t);
        }
    }

    public int pid() {
        return pid;
    }

    /** Reads into the buffer's remaining space; -1 at the end of the stream. */
    public int read(ByteBuffer into) throws IOException {
        try (var arena = Arena.ofConfined()) {
            var errno = arena.allocate(CAPTURE);
            var buf = arena.allocate(Math.max(1, into.remaining()));
            while (true) {
                long n = (long) READ.invokeExact(errno, fd, buf, (long) into.remaining());
                if (n < 0) {
                    int e = (int) ERRNO.get(errno, 0L);
                    if (e == Syscalls.EINTR) {
                        continue;
                    }
                    if (closed) {
                        return -1;
                    }
                    throw new IOException("read: " + Syscalls.describe(e));
                }
                if (n == 0) {
                    return -1;
                }
                into.put(buf.asSlice(0, n).toArray(ValueLayout.JAVA_BYTE));
                return (int) n;
            }
        } catch (IOException e) {
            throw e;
        } catch (Throwable t) {
            throw new IOException(t);
        }
    }

    public void write(ByteBuffer from) throws IOException {
        byte[] bytes = new byte[from.remaining()];
        from.get(bytes);
        try (var arena = Arena.ofConfined()) {
            var errno = arena.allocate(CAPTURE);
            var buf = arena.allocateFrom(ValueLayout.JAVA_BYTE, bytes);
            long at = 0;
            while (at < bytes.length) {
                long n = (long) WRITE.invokeExact(errno, fd, buf.asSlice(at), (long) bytes.length - at);
                if (n < 0) {
                    int e = (int) ERRNO.get(errno, 0L);
                    if (e == Syscalls.EINTR) {
                        continue;
                    }
                    throw new IOException("write: " + Syscalls.describe(e));
                }
                at += n;
            }
        } catch (IOException e) {
            throw e;
        } catch (Throwable t) {
            throw new IOException(t);
        }
    }

    /** Sends SIGKILL to the child. */
    public void kill() {
        try (var arena = Arena.ofConfined()) {
            int ignored = (int) KILL.invokeExact(arena.allocate(CAPTURE), pid, 9);
        } catch (Throwable t) {
            // already gone
        }
    }

    /** Reaps the child (blocking); its exit status as waitpid gives it, or -1. */
    public int waitFor() {
        try (var arena = Arena.ofConfined()) {
            var errno = arena.allocate(CAPTURE);
            var status = arena.allocate(JAVA_INT);
            while (true) {
                int rc = (int) WAITPID.invokeExact(errno, pid, status, 0);
                if (rc == pid) {
                    return status.get(JAVA_INT, 0);
                }
                if (rc < 0 && (int) ERRNO.get(errno, 0L) == Syscalls.EINTR) {
                    continue;
                }
                return -1;
            }
        } catch (Throwable t) {
            return -1;
        }
    }

    /** Shuts the socket down (waking a blocked read) and closes it; the child sees the end of its connection. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        try (var arena = Arena.ofConfined()) {
            int ignored = (int) SHUTDOWN.invokeExact(arena.allocate(CAPTURE), fd, SHUT_RDWR);
        } catch (Throwable t) {
            // closing anyway
        }
        closeFd(fd);
    }

    private static MemorySegment strings(Arena arena, List<String> values) {
        var array = arena.allocate(ADDRESS, values.size() + 1);
        for (int i = 0; i < values.size(); i++) {
            array.setAtIndex(ADDRESS, i, arena.allocateFrom(values.get(i)));
        }
        array.setAtIndex(ADDRESS, values.size(), MemorySegment.NULL);
        return array;
    }

    private static void check(int rc, String call) throws IOException {
        if (rc != 0) {
            throw new IOException(call + ": " + Syscalls.describe(rc));
        }
    }

    private static void closeFd(int fd) {
        try (var arena = Arena.ofConfined()) {
            int ignored = (int) CLOSE.invokeExact(arena.allocate(CAPTURE), fd);
        } catch (Throwable t) {
            // nothing to do
        }
    }

    private static MethodHandle handle(String name, FunctionDescriptor fd) {
        var symbol = LINKER.defaultLookup().find(name).orElseThrow(() -> new UnsatisfiedLinkError("libc has no " + name));
        return LINKER.downcallHandle(symbol, fd, Linker.Option.captureCallState("errno"));
    }

    /** posix_spawn and its helpers return the error number instead of setting errno. */
    private static MethodHandle plain(String name, FunctionDescriptor fd) {
        var symbol = LINKER.defaultLookup().find(name).orElseThrow(() -> new UnsatisfiedLinkError("libc has no " + name));
        return LINKER.downcallHandle(symbol, fd);
    }
}
