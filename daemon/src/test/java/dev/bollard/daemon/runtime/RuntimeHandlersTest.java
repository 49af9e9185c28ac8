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
        var h = handlers("", UNIFIED, Set.of("containerd-shim-runc-v2", "runc", "crun", "runsc"));
        assertTrue(h.statuses().stream().filter(s -> !s.name().equals("vm")).allMatch(s -> s.ready()),
                h.statuses().toString());
        var vm = h.statuses().stream().filter(s -> s.name().equals("vm")).findFirst().orElseThrow();
        assertEquals("ShimNotFound", vm.reason(), "the default vm handler needs its shim on PATH");
        assertEquals(Optional.of(Path.of("/usr/bin/runc")), h.statuses().getFirst().binary());
    }

    @Test
    void featuresFollowWhatRuncReports(@TempDir Path bin) throws Exception {
        // a runc that reports no rro and no user namespace, and one that reports both
        Path old = java.nio.file.Files.createDirectories(bin.resolve("old")).resolve("runc");
        java.nio.file.Files.writeString(old, "#!/bin/sh\necho '{\"mountOptions\":[\"ro\"],\"linux\":{\"namespaces\":[\"pid\"]}}'\n");
        Path current = java.nio.file.Files.createDirectories(bin.resolve("new")).resolve("runc");
        java.nio.file.Files.writeString(current, "#!/bin/sh\necho '{\"mountOptions\":[\"ro\",\"rro\"],\"linux\":{\"namespaces\":[\"user\"]}}'\n");
        for (Path p : List.of(old, current)) {
            java.nio.file.Files.setPosixFilePermissions(p, java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
        }
        var withOld = new RuntimeHandlers(ConfigLoader.parse("", "t"), CgroupDriver.CGROUPFS, UNIFIED,
                name -> name.equals("runc") ? Optional.of(old) : Optional.empty(), launchers);
        assertEquals(RuntimeHandlers.Features.NONE, withOld.features("runc"));
        var withNew = new RuntimeHandlers(ConfigLoader.parse("", "t"), CgroupDriver.CGROUPFS, UNIFIED,
                name -> name.equals("runc") ? Optional.of(current) : Optional.empty(), launchers);
        boolean modern = RuntimeHandlers.kernelAtLeast(5, 19);
        assertEquals(new RuntimeHandlers.Features(modern, modern), withNew.features("runc"));
        assertEquals(RuntimeHandlers.Features.NONE, withNew.features("runsc"), "runsc: neither");
        assertEquals(RuntimeHandlers.Features.NONE, withNew.features("nope"));
    }

    @Test
    void theWarmUpQueriesRuncOnceAndStatusUsesItsAnswer(@TempDir Path bin) throws Exception {
        Path asked = bin.resolve("asked");
        Path runc = bin.resolve("runc");
        java.nio.file.Files.writeString(runc, "#!/bin/sh\necho x >> " + asked
                + "\necho '{\"mountOptions\":[\"ro\",\"rro\"],\"linux\":{\"namespaces\":[\"user\"]}}'\n");
        java.nio.file.Files.setPosixFilePermissions(runc, java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
        var h = new RuntimeHandlers(ConfigLoader.parse("", "t"), CgroupDriver.CGROUPFS, UNIFIED,
                name -> name.equals("runc") ? Optional.of(runc) : Optional.empty(), launchers);
        h.warmUp();
        boolean modern = RuntimeHandlers.kernelAtLeast(5, 19);
        assertEquals(new RuntimeHandlers.Features(modern, modern), h.features("runc"));
        assertEquals(1, java.nio.file.Files.readAllLines(asked).size(), "runc features ran once: " + h.names());
    }

    @Test
    void aRestartedDaemonAnswersFromTheKeptFeaturesUntilRuncChanges(@TempDir Path bin, @TempDir Path root)
            throws Exception {
        Path asked = bin.resolve("asked");
        Path runc = bin.resolve("runc");
        String answer = "echo '{\"mountOptions\":[\"ro\",\"rro\"],\"linux\":{\"namespaces\":[\"user\"]}}'\n";
        java.nio.file.Files.writeString(runc, "#!/bin/sh\necho x >> " + asked + "\n" + answer);
        java.nio.file.Files.setPosixFilePermissions(runc, java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
        Path kept = root.resolve("runtime-features.json");
        boolean modern = RuntimeHandlers.kernelAtLeast(5, 19);
        var expected = new RuntimeHandlers.Features(modern, modern);
        var config = ConfigLoader.parse("", "t");
        java.util.function.Supplier<RuntimeHandlers> daemonStart = () -> new RuntimeHandlers(config,
                CgroupDriver.CGROUPFS, UNIFIED, name -> name.equals("runc") ? Optional.of(runc) : Optional.empty(),
                launchers, kept);

        assertEquals(expected, daemonStart.get().features("runc"));
        assertEquals(1, java.nio.file.Files.readAllLines(asked).size(), "the first start asks runc");
        assertEquals(expected, daemonStart.get().features("runc"));
        assertEquals(1, java.nio.file.Files.readAllLines(asked).size(), "a restart answers from the kept answer");

        // runc upgraded in place: now it reports neither feature; the next start must not answer from the old entry
        java.nio.file.Files.writeString(runc, "#!/bin/sh\necho x >> " + asked
                + "\necho '{\"mountOptions\":[\"ro\"],\"linux\":{\"namespaces\":[\"pid\"]}}'\n");
        assertEquals(RuntimeHandlers.Features.NONE, daemonStart.get().features("runc"));
        assertEquals(2, java.nio.file.Files.readAllLines(asked).size(), "a changed binary is asked again");

        // a torn or foreign file is a miss, never an error
        java.nio.file.Files.writeString(kept, "{not json");
        assertEquals(RuntimeHandlers.Features.NONE, daemonStart.get().features("runc"));
        assertEquals(3, java.nio.file.Files.readAllLines(asked).size());
        assertEquals(RuntimeHandlers.Features.NONE, daemonStart.get().features("runc"));
        assertEquals(3, java.nio.file.Files.readAllLines(asked).size(), "and rewritten whole");
    }

    @Test
    void aFailedQueryIsNotKept(@TempDir Path bin, @TempDir Path root) throws Exception {
        Path runc = bin.resolve("runc");
        java.nio.file.Files.writeString(runc, "#!/bin/sh\nexit 1\n");
        java.nio.file.Files.setPosixFilePermissions(runc, java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
        Path kept = root.resolve("runtime-features.json");
        var h = new RuntimeHandlers(ConfigLoader.parse("", "t"), CgroupDriver.CGROUPFS, UNIFIED,
                name -> name.equals("runc") ? Optional.of(runc) : Optional.empty(), launchers, kept);
        assertEquals(RuntimeHandlers.Features.NONE, h.features("runc"));
        assertFalse(java.nio.file.Files.exists(kept), "runc failed: the next start asks again");
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
    void runscRunsThroughALauncherThatPutsItsFlagsFirst() throws Exception {
        var runsc = handlers("", HYBRID, Set.of("containerd-shim-runc-v2", "runsc")).get("runsc").orElseThrow();
        assertEquals(List.of("--platform=ptrace", "--network=host"), runsc.runtimeFlags());
        var status = handlers("", HYBRID, Set.of("containerd-shim-runc-v2", "runsc")).check(runsc);
        assertTrue(status.ready(), status.toString());
        Path launcher = status.binary().orElseThrow();
        assertEquals(launchers.resolve("runsc-launcher"), launcher);
        String script = java.nio.file.Files.readString(launcher);
        assertEquals("exec /usr/bin/runsc '--platform=ptrace' '--network=host' \"$@\"", script.lines().toList().getLast());
        assertTrue(script.contains("if [ \"$sub\" = start ]"), script);
        assertTrue(java.nio.file.Files.isExecutable(launcher));
        // runsc keeps its state beside the launchers, apart from runc's.
        assertEquals(Optional.of(launchers.resolveSibling("runsc")), status.runtimeRoot());
        assertEquals(Optional.empty(), handlers("", HYBRID, Set.of("containerd-shim-runc-v2", "runc"))
                .statuses().getFirst().runtimeRoot());
    }

    @Test
    void runscOnKvmIsNotReady() throws Exception {
        var installed = Set.of("containerd-shim-runc-v2", "runsc");
        var kvm = handlers("[runtimes.runsc]\nruntime_flags = \"--network=host --platform kvm\"\n", UNIFIED, installed);
        var status = kvm.check(kvm.get("runsc").orElseThrow());
        assertFalse(status.ready());
        assertEquals("PlatformUnusable", status.reason());
        assertTrue(status.message().contains("kvm hangs"), status.message());
        var missing = handlers("", UNIFIED, Set.of("containerd-shim-runc-v2"));
        assertEquals("RuntimeBinaryNotFound", missing.check(missing.get("runsc").orElseThrow()).reason());
    }

    @Test
    void runtimeFlagsMustNotSetWhatTheShimSets() throws Exception {
        var h = handlers("[runtimes.runc]\nruntime_flags = \"--debug --root=/tmp/x\"\n", UNIFIED,
                Set.of("containerd-shim-runc-v2", "runc"));
        var status = h.statuses().getFirst();
        assertEquals("RuntimeFlagsInvalid", status.reason());
        assertTrue(status.message().contains("--root"), status.message());
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

    @Test
    void theVmHandlerIsReadyWithQemuVirtiofsdAndTheGuestImage(@TempDir Path checkout) throws Exception {
        Path shim = java.nio.file.Files.createDirectories(checkout.resolve("bin")).resolve("containerd-shim-bollard-vm-v2");
        java.nio.file.Files.writeString(shim, "#!/bin/sh\n");
        Path guest = java.nio.file.Files.createDirectories(checkout.resolve("vm/guest/out"));
        java.nio.file.Files.writeString(guest.resolve("vmlinux"), "ELF");
        String toml = "[runtimes.vm]\nshim = \"" + shim + "\"\naccelerator = \"tcg\"\n";
        java.util.function.Function<Set<String>, RuntimeHandlers> node = installed -> {
            try {
                return new RuntimeHandlers(ConfigLoader.parse(toml, "t"), CgroupDriver.CGROUPFS, UNIFIED,
                        name -> name.equals(shim.toString()) ? Optional.of(shim)
                                : installed.contains(name) ? Optional.of(Path.of("/usr/bin", name)) : Optional.empty(),
                        launchers);
            } catch (Exception e) {
                throw new AssertionError(e);
            }
        };
        var withQemu = node.apply(Set.of("qemu-system-x86_64", "runc"));
        var noInitrd = withQemu.check(withQemu.get("vm").orElseThrow());
        assertFalse(noInitrd.ready());
        assertEquals("GuestImageNotFound", noInitrd.reason());
        assertTrue(noInitrd.message().contains(guest.toRealPath().resolve("initrd.img") + " is missing (run vm/guest/build.sh)"),
                noInitrd.message());

        java.nio.file.Files.writeString(guest.resolve("initrd.img"), "cpio");
        var ready = withQemu.check(withQemu.get("vm").orElseThrow());
        assertTrue(ready.ready(), ready.toString());
        assertEquals("qemu microvm, accelerator tcg (accelerator = \"tcg\" in the configuration)", ready.message());
        assertEquals(Optional.of(shim), ready.shim());

        var configuredGuest = new RuntimeHandlers(ConfigLoader.parse(toml + "kernel = \"" + checkout.resolve("k")
                + "\"\n", "t"), CgroupDriver.CGROUPFS, UNIFIED, name -> name.equals(shim.toString()) ? Optional.of(shim)
                : Optional.of(Path.of("/usr/bin", name)), launchers);
        var noKernel = configuredGuest.check(configuredGuest.get("vm").orElseThrow());
        assertEquals("GuestImageNotFound", noKernel.reason());
        assertEquals("the VM guest's " + checkout.resolve("k") + " is missing", noKernel.message(),
                "the configured kernel, not the checkout's");
        var env = withQemu.vmEnvironment(withQemu.get("vm").orElseThrow(), shim);
        assertEquals("tcg", env.get("BOLLARD_VM_ACCEL"));
        assertEquals(guest.toRealPath().resolve("vmlinux").toString(), env.get("BOLLARD_VM_KERNEL"));
        assertEquals("/usr/bin/qemu-system-x86_64", env.get("BOLLARD_VM_QEMU"));
        assertEquals("256", env.get("BOLLARD_VM_MEMORY_MB"));
        assertEquals("1", env.get("BOLLARD_VM_CPUS"));

        var kvmToml = toml.replace("\"tcg\"", "\"kvm\"");
        var kvm = new RuntimeHandlers(ConfigLoader.parse(kvmToml, "t"), CgroupDriver.CGROUPFS, UNIFIED,
                name -> name.equals(shim.toString()) ? Optional.of(shim) : Optional.of(Path.of("/usr/bin", name)),
                launchers);
        var kvmStatus = kvm.check(kvm.get("vm").orElseThrow());
        if (java.nio.file.Files.isWritable(Path.of("/dev/kvm"))) {
            assertEquals("qemu microvm, accelerator kvm (accelerator = \"kvm\" in the configuration)", kvmStatus.message());
        } else {
            assertEquals("KvmUnavailable", kvmStatus.reason(), kvmStatus.toString());
        }

        var noQemu = node.apply(Set.of("runc"));
        var missing = noQemu.check(noQemu.get("vm").orElseThrow());
        assertEquals("HypervisorNotFound", missing.reason(), missing.toString());
    }
}
