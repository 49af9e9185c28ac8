package dev.bollard.daemon.oci;

import java.io.IOException;
import java.util.Optional;

/** Reads a file of the container's image rootfs before it is mounted (for /etc/passwd and /etc/group). */
@FunctionalInterface
public interface RootfsFiles {

    /** @return the file's bytes, or empty when the rootfs has no such file */
    Optional<byte[]> read(String absolutePath) throws IOException;

    /** A rootfs with no files at all (numeric users only). */
    RootfsFiles NONE = path -> Optional.empty();
}
