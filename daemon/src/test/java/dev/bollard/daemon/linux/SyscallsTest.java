package dev.bollard.daemon.linux;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.time.Instant;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Runs as root (as CI does): mknod, trusted.* xattrs, chown and mount need it. */
class SyscallsTest {

    @org.junit.jupiter.api.BeforeAll
    static void needsRoot() {
        dev.bollard.daemon.testkit.Root.assume("mknod, trusted.* xattrs, chown and mount");
    }

    private static final LinkOption NOFOLLOW = LinkOption.NOFOLLOW_LINKS;

    @TempDir
    Path dir;

    private static int attr(Path p, String name) throws IOException {
        return ((Number) Files.getAttribute(p, "unix:" + name, NOFOLLOW)).intValue();
    }

    @Test
    void mknodMakesAWhiteoutCharDevice() throws IOException {
        Path p = dir.resolve("gone");
        Syscalls.mknod(p, Syscalls.S_IFCHR, 0, 0);
        assertEquals(Syscalls.S_IFCHR, attr(p, "mode") & Syscalls.S_IFMT);
        assertEquals(0L, ((Number) Files.getAttribute(p, "unix:rdev", NOFOLLOW)).longValue());

        Path null2 = dir.resolve("null2");
        Syscalls.mknod(null2, Syscalls.S_IFCHR | 0640, 1, 3);
        assertEquals(Syscalls.makedev(1, 3), ((Number) Files.getAttribute(null2, "unix:rdev", NOFOLLOW)).longValue());
        assertEquals(0640, attr(null2, "mode") & 07777);
        assertEquals(0x12310345L, Syscalls.makedev(259, 0x12345));
    }

    @Test
    void errorsNameCallPathAndErrno() {
        Path p = dir.resolve("missing/x");
        var e = assertThrows(Syscalls.ErrnoException.class, () -> Syscalls.mknod(p, Syscalls.S_IFIFO | 0644, 0, 0));
        assertEquals("mknod " + p + ": No such file or directory (ENOENT)", e.getMessage());
        assertEquals(Syscalls.ENOENT, e.errno());
        assertEquals("errno 4095", Syscalls.describe(4095));
        assertThrows(IllegalArgumentException.class, () -> Syscalls.chmod(Path.of("/tmp/a\0b"), 0644));
    }

    @Test
    void setsAndGetsTrustedXattrs() throws IOException {
        Path d = Files.createDirectory(dir.resolve("d"));
        Syscalls.lsetxattr(d, "trusted.overlay.opaque", "y".getBytes(StandardCharsets.UTF_8));
        assertArrayEquals("y".getBytes(StandardCharsets.UTF_8), Syscalls.lgetxattr(d, "trusted.overlay.opaque").orElseThrow());
        assertEquals(Optional.empty(), Syscalls.lgetxattr(d, "trusted.absent").map(b -> "present"));
        byte[] binary = {1, 0, 0, 2, (byte) 0x80, (byte) 0xff, 0, 0};
        Syscalls.lsetxattr(d, "user.bin", binary);
        assertArrayEquals(binary, Syscalls.lgetxattr(d, "user.bin").orElseThrow());
        Syscalls.lsetxattr(d, "user.empty", new byte[0]);
        assertArrayEquals(new byte[0], Syscalls.lgetxattr(d, "user.empty").orElseThrow());
    }

    @Test
    void lchownChangesTheLinkNotItsTarget() throws IOException {
        Path target = Files.createFile(dir.resolve("target"));
        Path link = Files.createSymbolicLink(dir.resolve("link"), target);
        Syscalls.lchown(link, 1234, 5678);
        assertEquals(1234, attr(link, "uid"));
        assertEquals(5678, attr(link, "gid"));
        assertEquals(0, attr(target, "uid"));
    }

    @Test
    void chmodKeepsSpecialBitsAndSymlinkIsVerbatim() throws IOException {
        Path f = Files.createFile(dir.resolve("f"));
        Syscalls.chmod(f, 06755);
        assertEquals(06755, attr(f, "mode") & 07777);
        Path l = dir.resolve("l");
        Syscalls.symlink("a//b/", l);
        // Files.readSymbolicLink normalises; lstat's size is the raw target's length.
        assertEquals(5, Files.readAttributes(l, BasicFileAttributes.class, NOFOLLOW).size());
    }

