package dev.bollard.daemon.linux;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Host files that a CRI request names (a seccomp profile, a checkpoint archive): opened so that nothing the caller
 * can put at that path hangs or exhausts the daemon. The file is opened with O_NONBLOCK (a FIFO without a writer
 * opens at once instead of waiting for one), then the opened file itself is checked to be a regular file (a FIFO,
 * a device such as /dev/zero, a directory or a socket are refused before a byte is read), and reads are capped.
 * Checking the opened descriptor, not the path, leaves no window for the path to be swapped in between.
 */
public final class RequestedFiles {

    private RequestedFiles() {
    }

    /**
     * The whole content of a regular file of at most {@code maxBytes}.
     *
     * @param field names the request field in error messages, e.g. "linux.security_context.seccomp.localhost_ref"
     * @throws IllegalArgumentException naming the field and the path when the file is missing, not a regular file,
     *                                  or larger than {@code maxBytes}
     */
    public static byte[] read(Path path, long maxBytes, String field) throws IOException {
        try (InputStream in = open(path, field)) {
            byte[] bytes = in.readNBytes((int) Math.min(Integer.MAX_VALUE - 8, maxBytes + 1));
            if (bytes.length > maxBytes) {
                throw new IllegalArgumentException(field + ": " + path + " is larger than " + maxBytes + " bytes");
            }
            return bytes;
        }
    }

    /**
     * A stream over a regular file, opened without blocking. The caller bounds what it reads.
     *
     * @throws IllegalArgumentException naming the field and the path when it is missing or not a regular file
     */
    public static InputStream open(Path path, String field) throws IOException {
        if (!path.isAbsolute()) {
            throw new IllegalArgumentException(field + ": path must be absolute, got \"" + path + "\"");
        }
        int fd;
        try {
            fd = Syscalls.open(path, Syscalls.O_RDONLY | Syscalls.O_NONBLOCK | Syscalls.O_CLOEXEC);
        } catch (Syscalls.ErrnoException e) {
            throw new IllegalArgumentException(field + ": cannot open " + path + ": "
                    + (e.errno() == Syscalls.ENOENT ? "it does not exist" : Syscalls.describe(e.errno())), e);
        }
        try {
            // the descriptor's file, not the path's: what was opened is what gets checked and read
            Path opened = Path.of("/proc/self/fd/" + fd);
            int mode = (Integer) Files.readAttributes(opened, "unix:mode").get("mode");
            if ((mode & Syscalls.S_IFMT) != Syscalls.S_IFREG) {
                throw new IllegalArgumentException(field + ": " + path + " is not a regular file (" + kind(mode) + ")");
            }
            // reopening a regular file through its descriptor cannot block, and gives an ordinary Java stream
            return Files.newInputStream(opened);
        } finally {
            Syscalls.close(fd);
        }
    }

    private static String kind(int mode) {
        return switch (mode & Syscalls.S_IFMT) {
            case Syscalls.S_IFIFO -> "a FIFO";
            case Syscalls.S_IFCHR -> "a character device";
            case Syscalls.S_IFBLK -> "a block device";
            case Syscalls.S_IFDIR -> "a directory";
            case 0140000 -> "a socket";
            default -> "file type " + Integer.toOctalString(mode & Syscalls.S_IFMT);
        };
    }
}
