package dev.bollard.daemon.runtime;

import dev.bollard.daemon.config.ConfigLoader;
import dev.bollard.daemon.linux.CgroupLayout;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RuntimeHandlersTest {

    private static final CgroupLayout UNIFIED = new CgroupLayout(CgroupLayout.Mode.UNIFIED, List.of(), "/sys/fs/cgroup");
    private static final CgroupLayout HYBRID = new CgroupLayout(CgroupLayout.Mode.HYBRID, List.of("cpu"), "/sys/fs/cgroup/unified");

    @TempDir
    static Path launchers;

    private static RuntimeHandlers handlers(String toml, CgroupLayout layout, Set<String> installed) throws Exception {
        return new RuntimeHandlers(ConfigLoader.parse(toml, "t"), CgroupDriver.CGROUPFS, layout,
                name -> installed.contains(name) ? Optional.of(Path.of("/usr/bin", name)) : Optional.empty(), launchers);
    }

    @Test
    void readyWhenShimAndRuntimeAreInstalled() throws Exception {
        var h = handlers("", UNIFIED, Set.of("containerd-shim-runc-v2", "runc", "crun"));
        assertTrue(h.statuses().stream().allMatch(s -> s.ready()));
        assertEquals(Optional.of(Path.of("/usr/bin/runc")), h.statuses().getFirst().binary());
    }

    @Test
    void missingPiecesAreNamed() throws Exception {
        var h = handlers("", UNIFIED, Set.of("runc"));
        var runc = h.statuses().getFirst();
        assertFalse(runc.ready());
        assertEquals("ShimNotFound", runc.reason());
        var h2 = handlers("", UNIFIED, Set.of("containerd-shim-runc-v2", "runc"));
        var crun = h2.statuses().get(1);
        assertEquals("RuntimeBinaryNotFound", crun.reason());
        assertTrue(crun.message().contains("\"crun\""));
    }

    @Test
    void crunRunsThroughALauncherOnHybridCgroups() throws Exception {
        var h = handlers("", HYBRID, Set.of("containerd-shim-runc-v2", "runc", "crun", "unshare"));
        assertTrue(h.statuses().get(0).ready());
        assertEquals(Optional.of(Path.of("/usr/bin/runc")), h.statuses().get(0).binary(), "runc runs as it is");
        var crun = h.statuses().get(1);
        assertTrue(crun.ready(), crun.toString());
        Path launcher = crun.binary().orElseThrow();
        assertEquals(launchers.resolve("crun-hybrid"), launcher);
        String script = java.nio.file.Files.readString(launcher);
        assertTrue(script.contains("umount -l /sys/fs/cgroup/unified") && script.contains("/usr/bin/crun"), script);
        assertTrue(java.nio.file.Files.isExecutable(launcher));
        // Without unshare the mount cannot be hidden: not ready, saying why.
        var without = handlers("", HYBRID, Set.of("containerd-shim-runc-v2", "runc", "crun")).statuses().get(1);
        assertFalse(without.ready());
        assertEquals("HybridCgroupsUnsupported", without.reason());
        assertTrue(without.message().contains("unshare"), without.message());
    }

    @Test
    void systemdCgroupNeedsTheSystemdDriver() throws Exception {
        var h = handlers("[runtimes.runc]\nsystemd_cgroup = true\n", UNIFIED, Set.of("containerd-shim-runc-v2", "runc"));
        assertEquals("SystemdCgroupUnavailable", h.statuses().getFirst().reason());
    }

    @Test
    void emptyNameIsTheDefaultHandler() throws Exception {
        var h = handlers("", UNIFIED, Set.of());
        assertEquals("runc", h.get("").orElseThrow().name());
        assertEquals(Optional.empty(), h.get("kata"));
    }

    @Test
    void cgroupDriverResolution() throws Exception {
        var auto = dev.bollard.daemon.config.BollardConfig.CgroupDriverSetting.AUTO;
        assertEquals(CgroupDriver.SYSTEMD, CgroupDriver.resolve(auto, true));
        assertEquals(CgroupDriver.CGROUPFS, CgroupDriver.resolve(auto, false));
        var e = org.junit.jupiter.api.Assertions.assertThrows(dev.bollard.daemon.config.ConfigException.class,
                () -> CgroupDriver.resolve(dev.bollard.daemon.config.BollardConfig.CgroupDriverSetting.SYSTEMD, false));
        assertTrue(e.getMessage().contains("systemd is not running"));
    }
}
