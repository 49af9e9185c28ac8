package dev.bollard.daemon.config;

import dev.bollard.daemon.config.BollardConfig.CgroupDriverSetting;
import dev.bollard.daemon.config.BollardConfig.LogFormat;
import dev.bollard.daemon.config.BollardConfig.LogLevel;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ConfigLoaderTest {

    @Test
    void emptyFileGivesTheEmbeddedDefaults() throws Exception {
        var c = ConfigLoader.parse("", "t.toml");
        assertEquals(Path.of("/run/bollard/bollard.sock"), c.daemon().socket());
        assertEquals(Path.of("/var/lib/bollard"), c.daemon().root());
        assertEquals(Path.of("/run/bollard"), c.daemon().state());
        assertEquals(LogLevel.INFO, c.daemon().logLevel());
        assertEquals(LogFormat.TEXT, c.daemon().logFormat());
        assertEquals(CgroupDriverSetting.AUTO, c.runtime().cgroupDriver());
        assertEquals("runc", c.runtime().defaultRuntime());
        assertEquals(List.of("runc", "crun", "runsc", "vm"), List.copyOf(c.runtimes().keySet()));
        assertEquals("crun", c.runtimes().get("crun").binaryName());
        assertEquals("containerd-shim-runc-v2", c.runtimes().get("crun").shim());
        assertEquals(Optional.empty(), c.runtimes().get("runc").root());
        assertEquals(Path.of("/etc/bollard/certs.d"), c.registry().configPath());
    }

    @Test
    void missingFileMeansDefaults(@TempDir Path dir) throws Exception {
        var loaded = ConfigLoader.load(dir.resolve("absent.toml"));
        assertFalse(loaded.fileFound());
        assertEquals(ConfigLoader.defaults(), loaded.config());
    }

    @Test
    void fileValuesOverrideDefaultsAndAddHandlers(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("b.toml");
        Files.writeString(f, """
                [daemon]
                socket = "/tmp/x/b.sock"
                log_level = "debug"
                log_format = "json"

                [runtime]
                cgroup_driver = "cgroupfs"
                default_runtime = "fast"

                [runtimes.fast]
                binary_name = "/usr/local/bin/crun"
                root = "/run/fast"

                [runtimes.runc]
                privileged_without_host_devices = true

                [registry]
                config_path = "/etc/containerd/certs.d"
                """);
        var loaded = ConfigLoader.load(f);
        assertTrue(loaded.fileFound());
        var c = loaded.config();
        assertEquals(Path.of("/tmp/x/b.sock"), c.daemon().socket());
        assertEquals(Path.of("/var/lib/bollard"), c.daemon().root(), "keys not given keep their defaults");
        assertEquals(LogLevel.DEBUG, c.daemon().logLevel());
        assertEquals(LogFormat.JSON, c.daemon().logFormat());
        assertEquals(CgroupDriverSetting.CGROUPFS, c.runtime().cgroupDriver());
        assertEquals("fast", c.defaultHandler().name());
        assertEquals("/usr/local/bin/crun", c.runtimes().get("fast").binaryName());
        assertEquals(Optional.of(Path.of("/run/fast")), c.runtimes().get("fast").root());
        assertEquals("containerd-shim-runc-v2", c.runtimes().get("fast").shim());
        assertTrue(c.runtimes().get("runc").privilegedWithoutHostDevices());
        assertEquals("runc", c.runtimes().get("runc").binaryName(), "overriding one key keeps the entry's others");
        assertEquals(List.of("runc", "crun", "runsc", "vm", "fast"), List.copyOf(c.runtimes().keySet()));
        assertEquals(Path.of("/etc/containerd/certs.d"), c.registry().configPath());
    }

    @Test
    void metricsAreOffByDefaultAndTakeHostPort() throws Exception {
        assertFalse(ConfigLoader.parse("", "t.toml").metrics().enabled());
        assertEquals("127.0.0.1:9323",
                ConfigLoader.parse("[metrics]\naddress = \"127.0.0.1:9323\"\n", "t.toml").metrics().address());
        assertEquals("[::1]:9323", ConfigLoader.parse("[metrics]\naddress = \"[::1]:9323\"\n", "t.toml").metrics().address());
        assertTrue(error("[metrics]\naddress = \"localhost\"\n").contains("metrics.address: \"localhost\" is not host:port"));
        assertTrue(error("[metrics]\naddress = \"127.0.0.1:70000\"\n").contains("metrics.address"));
        assertTrue(error("[metrics]\naddress = \"::1:9323\"\n").contains("metrics.address"));
    }

    private static String error(String toml) {
        return assertThrows(ConfigException.class, () -> ConfigLoader.parse(toml, "b.toml")).getMessage();
    }

    @Test
    void unknownKeyNamesKeyLineAndKnownKeys() {
        String m = error("""
                [daemon]
                root = "/var/lib/b"
                sokcet = "/run/b.sock"
                """);
        assertEquals("b.toml:3: unknown key \"sokcet\" in [daemon] (known: socket, root, state, log_level, log_format, stop_pods_on_shutdown)", m);
    }

    @Test
    void unknownSectionIsAnError() {
        assertEquals("b.toml:2: unknown section or key \"registyr\" (known sections: daemon, runtime, runtimes.<name>, registry, cni, metrics, streaming, cdi, nri)",
                error("\n[registyr]\nconfig_path = \"/x\"\n"));
    }

    @Test
    void nriIsOffByDefaultAndChecksItsKeys() throws ConfigException {
        var defaults = ConfigLoader.parse("", "b.toml").nri();
        assertEquals(BollardConfig.Nri.OFF, defaults, "containerd's defaults, NRI off");
        var set = ConfigLoader.parse("""
                [nri]
                enable = true
                socket_path = "/run/x/nri.sock"
                plugin_request_timeout = "500ms"
                plugin_registration_timeout = "1m"
                """, "b.toml").nri();
        assertTrue(set.enable());
        assertEquals(Path.of("/run/x/nri.sock"), set.socketPath());
        assertEquals(java.time.Duration.ofMillis(500), set.requestTimeout());
        assertEquals(java.time.Duration.ofMinutes(1), set.registrationTimeout());
        assertTrue(error("[nri]\nplugin_path = \"plugins\"\n").contains("nri.plugin_path: \"plugins\" is not an absolute path"));
        assertTrue(error("[nri]\nplugin_request_timeout = \"2\"\n").contains("nri.plugin_request_timeout: \"2\" is not a positive duration"));
        assertTrue(error("[nri]\nenabled = true\n").contains("enabled"));
    }

    @Test
    void cdiSectionHasDefaultsAndChecksItsKeys() throws ConfigException {
        var defaults = ConfigLoader.parse("", "b.toml").cdi();
        assertTrue(defaults.enable());
        assertEquals(List.of(Path.of("/etc/cdi"), Path.of("/var/run/cdi")), defaults.specDirs());
        var set = ConfigLoader.parse("[cdi]\nenable = false\nspec_dirs = \"/a:/b/c\"\n", "b.toml").cdi();
        assertFalse(set.enable());
        assertEquals(List.of(Path.of("/a"), Path.of("/b/c")), set.specDirs());
        assertTrue(error("[cdi]\nspec_dirs = \"/a:rel\"\n").contains("cdi.spec_dirs: \"rel\" is not an absolute path"));
        assertTrue(error("[cdi]\nenabled = true\n").contains("enabled"));
    }

    @Test
    void topLevelKeyIsAnError() {
        assertTrue(error("root = \"/x\"\n").startsWith("b.toml:1: unknown section or key \"root\""));
    }

    @Test
    void sectionThatIsNotATableIsAnError() {
        assertEquals("b.toml:1: \"daemon\" must be a table ([daemon])", error("daemon = 3\n"));
    }

    @Test
    void wrongTypeNamesKeyAndLine() {
        assertEquals("b.toml:2: runtimes.runc.systemd_cgroup: expected true or false, got the string \"yes\"",
                error("[runtimes.runc]\nsystemd_cgroup = \"yes\"\n"));
        assertEquals("b.toml:2: daemon.root: expected an absolute path, got the integer 5",
                error("[daemon]\nroot = 5\n"));
    }

    @Test
    void valueOutsideItsSetIsAnError() {
        assertEquals("b.toml:3: daemon.log_level: \"verbose\" is not one of debug, info, warn, error",
                error("[daemon]\n\nlog_level = \"verbose\"\n"));
        assertEquals("b.toml:2: runtime.cgroup_driver: \"cgroupv2\" is not one of auto, cgroupfs, systemd",
                error("[runtime]\ncgroup_driver = \"cgroupv2\"\n"));
    }

    @Test
    void relativePathsAreRejected() {
        assertEquals("b.toml:2: daemon.state: \"run/bollard\" is not an absolute path",
                error("[daemon]\nstate = \"run/bollard\"\n"));
        assertEquals("b.toml:2: runtimes.runc.root: \"x\" is not an absolute path",
                error("[runtimes.runc]\nroot = \"x\"\n"));
        assertEquals("b.toml:2: registry.config_path: \"certs.d\" is not an absolute path",
                error("[registry]\nconfig_path = \"certs.d\"\n"));
    }

    @Test
    void registrySectionRejectsUnknownKeys() {
        assertEquals("b.toml:3: unknown key \"mirrors\" in [registry] (known: config_path, max_concurrent_downloads, pull_progress_timeout_seconds)",
                error("[registry]\nconfig_path = \"/x\"\nmirrors = []\n"));
    }

    @Test
    void emptyShimIsRejected() {
        assertEquals("b.toml:2: runtimes.runc.shim: must not be empty", error("[runtimes.runc]\nshim = \"\"\n"));
    }

    @Test
    void podsPerShimGroupsByNamespaceByDefaultAndIsRefusedWhereAShimHoldsOneSandbox() throws Exception {
        var c = ConfigLoader.parse("[runtimes.runc]\npods_per_shim = 10\n[runtimes.crun]\npods_per_shim = 4\n"
                + "shim_grouping = \"annotation\"\n", "t.toml");
        assertEquals(10, c.runtimes().get("runc").podsPerShim());
        assertEquals("namespace", c.runtimes().get("runc").shimGrouping());
        assertEquals("annotation", c.runtimes().get("crun").shimGrouping());
        assertEquals(1, c.runtimes().get("runsc").podsPerShim(), "one shim per pod by default");
        assertEquals("b.toml:2: runtimes.runsc.pods_per_shim: 2 is not possible for this handler (runsc: gVisor runs "
                + "one sandbox per shim process); leave it at 1", error("[runtimes.runsc]\npods_per_shim = 2\n"));
        assertEquals("b.toml:3: runtimes.vm.pods_per_shim: 5 is not possible for this handler (the VM shim runs one "
                + "sandbox per shim process); leave it at 1",
                error("[runtimes.vm]\nshim = \"/opt/bollard/containerd-shim-bollard-vm-v2\"\npods_per_shim = 5\n"));
        assertTrue(error("[runtimes.runc]\npods_per_shim = 0\n").contains("pods_per_shim"));
        assertTrue(error("[runtimes.runc]\nshim_grouping = \"node\"\n").contains("shim_grouping"));
    }

    @Test
    void handlerNamesMustBeDnsLabels() {
        assertTrue(error("[runtimes.Kata_QEMU]\nshim = \"x\"\n")
                .startsWith("b.toml:1: runtimes.Kata_QEMU: handler names must be DNS labels"));
    }

    @Test
    void handlerMustBeATable() {
        assertEquals("b.toml:2: runtimes.runc: expected a table [runtimes.runc]", error("[runtimes]\nrunc = \"x\"\n"));
    }

    @Test
    void defaultRuntimeMustBeConfigured() {
        assertEquals("b.toml:2: runtime.default_runtime: \"kata\" is not a configured handler (configured: runc, crun, runsc, vm)",
                error("[runtime]\ndefault_runtime = \"kata\"\n"));
    }

    @Test
    void syntaxErrorsCarryTheLine() {
        String m = error("[daemon]\nsocket = \"/x\"\nroot = /var/lib\n");
        assertTrue(m.startsWith("b.toml:3: TOML syntax error: "), m);
        assertFalse(m.contains("(line "), "the position is said once: " + m);
    }

    @Test
    void duplicateKeysAreSyntaxErrors() {
        assertTrue(error("[daemon]\nroot = \"/a\"\nroot = \"/b\"\n").startsWith("b.toml:3: TOML syntax error"));
    }

    @Test
    void unreadableFileIsAClearError(@TempDir Path dir) {
        var m = assertThrows(ConfigException.class, () -> ConfigLoader.load(dir)).getMessage();
        assertTrue(m.startsWith(dir + ": cannot read config: "), m);
    }

    @Test
    void defaultConfigRendersEveryKeyAndParsesBackToTheDefaults() throws Exception {
        String text = DefaultConfig.render();
        for (var section : ConfigSchema.SECTIONS) {
            for (var key : section.keys()) {
                assertTrue(text.contains("\n" + key.name() + " = "), "rendered: " + key.name());
            }
        }
        assertTrue(text.contains("[runtimes.crun]\n"));
        assertTrue(text.contains("# One of: auto, cgroupfs, systemd."));
        assertEquals(ConfigLoader.defaults(), ConfigLoader.parse(text, "default.toml"));
    }

    @Test
    void theVmHandlerHasItsSettingsByDefault() throws Exception {
        var vm = ConfigLoader.parse("", "t.toml").runtimes().get("vm");
        assertEquals("containerd-shim-bollard-vm-v2", vm.shim());
        assertEquals(Optional.of(new BollardConfig.Vm("qemu-system-x86_64", Optional.empty(), Optional.empty(), 1, 256,
                BollardConfig.Accelerator.AUTO)), vm.vm());
        assertEquals(Optional.empty(), ConfigLoader.parse("", "t.toml").runtimes().get("runc").vm(),
                "a runc handler has no VM settings");
    }

    @Test
    void vmSettingsAreReadFromTheFile() throws Exception {
        var c = ConfigLoader.parse("""
                [runtimes.vm]
                hypervisor = "/opt/qemu/bin/qemu-system-x86_64"
                kernel = "/srv/guest/vmlinux"
                initrd = "/srv/guest/initrd.img"
                vcpus = 2
                memory_mb = 512
                accelerator = "tcg"

                [runtimes.kata-like]
                shim = "/opt/bollard/bin/containerd-shim-bollard-vm-v2"
                memory_mb = 1024
                """, "t.toml");
        assertEquals(new BollardConfig.Vm("/opt/qemu/bin/qemu-system-x86_64", Optional.of(Path.of("/srv/guest/vmlinux")),
                Optional.of(Path.of("/srv/guest/initrd.img")), 2, 512, BollardConfig.Accelerator.TCG),
                c.runtimes().get("vm").vm().orElseThrow());
        var other = c.runtimes().get("kata-like").vm().orElseThrow();
        assertEquals(1024, other.memoryMb(), "a second VM handler, by its shim");
        assertEquals(BollardConfig.Accelerator.AUTO, other.accelerator());
    }

    @Test
    void badVmSettingsAreRejectedAtLoadNamingTheKey() {
        assertTrue(error("[runtimes.vm]\naccelerator = \"xen\"\n")
                .contains("runtimes.vm.accelerator: \"xen\" is not one of auto, kvm, tcg"));
        assertTrue(error("[runtimes.vm]\nmemory_mb = 64\n").contains("runtimes.vm.memory_mb: 64 is outside 128.."));
        assertTrue(error("[runtimes.vm]\nvcpus = 65\n").contains("runtimes.vm.vcpus: 65 is more than 64"));
        assertTrue(error("[runtimes.vm]\nvcpus = 0\n").contains("runtimes.vm.vcpus: expected a positive integer"));
        assertTrue(error("[runtimes.vm]\nkernel = \"vmlinux\"\n")
                .contains("runtimes.vm.kernel: \"vmlinux\" is not an absolute path"));
        assertTrue(error("[runtimes.vm]\nhypervisor = \"bin/qemu\"\n")
                .contains("runtimes.vm.hypervisor: \"bin/qemu\" is neither a name on PATH nor an absolute path"));
        assertTrue(error("[runtimes.vm]\nmemory = 512\n").contains("unknown key \"memory\" in [runtimes.vm]"));
        String m = error("[runtimes.runc]\nmemory_mb = 512\n");
        assertTrue(m.contains("runtimes.runc.memory_mb: only a VM handler (shim = \"containerd-shim-bollard-vm-v2\")"), m);
        assertTrue(m.contains("b.toml:2"), "names the line: " + m);
    }

    @Test
    void defaultConfigShowsVmKeysOnlyInTheVmTable() {
        String text = DefaultConfig.render();
        int vm = text.indexOf("[runtimes.vm]\n");
        assertTrue(vm > 0, text);
        String vmTable = text.substring(vm, text.indexOf("\n[", vm + 1));
        for (String key : ConfigSchema.VM_KEYS) {
            assertTrue(vmTable.contains("\n" + key + " = "), key + " in " + vmTable);
        }
        assertTrue(vmTable.contains("# One of: auto, kvm, tcg."));
        assertTrue(vmTable.contains("shim = \"containerd-shim-bollard-vm-v2\""));
        String runc = text.substring(text.indexOf("[runtimes.runc]\n"), text.indexOf("[runtimes.crun]\n"));
        assertFalse(runc.contains("memory_mb"), runc);
    }
}
