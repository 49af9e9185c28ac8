package dev.bollard.daemon.stats;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

class CgroupPathsTest {

    @Test
    void cgroupfsNamesArePathsAlready() {
        assertEquals("/bollard/pod/c1", CgroupPaths.of("/bollard/pod/c1"));
        assertEquals("/kubepods/besteffort/pod1", CgroupPaths.of("kubepods/besteffort/pod1"));
        assertEquals("", CgroupPaths.of(""));
    }

    @Test
    void systemdSlicesNestByTheirDashPrefixes() {
        assertEquals("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod12.slice",
                CgroupPaths.of("kubepods-besteffort-pod12.slice"));
        assertEquals("/system.slice", CgroupPaths.of("system.slice"));
        assertEquals("/", CgroupPaths.slice("-.slice"));
    }

    @Test
    void aSystemdSpecPathIsAScopeInItsSlice() {
        assertEquals("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod9.slice/cri-bollard-abc.scope",
                CgroupPaths.of("kubepods-burstable-pod9.slice:cri-bollard:abc"));
        assertEquals("/system.slice/cri-bollard-abc.scope", CgroupPaths.of(":cri-bollard:abc"), "runc's default slice");
        assertEquals("/a.slice/abc.scope", CgroupPaths.of("a.slice::abc"));
        assertEquals("/a.slice/a-b.slice", CgroupPaths.of("a.slice::a-b.slice"), "a slice named as the unit");
    }
}
