package dev.bollard.daemon.linux;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.management.ManagementFactory;
import org.junit.jupiter.api.Test;

class ProcessClockTest {

    @Test
    void thisProcessStartedBeforeItsJvmAndNotLongBefore() {
        long jvmUptime = ManagementFactory.getRuntimeMXBean().getUptime();
        long sinceStart = ProcessClock.millisSinceStart(ProcessHandle.current().pid());
        long jvmUptimeAfter = ManagementFactory.getRuntimeMXBean().getUptime();
        // the process exists a little before its JVM is created; /proc's ticks are 10 ms
        assertTrue(sinceStart >= jvmUptime - 20, sinceStart + " ms since start, JVM up " + jvmUptime + " ms");
        assertTrue(sinceStart <= jvmUptimeAfter + 5_000, sinceStart + " ms since start, JVM up " + jvmUptimeAfter + " ms");
    }

    @Test
    void aProcessThatIsGoneHasNoAge() throws Exception {
        var p = new ProcessBuilder("true").start();
        p.waitFor();
        assertEquals(-1, ProcessClock.millisSinceStart(p.pid()));
        assertEquals(Long.MAX_VALUE, ProcessClock.startTicks(p.pid()));
    }
}
