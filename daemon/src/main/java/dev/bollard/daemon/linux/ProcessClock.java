package dev.bollard.daemon.linux;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Process start times in clock ticks since boot, from /proc. Not {@code ProcessHandle.Info.startInstant}: that adds
 * the boot time, which /proc/stat gives in whole seconds, so its instants are off by up to a second.
 */
public final class ProcessClock {

    /** Linux's USER_HZ: the unit of /proc's clock ticks (100 on every architecture Debian ships). */
    public static final long USER_HZ = 100;

    private ProcessClock() {
    }

    /** Clock ticks since boot now, from /proc/uptime (10 ms resolution); 0 when unreadable. */
    public static long ticksSinceBoot() {
        try {
            String uptime = Files.readString(Path.of("/proc/uptime")).strip();
            return (long) (Double.parseDouble(uptime.substring(0, uptime.indexOf(' '))) * USER_HZ);
        } catch (IOException | RuntimeException e) {
            return 0;
        }
    }

    /** When the process started, in clock ticks since boot (/proc/<pid>/stat field 22); MAX_VALUE when gone. */
    public static long startTicks(long pid) {
        try {
            String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
            return Long.parseLong(ProcStat.fieldsFromState(stat)[19]); // field 22
        } catch (IOException | RuntimeException e) {
            return Long.MAX_VALUE;
        }
    }

    /** Milliseconds since the process started (10 ms resolution); -1 when it is gone or /proc unreadable. */
    public static long millisSinceStart(long pid) {
        long start = startTicks(pid);
        long now = ticksSinceBoot();
        return start == Long.MAX_VALUE || now == 0 ? -1 : (now - start) * 1000 / USER_HZ;
    }
}
