package dev.bollard.daemon.container.io;

import java.nio.file.Path;

/**
 * Where a container's log lives: the pod's {@code log_directory} (kubelet's, trusted as given) and the container's
 * {@code log_path} below it (relative, its directories possibly writable by the pod's volumes). The log is only
 * ever opened through {@code relative}'s components one by one from {@code directory}, never following a link.
 */
public record LogLocation(Path directory, Path relative) {

    public LogLocation {
        if (!directory.isAbsolute() || relative.isAbsolute() || relative.getNameCount() == 0
                || relative.toString().isEmpty()) {
            throw new IllegalArgumentException("log location: " + relative + " must be relative to the absolute "
                    + directory);
        }
    }

    /** The log file's path (for messages and for readers). */
    public Path path() {
        return directory.resolve(relative);
    }

    /**
     * The location of a record's log: {@code absolute} is log_directory joined with {@code relative} (the
     * container's log_path) as CreateContainer stored it. When they do not fit (older records), the file's own
     * directory is the boundary.
     */
    public static LogLocation of(String absolute, String relative) {
        Path abs = Path.of(absolute).toAbsolutePath();
        Path rel = relative.isEmpty() ? null : Path.of(relative);
        if (rel != null && !rel.isAbsolute() && abs.endsWith(rel) && abs.getNameCount() > rel.getNameCount()) {
            return new LogLocation(abs.getRoot().resolve(abs.subpath(0, abs.getNameCount() - rel.getNameCount())), rel);
        }
        return of(abs);
    }

    /** A log whose own directory is the boundary. */
    public static LogLocation of(Path file) {
        Path abs = file.toAbsolutePath();
        return new LogLocation(abs.getParent(), abs.getFileName());
    }
}
