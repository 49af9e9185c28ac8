package dev.bollard.daemon.linux;

import java.nio.file.Files;
import java.nio.file.Path;

/** Whether systemd runs as the init system: the same test as sd_booted(3), the directory /run/systemd/system. */
public final class Systemd {
    private Systemd() {
    }

    public static boolean isRunning() {
        return Files.isDirectory(Path.of("/run/systemd/system"));
    }
}
