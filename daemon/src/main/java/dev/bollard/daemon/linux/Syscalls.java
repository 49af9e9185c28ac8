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
import java.nio.file.Path;
import java.time.Instant;
import java.util.Map;
import java.util.Optional;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The libc calls Java lacks, through the FFM API. Every failure is an {@link ErrnoException} naming the call, the
 * path and the errno, e.g. {@code mknod /x/y: Operation not permitted (EPERM)}. Paths are passed as UTF-8, the
 * encoding the JDK itself uses for file names under a UTF-8 locale.
 */
public final class Syscalls {

    public static final int S_IFMT = 0170000;
    public static final int S_IFIFO = 0010000;
    public static final int S_IFCHR = 0020000;
    public static final int S_IFDIR = 0040000;
    public static final int S_IFBLK = 0060000;
    public static final int S_IFREG = 0100000;
    public static final int S_IFLNK = 0120000;

    public static final long MS_RDONLY = 1;
    public static final long MS_NOSUID = 2;
    public static final long MS_NODEV = 4;
    public static final long MS_NOEXEC = 8;
    public static final long MS_BIND = 4096;
    public static final int MNT_DETACH = 2;
    public static final int CLONE_NEWNET = 0x40000000;

    public static final int EPERM = 1;
    public static final int ENOENT = 2;
    public static final int EEXIST = 17;
    public static final int EINVAL = 22;
    public static final int ERANGE = 34;
    public static final int ENODATA = 61;
    public static final int EOPNOTSUPP = 95;
    public static final int EINTR = 4;
    public static final int ENXIO = 6;
    public static final int ENOTDIR = 20;
    public static final int EISDIR = 21;
    public static final int ELOOP = 40;
    public static final int EAGAIN = 11;
    public static final int EPIPE = 32;

    public static final int O_RDONLY = 0;
    public static final int O_WRONLY = 1;
    public static final int O_RDWR = 2;
    public static final int O_NONBLOCK = 04000;
    public static final int O_NOFOLLOW = 0400000;
    public static final int O_CLOEXEC = 02000000;
    public static final int O_CREAT = 0100;
    public static final int O_NOCTTY = 0400;
    public static final int O_APPEND = 02000;
    public static final int O_DIRECTORY = 0200000;
    public static final int O_PATH = 010000000;

    public static final int EPOLLIN = 0x001;
    public static final int EPOLLOUT = 0x004;
    public static final int EPOLLERR = 0x008;
    public static final int EPOLLHUP = 0x010;
    public static final int EPOLLONESHOT = 1 << 30;
    public static final int EPOLL_CTL_ADD = 1;
    public static final int EPOLL_CTL_DEL = 2;
    public static final int EPOLL_CTL_MOD = 3;

    private static final int AT_FDCWD = -100;
    private static final int AT_EMPTY_PATH = 0x1000;
    private static final int AT_RECURSIVE = 0x8000;
    private static final int OPEN_TREE_CLONE = 1;
    private static final int MOVE_MOUNT_F_EMPTY_PATH = 0x4;
    private static final long MOUNT_ATTR_IDMAP = 0x0010_0000L;
    /** struct mount_attr: u64 attr_set, attr_clr, propagation, userns_fd. */
    private static final MemoryLayout MOUNT_ATTR = MemoryLayout.structLayout(JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG);
    private static final int AT_SYMLINK_NOFOLLOW = 0x100;
    private static final int O_RDONLY_CLOEXEC = 02000000;

