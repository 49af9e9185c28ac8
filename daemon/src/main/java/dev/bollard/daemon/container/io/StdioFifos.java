package dev.bollard.daemon.container.io;

import dev.bollard.daemon.linux.Syscalls;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * The FIFO paths of one process, as given to the shim in Create/Exec: {@code <prefix>-stdin}, {@code -stdout},
 * {@code -stderr} in {@code dir}. With a terminal the pty's output is one stream, so there is no stderr FIFO.
 *
 * @param stdin  null when the process has no stdin
 * @param stdout always present
 * @param stderr null with a terminal
 */
public record StdioFifos(Path stdin, Path stdout, Path stderr) {

    public StdioFifos {
        Objects.requireNonNull(stdout, "stdout");
    }

    /**
     * Creates the FIFOs (mode 0600) in {@code dir}, creating {@code dir} with mode 0700 when it is missing; an existing
     * FIFO of the same name is an error (EEXIST), as two processes must never share one. On failure nothing created
     * here is left behind.
     */
    public static StdioFifos create(Path dir, String prefix, boolean stdin, boolean terminal) throws IOException {
        if (prefix == null || prefix.isEmpty() || prefix.contains("/")) {
            throw new IllegalArgumentException("FIFO prefix must be a non-empty file name, got \"" + prefix + "\"");
        }
        if (!Files.isDirectory(dir)) {
            Files.createDirectories(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
            // createDirectories applies the umask: make the mode exact.
            Syscalls.chmod(dir, 0700);
        }
        var fifos = new StdioFifos(
                stdin ? dir.resolve(prefix + "-stdin") : null,
                dir.resolve(prefix + "-stdout"),
                terminal ? null : dir.resolve(prefix + "-stderr"));
        List<Path> made = new ArrayList<>(3);
        try {
            for (Path p : fifos.paths()) {
                Syscalls.mkfifo(p, 0600);
                made.add(p);
            }
        } catch (IOException | RuntimeException e) {
            for (Path p : made) {
                try {
                    Files.deleteIfExists(p);
                } catch (IOException suppressed) {
                    e.addSuppressed(suppressed);
                }
            }
            throw e;
        }
        return fifos;
    }

    /** The FIFOs that exist in this set (stdin and stderr only when present). */
    public List<Path> paths() {
        var list = new ArrayList<Path>(3);
        if (stdin != null) {
            list.add(stdin);
        }
        list.add(stdout);
        if (stderr != null) {
            list.add(stderr);
        }
        return List.copyOf(list);
    }

    /** Removes the FIFOs (not the directory, which other processes' FIFOs may share); idempotent. */
    public void remove() throws IOException {
        IOException failure = null;
        for (Path p : paths()) {
            try {
                Files.deleteIfExists(p);
            } catch (IOException e) {
                if (failure == null) {
                    failure = new IOException("removing FIFO " + p + ": " + e.getMessage(), e);
                } else {
                    failure.addSuppressed(e);
                }
            }
        }
        if (failure != null) {
            throw failure;
        }
    }

    /** A clear error instead of a confusing read result when a path is not a FIFO. */
    static void requireFifo(Path p) throws IOException {
        int mode;
        try {
            mode = ((Number) Files.getAttribute(p, "unix:mode", LinkOption.NOFOLLOW_LINKS)).intValue();
        } catch (NoSuchFileException e) {
            throw new IOException("FIFO " + p + " does not exist", e);
        }
        if ((mode & Syscalls.S_IFMT) != Syscalls.S_IFIFO) {
            throw new IOException(p + " is not a FIFO");
        }
    }
}