    @Test
    void utimensatSetsNanosecondsWithoutFollowing() throws IOException {
        Path target = Files.createFile(dir.resolve("t"));
        Path link = Files.createSymbolicLink(dir.resolve("l"), target);
        FileTime before = Files.getLastModifiedTime(target);
        Instant m = Instant.ofEpochSecond(1_600_000_000L, 123_456_789);
        Instant a = Instant.ofEpochSecond(1_500_000_000L, 987_654_321);
        Syscalls.utimensat(link, a, m);
        assertEquals(m, Files.getLastModifiedTime(link, NOFOLLOW).toInstant());
        assertEquals(a, ((FileTime) Files.getAttribute(link, "lastAccessTime", NOFOLLOW)).toInstant());
        assertEquals(before, Files.getLastModifiedTime(target));
    }

    @Test
    void mountsAndUnmountsATmpfs() throws IOException {
        Path mnt = Files.createDirectory(dir.resolve("mnt"));
        Syscalls.mount("bollard-test", mnt, "tmpfs", Syscalls.MS_NOSUID | Syscalls.MS_NODEV, "size=1m,mode=0700");
        try {
            Files.writeString(mnt.resolve("inside"), "x");
            assertTrue(Files.readString(Path.of("/proc/self/mountinfo")).contains(mnt.toString()));
            assertEquals(0700, attr(mnt, "mode") & 07777);
        } finally {
            Syscalls.umount2(mnt, Syscalls.MNT_DETACH);
        }
        assertFalse(Files.exists(mnt.resolve("inside")));
        assertFalse(Files.readString(Path.of("/proc/self/mountinfo")).contains(mnt.toString()));
        var e = assertThrows(Syscalls.ErrnoException.class, () -> Syscalls.umount2(mnt, 0));
        assertEquals("umount2 " + mnt + ": Invalid argument (EINVAL)", e.getMessage());
    }

    @Test
    void statfsTellsTheFileSystemTypeAndNamesAMissingPath(@TempDir Path dir) throws IOException {
        assertEquals(0x9fa0L, Syscalls.statfsType(Path.of("/proc"))); // PROC_SUPER_MAGIC
        Path mnt = Files.createDirectory(dir.resolve("t"));
        Syscalls.mount("tmpfs", mnt, "tmpfs", 0, "size=1m");
        try {
            assertEquals(0x01021994L, Syscalls.statfsType(mnt)); // TMPFS_MAGIC
        } finally {
            Syscalls.umount2(mnt, 0);
        }
        var e = assertThrows(Syscalls.ErrnoException.class, () -> Syscalls.statfsType(dir.resolve("gone")));
        assertTrue(e.getMessage().startsWith("statfs " + dir.resolve("gone")), e.getMessage());
    }

    @Test
    void mountRootTellsAMountPointEvenABindOfTheSameFileSystem(@TempDir Path dir) throws IOException {
        Path plain = Files.createDirectory(dir.resolve("plain"));
        Path tmpfs = Files.createDirectory(dir.resolve("tmpfs"));
        Path bind = Files.createDirectory(dir.resolve("bind"));
        assertEquals(Syscalls.MountRoot.NO, Syscalls.mountRoot(plain));
        assertEquals(Syscalls.MountRoot.MISSING, Syscalls.mountRoot(dir.resolve("gone")));
        Syscalls.mount("tmpfs", tmpfs, "tmpfs", 0, "size=1m");
        try {
            Syscalls.mount(plain.toString(), bind, null, Syscalls.MS_BIND, null); // same st_dev as its parent
            try {
                assertEquals(Syscalls.MountRoot.YES, Syscalls.mountRoot(tmpfs));
                assertEquals(Syscalls.MountRoot.YES, Syscalls.mountRoot(bind));
                assertEquals(Syscalls.MountRoot.NO, Syscalls.mountRoot(dir));
            } finally {
                Syscalls.umount2(bind, 0);
            }
        } finally {
            Syscalls.umount2(tmpfs, 0);
        }
        assertEquals(Syscalls.MountRoot.NO, Syscalls.mountRoot(bind));
    }

    @Test
    void linkingEveryHandleAheadLeavesTheCallsWorking() throws Exception {
        Syscalls.linkAll();
        Syscalls.linkAll(); // again: nothing left to link, nothing fails
        assertEquals(Files.getAttribute(Path.of("/proc/self"), "unix:uid"), Syscalls.geteuid(), "geteuid through its handle");
    }
}