    /** Names and texts of the errnos a file system or mount call commonly returns (x86_64/aarch64 numbering). */
    private static final Map<Integer, String[]> ERRNOS = Map.ofEntries(
            Map.entry(1, new String[] {"EPERM", "Operation not permitted"}),
            Map.entry(2, new String[] {"ENOENT", "No such file or directory"}),
            Map.entry(4, new String[] {"EINTR", "Interrupted system call"}),
            Map.entry(5, new String[] {"EIO", "Input/output error"}),
            Map.entry(6, new String[] {"ENXIO", "No such device or address"}),
            Map.entry(7, new String[] {"E2BIG", "Argument list too long"}),
            Map.entry(9, new String[] {"EBADF", "Bad file descriptor"}),
            Map.entry(11, new String[] {"EAGAIN", "Resource temporarily unavailable"}),
            Map.entry(12, new String[] {"ENOMEM", "Cannot allocate memory"}),
            Map.entry(13, new String[] {"EACCES", "Permission denied"}),
            Map.entry(14, new String[] {"EFAULT", "Bad address"}),
            Map.entry(15, new String[] {"ENOTBLK", "Block device required"}),
            Map.entry(16, new String[] {"EBUSY", "Device or resource busy"}),
            Map.entry(17, new String[] {"EEXIST", "File exists"}),
            Map.entry(18, new String[] {"EXDEV", "Invalid cross-device link"}),
            Map.entry(19, new String[] {"ENODEV", "No such device"}),
            Map.entry(20, new String[] {"ENOTDIR", "Not a directory"}),
            Map.entry(21, new String[] {"EISDIR", "Is a directory"}),
            Map.entry(22, new String[] {"EINVAL", "Invalid argument"}),
            Map.entry(24, new String[] {"EMFILE", "Too many open files"}),
            Map.entry(28, new String[] {"ENOSPC", "No space left on device"}),
            Map.entry(30, new String[] {"EROFS", "Read-only file system"}),
            Map.entry(31, new String[] {"EMLINK", "Too many links"}),
            Map.entry(32, new String[] {"EPIPE", "Broken pipe"}),
            Map.entry(34, new String[] {"ERANGE", "Numerical result out of range"}),
            Map.entry(36, new String[] {"ENAMETOOLONG", "File name too long"}),
            Map.entry(38, new String[] {"ENOSYS", "Function not implemented"}),
            Map.entry(39, new String[] {"ENOTEMPTY", "Directory not empty"}),
            Map.entry(40, new String[] {"ELOOP", "Too many levels of symbolic links"}),
            Map.entry(61, new String[] {"ENODATA", "No data available"}),
            Map.entry(75, new String[] {"EOVERFLOW", "Value too large for defined data type"}),
            Map.entry(95, new String[] {"EOPNOTSUPP", "Operation not supported"}),
            Map.entry(122, new String[] {"EDQUOT", "Disk quota exceeded"}));

    /** A failed call: the message names call, path and errno; {@link #errno()} lets callers tell cases apart. */
    public static final class ErrnoException extends IOException {
        private final int errno;

        ErrnoException(String call, String path, int errno) {
            super(call + " " + path + ": " + describe(errno));
            this.errno = errno;
        }

        public int errno() {
            return errno;
        }
    }

    private static final Linker LINKER = Linker.nativeLinker();
    private static final StructLayout CAPTURE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CAPTURE.varHandle(MemoryLayout.PathElement.groupElement("errno"));
    private static final MemoryLayout TIMESPEC = MemoryLayout.structLayout(JAVA_LONG, JAVA_LONG);

