package dev.bollard.daemon.store;

import java.io.IOException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * A write that failed because a filesystem is full (ENOSPC) or its quota is used up (EDQUOT). The CRI answers it
 * with RESOURCE_EXHAUSTED, naming the filesystem: kubelet and the operator can act on that (free space, image
 * GC), unlike on an INTERNAL or UNAVAILABLE.
 */
public final class DiskFullException extends IOException {

    /** strerror(ENOSPC) and strerror(EDQUOT), as the JDK puts them in an IOException's message. */
    private static final String[] MESSAGES = {"No space left on device", "Disk quota exceeded"};

    private DiskFullException(String message, Throwable cause) {
        super(message, cause);
    }

    /** Whether {@code t} or one of its causes is a write refused for lack of space. */
    public static boolean isDiskFull(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (c instanceof DiskFullException) {
                return true;
            }
            String text = c instanceof FileSystemException fse && fse.getReason() != null ? fse.getReason()
                    : c.getMessage();
            if (c instanceof IOException && text != null) {
                for (String m : MESSAGES) {
                    if (text.contains(m)) {
                        return true;
                    }
                }
            }
            if (c.getCause() == c) {
                break;
            }
        }
        return false;
    }

    /**
     * {@code failure} as a DiskFullException naming the filesystem {@code where} is on and its free space, when it
     * is one; empty otherwise.
     *
     * @param what what {@code where} holds, for the message ("image filesystem")
     */
    public static Optional<DiskFullException> of(Throwable failure, String what, Path where) {
        if (failure instanceof DiskFullException d) {
            return Optional.of(d);
        }
        if (!isDiskFull(failure)) {
            return Optional.empty();
        }
        return Optional.of(new DiskFullException(describe(what, where) + ": " + failure.getMessage(), failure));
    }

    /** "no space left on the image filesystem /var/lib/bollard/image (filesystem /var (/dev/sda2) of type ext4, …)". */
    static String describe(String what, Path where) {
        String fs;
        try {
            var store = Files.getFileStore(where);
            // the JDK's FileStore prints as "<mount point> (<device>)"
            fs = " (filesystem " + store + " of type " + store.type() + ", " + human(store.getUsableSpace())
                    + " free of " + human(store.getTotalSpace()) + ")";
        } catch (IOException e) {
            fs = "";
        }
        return "no space left on the " + what + " " + where + fs;
    }

    private static String human(long bytes) {
        if (bytes < 1024) {
            return bytes + " B";
        }
        String[] units = {"KiB", "MiB", "GiB", "TiB"};
        double v = bytes;
        int u = -1;
        while (v >= 1024 && u < units.length - 1) {
            v /= 1024;
            u++;
        }
        return String.format(java.util.Locale.ROOT, "%.1f %s", v, units[u]);
    }
}
