package dev.bollard.daemon.stats;

import dev.bollard.api.containerd.cgroups.v2.CPUStat;
import dev.bollard.api.containerd.cgroups.v2.MemoryStat;
import dev.bollard.api.containerd.cgroups.v2.Metrics;
import dev.bollard.api.containerd.cgroups.v2.PidsStat;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A VM shim's cgroup v2 metrics as the stats of a container and its pod. */
class GuestSampleTest {

    private static Metrics metrics(long usec, long usage, long limit, long inactive, long anon, long pids) {
        return Metrics.newBuilder().setCpu(CPUStat.newBuilder().setUsageUsec(usec))
                .setMemory(MemoryStat.newBuilder().setUsage(usage).setUsageLimit(limit).setInactiveFile(inactive)
                        .setAnon(anon))
                .setPids(PidsStat.newBuilder().setCurrent(pids)).build();
    }

    @Test
    void metricsBecomeASample() {
        var s = CgroupSample.of(metrics(1500, 10 << 20, 64 << 20, 2 << 20, 7 << 20, 3));
        assertEquals(1_500_000, s.cpuUsageNanos(), "microseconds to nanoseconds");
        assertEquals(10 << 20, s.memoryUsage());
        assertEquals(64 << 20, s.memoryLimit());
        assertEquals(8 << 20, s.workingSet(), "usage minus inactive file pages");
        assertEquals(7 << 20, s.rss());
        assertEquals(3, s.pids());
        assertTrue(s.found());
        assertNull(s.cpuPressure());
        assertEquals(-1, s.swapUsage(), "no swap figures from the guest");
    }

    @Test
    void anUnlimitedGuestCgroupHasNoLimit() {
        // "max" travels as the largest uint64, which is -1 as a Java long
        assertEquals(-1, CgroupSample.of(metrics(0, 1, -1, 0, 0, 1)).memoryLimit());
    }

    @Test
    void aPodIsTheSumOfItsTasks() {
        var pod = CgroupSample.sum(List.of(CgroupSample.of(metrics(1000, 4 << 20, -1, 1 << 20, 2 << 20, 1)),
                CgroupSample.of(metrics(3000, 6 << 20, 64 << 20, 1 << 20, 5 << 20, 2))));
        assertEquals(4_000_000, pod.cpuUsageNanos());
        assertEquals(10 << 20, pod.memoryUsage());
        assertEquals(8 << 20, pod.workingSet());
        assertEquals(7 << 20, pod.rss());
        assertEquals(3, pod.pids());
        assertEquals(-1, pod.memoryLimit(), "limits do not add up");
        assertFalse(pod.memoryLimit() > 0);
    }
}
