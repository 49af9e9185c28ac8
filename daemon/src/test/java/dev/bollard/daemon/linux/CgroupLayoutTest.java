package dev.bollard.daemon.linux;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

class CgroupLayoutTest {

    @Test
    void hybridV1ControllersWithUnifiedBeside() {
        var layout = CgroupLayout.parse(List.of(
                "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755",
                "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu",
                "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory",
                "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd",
                "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw"));
        assertEquals(CgroupLayout.Mode.HYBRID, layout.mode());
        assertEquals(List.of("cpu", "memory", "name=systemd"), layout.v1Controllers());
        assertEquals("/sys/fs/cgroup/unified", layout.unifiedMount());
    }

    @Test
    void unifiedWhenCgroup2IsAtTheRoot() {
        var layout = CgroupLayout.parse(List.of(
                "29 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate"));
        assertEquals(CgroupLayout.Mode.UNIFIED, layout.mode());
        assertEquals("/sys/fs/cgroup", layout.unifiedMount());
    }

    @Test
    void legacyWithoutCgroup2() {
        var layout = CgroupLayout.parse(List.of(
                "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw shared:9 - cgroup cgroup rw,cpu,cpuacct"));
        assertEquals(CgroupLayout.Mode.LEGACY, layout.mode());
        assertEquals(List.of("cpu", "cpuacct"), layout.v1Controllers());
    }

    @Test
    void noneWithoutCgroups() {
        assertEquals(CgroupLayout.Mode.NONE, CgroupLayout.parse(List.of("garbage", "1 2 3")).mode());
    }
}
