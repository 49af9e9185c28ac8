package dev.bollard.daemon.sandbox;

import dev.bollard.api.cri.v1.LinuxContainerResources;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The pod's total from UpdatePodSandboxResources and the control files it becomes. */
class PodResourcesTest {

    private static final LinuxContainerResources NONE = LinuxContainerResources.getDefaultInstance();

    @Test
    void overheadAddsToTheLimitsResourcesSet() {
        var resources = LinuxContainerResources.newBuilder().setMemoryLimitInBytes(1000).setCpuQuota(50_000)
                .setCpuPeriod(100_000).setCpuShares(512).setCpusetCpus("0-1").build();
        var overhead = LinuxContainerResources.newBuilder().setMemoryLimitInBytes(24).setCpuQuota(5_000)
                .setCpuPeriod(50_000).setCpuShares(10).build();
        var total = PodResources.of(overhead, true, resources, true);
        assertEquals(new PodResources(522, 60_000, 100_000, 1024, "0-1", ""), total);
        assertEquals(Map.of("cpu.shares", "522", "cpu.cfs_period_us", "100000", "cpu.cfs_quota_us", "60000",
                "memory.limit_in_bytes", "1024", "cpuset.cpus", "0-1"), total.v1Files());
        assertEquals("60000 100000", total.v2Files().get("cpu.max"));
        assertEquals("1024", total.v2Files().get("memory.max"));
        assertEquals("20", total.v2Files().get("cpu.weight"));
    }

    @Test
    void overheadDoesNotLimitWhatResourcesLeaveUnlimited() {
        var overhead = LinuxContainerResources.newBuilder().setMemoryLimitInBytes(24).setCpuQuota(5_000).build();
        var total = PodResources.of(overhead, true, LinuxContainerResources.newBuilder().setCpuShares(2).build(), true);
        assertEquals(0, total.memoryLimit());
        assertEquals(0, total.cpuQuota());
        assertTrue(total.v1Files().keySet().stream().noneMatch(f -> f.startsWith("memory.") || f.contains("quota")));
        // Overhead alone is applied as it is.
        assertEquals(24, PodResources.of(overhead, true, NONE, false).memoryLimit());
    }

    @Test
    void badValuesNameTheirField() {
        var e = assertThrows(IllegalArgumentException.class, () -> PodResources.of(NONE, false,
                LinuxContainerResources.newBuilder().setMemoryLimitInBytes(-1).build(), true));
        assertTrue(e.getMessage().contains("resources.memory_limit_in_bytes"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> PodResources.of(
                LinuxContainerResources.newBuilder().setCpuQuota(-2).build(), true, NONE, false));
        assertTrue(e.getMessage().contains("overhead.cpu_quota"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> PodResources.of(NONE, false,
                LinuxContainerResources.newBuilder().setCpusetCpus("0-x").build(), true));
        assertTrue(e.getMessage().contains("resources.cpuset_cpus"), e.getMessage());
    }
}
