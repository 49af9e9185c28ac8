package dev.bollard.daemon.server;

import java.io.IOException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayDeque;
import java.util.Deque;

/**
 * Remembers every directory and file a start-up creates, so that a start-up that fails half-way removes exactly
 * those and nothing an operator made.
 */
final class CreatedPaths {

    private final Deque<Path> created = new ArrayDeque<>();

    /** Creates {@code dir} and any missing parents with mode 0711 (traversable, not listable, like containerd's). */
    void directory(String what, Path dir) throws StartupException {
        var missing = new ArrayDeque<Path>();
        for (Path p = dir; p != null && !Files.exists(p); p = p.getParent()) {
            missing.push(p);
        }
        for (Path p : missing) {
            try {
                Files.createDirectory(p, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx--x--x")));
                created.push(p);
            } catch (FileAlreadyExistsException e) {
                if (!Files.isDirectory(p)) {
                    throw new StartupException(what + " " + dir + ": " + p + " exists and is not a directory");
                }
            } catch (IOException e) {
                throw new StartupException(what + " " + dir + ": cannot create " + p + ": " + reason(e));
            }
        }
        if (!Files.isDirectory(dir)) {
            throw new StartupException(what + " " + dir + ": not a directory");
        }
        if (!Files.isWritable(dir)) {
            throw new StartupException(what + " " + dir + ": directory is not writable");
        }
    }

    void file(Path file) {
        created.push(file);
    }

    /** Removes what was created, newest first; a directory something else has filled since is left alone. */
    void rollback() {
        while (!created.isEmpty()) {
            try {
                Files.deleteIfExists(created.pop());
            } catch (DirectoryNotEmptyException e) {
                // not ours alone any more
            } catch (IOException e) {
                // best effort: the start-up error is what the operator needs to see
            }
        }
    }

    /** The errno-like part of an I/O error; the JDK leaves it out for the commonest cases. */
    static String reason(IOException e) {
        if (e instanceof java.nio.file.FileSystemException fse && fse.getReason() != null) {
            return fse.getReason();
        }
        return switch (e) {
            case java.nio.file.NoSuchFileException x -> "No such file or directory";
            case java.nio.file.AccessDeniedException x -> "Permission denied";
            case java.nio.file.NotDirectoryException x -> "Not a directory";
            case java.nio.file.FileAlreadyExistsException x -> "File exists";
            default -> e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        };
    }
}