    // One holder class per downcall handle: the JVM links a handle (and spins its stub, several ms each, which the
    // AOT cache does not keep) when its holder is first used, so a call pays only for the functions it uses instead
    // of every caller paying for all of them at once (the first RunPodSandbox spent ~190 ms in this class's
    // initializer under load). Static finals in the holders stay constants to the JIT.
    private static final class Mknod {
        static final MethodHandle HANDLE = handle("mknod", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_LONG));
    }
    private static final class Lsetxattr {
        static final MethodHandle HANDLE = handle("lsetxattr",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT));
    }
    private static final class Lgetxattr {
        static final MethodHandle HANDLE = handle("lgetxattr",
                FunctionDescriptor.of(JAVA_LONG, ADDRESS, ADDRESS, ADDRESS, JAVA_LONG));
    }
    private static final class Lchown {
        static final MethodHandle HANDLE = handle("lchown", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT));
    }
    private static final class Chmod {
        static final MethodHandle HANDLE = handle("chmod", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
    }
    private static final class Symlink {
        static final MethodHandle HANDLE = handle("symlink", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
    }
    private static final class Utimensat {
        static final MethodHandle HANDLE = handle("utimensat",
                FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, JAVA_INT));
    }
    private static final class Mount {
        static final MethodHandle HANDLE = handle("mount",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, JAVA_LONG, ADDRESS));
    }
    private static final class Umount2 {
        static final MethodHandle HANDLE = handle("umount2", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
    }
    private static final class Statfs {
        static final MethodHandle HANDLE = handle("statfs", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
    }
    private static final class Statx {
        static final MethodHandle HANDLE = handle("statx",
                FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, ADDRESS));
    }
    private static final class OpenTree {
        static final MethodHandle HANDLE = handle("open_tree",
                FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
    }
    private static final class MountSetattr {
        static final MethodHandle HANDLE = handle("mount_setattr",
                FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, JAVA_LONG));
    }
    private static final class MoveMount {
        static final MethodHandle HANDLE = handle("move_mount",
                FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, JAVA_INT));
    }
    private static final class Unshare {
        static final MethodHandle HANDLE = handle("unshare", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    }
    private static final class Setpriority {
        static final MethodHandle HANDLE = handle("setpriority",
                FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
    }
    private static final class Setns {
        static final MethodHandle HANDLE = handle("setns", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
    }
    private static final class Open {
        static final MethodHandle HANDLE = LINKER.downcallHandle(LINKER.defaultLookup().find("open").orElseThrow(),
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT),
                Linker.Option.captureCallState("errno"), Linker.Option.firstVariadicArg(2));
    }
    private static final class Openat {
        static final MethodHandle HANDLE = LINKER.downcallHandle(LINKER.defaultLookup().find("openat").orElseThrow(),
                FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT),
                Linker.Option.captureCallState("errno"), Linker.Option.firstVariadicArg(3));
    }
    private static final class Mkdirat {
        static final MethodHandle HANDLE = handle("mkdirat", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
    }
    private static final class Close {
        static final MethodHandle HANDLE = handle("close", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    }
    private static final class Mkfifo {
        static final MethodHandle HANDLE = handle("mkfifo", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
    }
    private static final class Read {
        static final MethodHandle HANDLE = handle("read", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG));
    }
    private static final class Write {
        static final MethodHandle HANDLE = handle("write", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG));
    }
    private static final class EpollCreate1 {
        static final MethodHandle HANDLE = handle("epoll_create1", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    }
    private static final class EpollCtl {
        static final MethodHandle HANDLE = handle("epoll_ctl",
                FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS));
    }
    private static final class EpollWait {
        static final MethodHandle HANDLE = handle("epoll_wait",
                FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT));
    }
    /** struct epoll_event is packed on x86_64 (12 bytes), naturally aligned elsewhere (16 bytes). */
    private static final boolean EPOLL_PACKED = switch (System.getProperty("os.arch")) {
        case "amd64", "x86_64" -> true;
        default -> false;
    };
    private static final long EPOLL_EVENT_SIZE = EPOLL_PACKED ? 12 : 16;
    private static final long EPOLL_DATA_OFFSET = EPOLL_PACKED ? 4 : 8;
    private static final ValueLayout.OfLong EPOLL_DATA = JAVA_LONG.withByteAlignment(EPOLL_PACKED ? 4 : 8);
    private static final class Geteuid {
        static final MethodHandle HANDLE = LINKER.downcallHandle(
                LINKER.defaultLookup().find("geteuid").orElseThrow(), FunctionDescriptor.of(JAVA_INT));
    }

    private Syscalls() {
    }

    /**
     * Links every downcall handle now, those a pod's start needs first (the daemon runs this on a virtual thread once
     * its recovery gate opens): a call that needs a handle meanwhile links it itself, or waits for the link under way,
     * so the first RunPodSandbox and this share the work across cores instead of the call doing all of it.
     */
    public static void linkAll() {
        link(java.util.List.of(Unshare.class, Open.class, Close.class, Mount.class, Setns.class,
                Umount2.class, Mkfifo.class, Statfs.class, Openat.class, Mkdirat.class, Read.class, Write.class,
                EpollCreate1.class, EpollCtl.class, EpollWait.class, Geteuid.class, Chmod.class, Lchown.class,
                Symlink.class, Mknod.class, Utimensat.class, Lsetxattr.class, Lgetxattr.class, OpenTree.class,
                MountSetattr.class, MoveMount.class, Statx.class));
    }

    /**
     * Links what following a container's output takes: its log file opened below kubelet's directory (open,
     * openat, mkdirat, close) and its FIFOs read (read, epoll). All a restart's recovery calls, for the running
     * containers; the rest is linked at its first use, or once the first Status is answered.
     */
    public static void linkContainerLogs() {
        link(java.util.List.of(Open.class, Openat.class, Mkdirat.class, Close.class, Read.class,
                EpollCreate1.class, EpollCtl.class, EpollWait.class));
    }

    private static void link(java.util.List<Class<?>> holders) {
        for (Class<?> holder : holders) {
            try {
                Class.forName(holder.getName(), true, holder.getClassLoader());
            } catch (ClassNotFoundException | LinkageError e) {
                // a function this libc lacks: the call that needs it fails as it always did
            }
        }
    }

    private static MethodHandle handle(String name, FunctionDescriptor fd) {
        var symbol = LINKER.defaultLookup().find(name)
                .orElseThrow(() -> new UnsatisfiedLinkError("libc has no " + name));
        return LINKER.downcallHandle(symbol, fd, Linker.Option.captureCallState("errno"));
    }

    /** The errno as the message shows it: "Operation not permitted (EPERM)". */
    public static String describe(int errno) {
        String[] e = ERRNOS.get(errno);
        return e == null ? "errno " + errno : e[1] + " (" + e[0] + ")";
    }

    /** glibc's makedev: 12+20 bits of major, 20+12 bits of minor. */
    public static long makedev(int major, int minor) {
        long ma = major & 0xffffffffL;
        long mi = minor & 0xffffffffL;
        return ((ma & 0xfffff000L) << 32) | ((ma & 0xfffL) << 8) | ((mi & 0xffffff00L) << 12) | (mi & 0xffL);
    }

    /** mknod(2); {@code mode} carries the file type (S_IFCHR, S_IFBLK, S_IFIFO) and permission bits. */
    public static void mknod(Path path, int mode, int major, int minor) throws IOException {
        try (var arena = Arena.ofConfined()) {
            var errno = arena.allocate(CAPTURE);
            int rc = (int) Mknod.HANDLE.invokeExact(errno, cstr(arena, path), mode, makedev(major, minor));
            check(rc, errno, "mknod", path);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** lsetxattr(2): on the link itself, never its target. */
    public static void lsetxattr(Path path, String name, byte[] value) throws IOException {
        try (var arena = Arena.ofConfined()) {
            var errno = arena.allocate(CAPTURE);
            var v = value.length == 0 ? arena.allocate(1) : arena.allocateFrom(ValueLayout.JAVA_BYTE, value);
            int rc = (int) Lsetxattr.HANDLE.invokeExact(errno, cstr(arena, path), cstrOrNull(arena, name), v,
                    (long) value.length, 0);
            check(rc, errno, "lsetxattr", path + " " + name);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** lgetxattr(2); empty when the attribute is absent (ENODATA). */
    public static Optional<byte[]> lgetxattr(Path path, String name) throws IOException {
        try (var arena = Arena.ofConfined()) {
            var errno = arena.allocate(CAPTURE);
            var p = cstr(arena, path);
            var n = cstrOrNull(arena, name);
            // Ask for the size, then read; retry if it grew in between (ERANGE).
            for (int attempt = 0; attempt < 4; attempt++) {
                long size = (long) Lgetxattr.HANDLE.invokeExact(errno, p, n, MemorySegment.NULL, 0L);
                if (size < 0 && errnoOf(errno) == ENODATA) {
                    return Optional.empty();
                }
                check(size, errno, "lgetxattr", path + " " + name);
                var buf = arena.allocate(Math.max(size, 1));
                long got = (long) Lgetxattr.HANDLE.invokeExact(errno, p, n, buf, size);
                if (got < 0 && errnoOf(errno) == ERANGE) {
                    continue;
                }
                if (got < 0 && errnoOf(errno) == ENODATA) {
                    return Optional.empty();
                }
                check(got, errno, "lgetxattr", path + " " + name);
                return Optional.of(buf.asSlice(0, got).toArray(ValueLayout.JAVA_BYTE));
            }
            throw new ErrnoException("lgetxattr", path + " " + name, ERANGE);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** lchown(2): changes the link itself. -1 leaves an id unchanged. */
    public static void lchown(Path path, int uid, int gid) throws IOException {
        try (var arena = Arena.ofConfined()) {
            var errno = arena.allocate(CAPTURE);
            int rc = (int) Lchown.HANDLE.invokeExact(errno, cstr(arena, path), uid, gid);
            check(rc, errno, "lchown", path);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * chmod(2) with all 12 permission bits (setuid, setgid, sticky), which Java's PosixFilePermission cannot express.
     * It follows symlinks: call it only on a path known not to be one.
     */
    public static void chmod(Path path, int mode) throws IOException {
        try (var arena = Arena.ofConfined()) {
            var errno = arena.allocate(CAPTURE);
            int rc = (int) Chmod.HANDLE.invokeExact(errno, cstr(arena, path), mode & 07777);
            check(rc, errno, "chmod", path);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** symlink(2) with the target byte for byte (Path.of would normalise slashes away). */
    public static void symlink(String target, Path link) throws IOException {
        try (var arena = Arena.ofConfined()) {
            var errno = arena.allocate(CAPTURE);
            int rc = (int) Symlink.HANDLE.invokeExact(errno, cstrOrNull(arena, target), cstr(arena, link));
            check(rc, errno, "symlink", link);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** utimensat(AT_FDCWD, path, {atime, mtime}, AT_SYMLINK_NOFOLLOW): nanosecond times on the link itself. */
    public static void utimensat(Path path, Instant atime, Instant mtime) throws IOException {
        try (var arena = Arena.ofConfined()) {
            var errno = arena.allocate(CAPTURE);
            var times = arena.allocate(TIMESPEC, 2);
            times.setAtIndex(JAVA_LONG, 0, atime.getEpochSecond());
            times.setAtIndex(JAVA_LONG, 1, atime.getNano());
            times.setAtIndex(JAVA_LONG, 2, mtime.getEpochSecond());
            times.setAtIndex(JAVA_LONG, 3, mtime.getNano());
            int rc = (int) Utimensat.HANDLE.invokeExact(errno, AT_FDCWD, cstr(arena, path), times, AT_SYMLINK_NOFOLLOW);
            check(rc, errno, "utimensat", path);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** mount(2); {@code source}, {@code fstype} and {@code data} may be null. */
    public static void mount(String source, Path target, String fstype, long flags, String data) throws IOException {
        try (var arena = Arena.ofConfined()) {
            var errno = arena.allocate(CAPTURE);
            int rc = (int) Mount.HANDLE.invokeExact(errno, cstrOrNull(arena, source), cstr(arena, target),
                    cstrOrNull(arena, fstype), flags, cstrOrNull(arena, data));
            check(rc, errno, "mount", target);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * An idmapped copy of the mount tree at {@code source} (a directory or a file, with every mount below it) at
     * {@code target}, which must exist and be of the same kind: open_tree(OPEN_TREE_CLONE|AT_RECURSIVE),
     * mount_setattr(MOUNT_ATTR_IDMAP) with the user namespace at {@code usernsFile} (e.g. /proc/PID/ns/user),
     * move_mount. Through it a file owned by ID n on disk shows as the host ID that namespace maps n to, and a
     * write by such a host ID is stored as n. The source is left as it is.
     */
    public static void idmappedBind(Path source, Path target, Path usernsFile) throws IOException {
        try (var arena = Arena.ofConfined()) {
            var errno = arena.allocate(CAPTURE);
            int userns = (int) Open.HANDLE.invokeExact(errno, cstr(arena, usernsFile), O_RDONLY_CLOEXEC, 0);
            check(userns, errno, "open", usernsFile);
            int tree = -1;
            try {
                tree = (int) OpenTree.HANDLE.invokeExact(errno, AT_FDCWD, cstr(arena, source),
                        OPEN_TREE_CLONE | O_CLOEXEC | AT_RECURSIVE);
                check(tree, errno, "open_tree", source);
                var attr = arena.allocate(MOUNT_ATTR);
                attr.set(JAVA_LONG, 0, MOUNT_ATTR_IDMAP);
                attr.set(JAVA_LONG, 24, userns);
                int rc = (int) MountSetattr.HANDLE.invokeExact(errno, tree, arena.allocateFrom(""),
                        AT_EMPTY_PATH | AT_RECURSIVE, attr, MOUNT_ATTR.byteSize());
                check(rc, errno, "mount_setattr(MOUNT_ATTR_IDMAP)", source);
                rc = (int) MoveMount.HANDLE.invokeExact(errno, tree, arena.allocateFrom(""), AT_FDCWD, cstr(arena, target),
                        MOVE_MOUNT_F_EMPTY_PATH);
                check(rc, errno, "move_mount", target);
            } finally {
                // the detached tree goes with its last fd; once moved it stays mounted
                if (tree >= 0) {
                    int ignored = (int) Close.HANDLE.invokeExact(errno, tree);
                }
                int ignored = (int) Close.HANDLE.invokeExact(errno, userns);
            }
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** statfs(2)'s f_type of a network namespace pin (nsfs bind mount). */
    public static final long NSFS_MAGIC = 0x6e736673L;
    /** sizeof(struct statfs) on x86_64 and aarch64 glibc (120), rounded up. */
    private static final long STATFS_BYTES = 128;

    /**
     * statfs(2)'s f_type (the first field, a long on 64-bit Linux): what file system {@code path} is on, in one
     * syscall, where mountinfo would be read whole.
     */
    public static long statfsType(Path path) throws IOException {
        try (var arena = Arena.ofConfined()) {
            var errno = arena.allocate(CAPTURE);
            var buf = arena.allocate(STATFS_BYTES, 8);
            int rc = (int) Statfs.HANDLE.invokeExact(errno, cstr(arena, path), buf);
            check(rc, errno, "statfs", path);
            return buf.get(JAVA_LONG, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** statx's STATX_ATTR_MOUNT_ROOT (Linux 5.8): the path is the root of a mount. */
    private static final long STATX_ATTR_MOUNT_ROOT = 0x2000;
    private static final int AT_NO_AUTOMOUNT = 0x800;
    /** sizeof(struct statx); stx_attributes at 8, stx_attributes_mask at 56. */
    private static final long STATX_BYTES = 256;

    /** What statx says of a path being a mount point. */
    public enum MountRoot { YES, NO, MISSING, UNKNOWN }

    /**
     * Whether {@code path} (not followed if a symlink) is the root of a mount, in one statx(2) where mountinfo would
     * be read whole: also true for a bind mount of the same file system, which a st_dev comparison would miss.
     * {@link MountRoot#UNKNOWN} when the kernel does not report the attribute (before 5.8).
     */
    public static MountRoot mountRoot(Path path) throws IOException {
        try (var arena = Arena.ofConfined()) {
            var errno = arena.allocate(CAPTURE);
            var buf = arena.allocate(STATX_BYTES, 8);
            int rc = (int) Statx.HANDLE.invokeExact(errno, AT_FDCWD, cstr(arena, path), AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT,
                    0, buf);
            if (rc != 0 && errnoOf(errno) == ENOENT) {
                return MountRoot.MISSING;
            }
            check(rc, errno, "statx", path);
            if ((buf.get(JAVA_LONG, 56) & STATX_ATTR_MOUNT_ROOT) == 0) {
                return MountRoot.UNKNOWN;
            }
            return (buf.get(JAVA_LONG, 8) & STATX_ATTR_MOUNT_ROOT) != 0 ? MountRoot.YES : MountRoot.NO;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** umount2(2), e.g. with {@link #MNT_DETACH}. */
    public static void umount2(Path target, int flags) throws IOException {
        try (var arena = Arena.ofConfined()) {
            var errno = arena.allocate(CAPTURE);
            int rc = (int) Umount2.HANDLE.invokeExact(errno, cstr(arena, target), flags);
            check(rc, errno, "umount2", target);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * unshare(2) for the calling thread, e.g. {@link #CLONE_NEWNET}. Call it on a dedicated platform thread: the new
     * namespace belongs to that OS thread only.
     */
    public static void unshare(int flags) throws IOException {
        try (var arena = Arena.ofConfined()) {
            var errno = arena.allocate(CAPTURE);
            int rc = (int) Unshare.HANDLE.invokeExact(errno, flags);
            check(rc, errno, "unshare", "0x" + Integer.toHexString(flags));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * setpriority(2) of one thread (PRIO_PROCESS with a thread id): its nice value, -20 to 19. Raising the priority
     * (a lower nice) needs CAP_SYS_NICE.
     */
    public static void setThreadNice(int tid, int nice) throws IOException {
        try (var arena = Arena.ofConfined()) {
            var errno = arena.allocate(CAPTURE);
            int rc = (int) Setpriority.HANDLE.invokeExact(errno, 0 /* PRIO_PROCESS */, tid, nice);
            check(rc, errno, "setpriority", "thread " + tid + " to nice " + nice);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** mkfifo(3); the mode is subject to the umask. */
    public static void mkfifo(Path path, int mode) throws IOException {
        try (var arena = Arena.ofConfined()) {
            var errno = arena.allocate(CAPTURE);
            int rc = (int) Mkfifo.HANDLE.invokeExact(errno, cstr(arena, path), mode & 07777);
            check(rc, errno, "mkfifo", path);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** setns(2) of the calling thread into the namespace file at {@code nsPath} (opened and closed here). */
    public static void setns(Path nsPath, int nstype) throws IOException {
        try (var arena = Arena.ofConfined()) {
            var errno = arena.allocate(CAPTURE);
            int fd = (int) Open.HANDLE.invokeExact(errno, cstr(arena, nsPath), O_RDONLY_CLOEXEC, 0);
            check(fd, errno, "open", nsPath);
            try {
                int rc = (int) Setns.HANDLE.invokeExact(errno, fd, nstype);
                check(rc, errno, "setns", nsPath);
            } finally {
                int ignored = (int) Close.HANDLE.invokeExact(errno, fd);
            }
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** open(2), for what Java's channels cannot do (e.g. a FIFO with O_NONBLOCK); returns the raw fd. */
    public static int open(Path path, int flags) throws IOException {
        try (var arena = Arena.ofConfined()) {
            var errno = arena.allocate(CAPTURE);
            int fd = (int) Open.HANDLE.invokeExact(errno, cstr(arena, path), flags, 0);
            check(fd, errno, "open", path);
            return fd;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * openat(2): {@code name} relative to the directory {@code dirFd}; {@code mode} applies when O_CREAT creates the
     * file. Returns the raw fd. {@code shown} is the path named in an error.
     */
    public static int openat(int dirFd, String name, int flags, int mode, Object shown) throws IOException {
        try (var arena = Arena.ofConfined()) {
            var errno = arena.allocate(CAPTURE);
            int fd = (int) Openat.HANDLE.invokeExact(errno, dirFd, cstrOrNull(arena, name), flags, mode);
            check(fd, errno, "open", shown);
            return fd;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** mkdirat(2): {@code name} relative to the directory {@code dirFd}; EEXIST is thrown like any errno. */
    public static void mkdirat(int dirFd, String name, int mode, Object shown) throws IOException {
        try (var arena = Arena.ofConfined()) {
            var errno = arena.allocate(CAPTURE);
            int rc = (int) Mkdirat.HANDLE.invokeExact(errno, dirFd, cstrOrNull(arena, name), mode);
            check(rc, errno, "mkdir", shown);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** close(2). Never retried on EINTR: on Linux the fd is gone either way. */
    public static void close(int fd) throws IOException {
        try (var arena = Arena.ofConfined()) {
            var errno = arena.allocate(CAPTURE);
            int rc = (int) Close.HANDLE.invokeExact(errno, fd);
            if (rc < 0 && errnoOf(errno) != EINTR) {
                check(rc, errno, "close", "fd " + fd);
            }
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** read(2) into {@code buf}: the byte count, 0 at end of file, -1 when a non-blocking fd has nothing (EAGAIN). */
    public static long read(int fd, MemorySegment buf) throws IOException {
        return transfer(Read.HANDLE, "read", fd, buf);
    }

    /** write(2) from {@code buf}: the byte count written, -1 when a non-blocking fd is full (EAGAIN). */
    public static long write(int fd, MemorySegment buf) throws IOException {
        return transfer(Write.HANDLE, "write", fd, buf);
    }

    /** read(2) or write(2) of the whole segment: retried on EINTR, -1 on EAGAIN, any other errno thrown. */
    private static long transfer(MethodHandle call, String name, int fd, MemorySegment buf) throws IOException {
        try (var arena = Arena.ofConfined()) {
            var errno = arena.allocate(CAPTURE);
            while (true) {
                long n = (long) call.invokeExact(errno, fd, buf, buf.byteSize());
                if (n >= 0) {
                    return n;
                }
                int e = errnoOf(errno);
                if (e == EAGAIN) {
                    return -1;
                }
                if (e != EINTR) {
                    throw new ErrnoException(name, "fd " + fd, e);
                }
            }
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** epoll_create1(EPOLL_CLOEXEC). */
    public static int epollCreate() throws IOException {
        try (var arena = Arena.ofConfined()) {
            var errno = arena.allocate(CAPTURE);
            int fd = (int) EpollCreate1.HANDLE.invokeExact(errno, O_CLOEXEC);
            check(fd, errno, "epoll_create1", "");
            return fd;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** epoll_ctl(2); {@code data} comes back from {@link #epollWait} with the fd's events. */
    public static void epollCtl(int epfd, int op, int fd, int events, long data) throws IOException {
        try (var arena = Arena.ofConfined()) {
            var errno = arena.allocate(CAPTURE);
            var event = arena.allocate(EPOLL_EVENT_SIZE, 8);
            event.set(JAVA_INT, 0, events);
            event.set(EPOLL_DATA, EPOLL_DATA_OFFSET, data);
            int rc = (int) EpollCtl.HANDLE.invokeExact(errno, epfd, op, fd, event);
            check(rc, errno, "epoll_ctl", "fd " + fd);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * epoll_wait(2) for up to {@code data.length} events: fills {@code data} and {@code events} and returns their
     * count; 0 on timeout or when a signal interrupted the wait.
     */
    public static int epollWait(int epfd, long[] data, int[] events, int timeoutMillis) throws IOException {
        int max = Math.min(data.length, events.length);
        try (var arena = Arena.ofConfined()) {
            var errno = arena.allocate(CAPTURE);
            var buf = arena.allocate(EPOLL_EVENT_SIZE * max, 8);
            int n = (int) EpollWait.HANDLE.invokeExact(errno, epfd, buf, max, timeoutMillis);
            if (n < 0 && errnoOf(errno) == EINTR) {
                return 0;
            }
            check(n, errno, "epoll_wait", "fd " + epfd);
            for (int i = 0; i < n; i++) {
                events[i] = buf.get(JAVA_INT, i * EPOLL_EVENT_SIZE);
                data[i] = buf.get(EPOLL_DATA, i * EPOLL_EVENT_SIZE + EPOLL_DATA_OFFSET);
            }
            return n;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int geteuid() {
        try {
            return (int) Geteuid.HANDLE.invokeExact();
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    private static MemorySegment cstr(Arena arena, Path path) {
        return cstrOrNull(arena, path.toString());
    }

    /** A NUL inside would silently cut the C string short, so it is refused. */
    private static MemorySegment cstrOrNull(Arena arena, String s) {
        if (s == null) {
            return MemorySegment.NULL;
        }
        if (s.indexOf('\0') >= 0) {
            throw new IllegalArgumentException("NUL byte in \"" + s.replace('\0', '?') + "\"");
        }
        return arena.allocateFrom(s);
    }

    private static int errnoOf(MemorySegment capture) {
        return (int) ERRNO.get(capture, 0L);
    }

    private static void check(long rc, MemorySegment capture, String call, Object path) throws ErrnoException {
        if (rc < 0) {
            throw new ErrnoException(call, String.valueOf(path), errnoOf(capture));
        }
    }

    private static IOException rethrow(Throwable t) {
        if (t instanceof IOException e) {
            return e;
        }
        if (t instanceof RuntimeException e) {
            throw e;
        }
        if (t instanceof Error e) {
            throw e;
        }
        return new IOException(t);
    }
}
