package dev.bollard.daemon.oci;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.bollard.api.cri.v1.Capability;
import dev.bollard.api.cri.v1.ContainerConfig;
import dev.bollard.api.cri.v1.ContainerMetadata;
import dev.bollard.api.cri.v1.HugepageLimit;
import dev.bollard.api.cri.v1.ImageSpec;
import dev.bollard.api.cri.v1.Int64Value;
import dev.bollard.api.cri.v1.KeyValue;
import dev.bollard.api.cri.v1.LinuxContainerConfig;
import dev.bollard.api.cri.v1.LinuxContainerResources;
import dev.bollard.api.cri.v1.LinuxContainerSecurityContext;
import dev.bollard.api.cri.v1.LinuxPodSandboxConfig;
import dev.bollard.api.cri.v1.LinuxSandboxSecurityContext;
import dev.bollard.api.cri.v1.Mount;
import dev.bollard.api.cri.v1.MountPropagation;
import dev.bollard.api.cri.v1.NamespaceMode;
import dev.bollard.api.cri.v1.NamespaceOption;
import dev.bollard.api.cri.v1.PodSandboxConfig;
import dev.bollard.api.cri.v1.PodSandboxMetadata;
import dev.bollard.api.cri.v1.SecurityProfile;
import dev.bollard.api.cri.v1.SupplementalGroupsPolicy;
import dev.bollard.daemon.image.ImageConfigs;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SpecBuilderTest {

    private static final NodeProfile NODE = new NodeProfile(0, false, false, true, false, false);

    @TempDir
    Path dir;

    private final RootfsFiles rootfs = path -> switch (path) {
        case "/etc/passwd" -> Optional.of(("root:x:0:0:root:/root:/bin/sh\n"
                + "# comment\n"
                + "app:x:1000:1001:App:/home/app:/bin/sh\n"
                + "nobody:x:65534:65534::/:/sbin/nologin\n").getBytes(StandardCharsets.UTF_8));
        case "/etc/group" -> Optional.of(("root:x:0:\n"
                + "appgrp:x:1001:\n"
                + "wheel:x:10:root,app\n"
                + "video:x:44:app\n"
                + "staff:x:50:\n").getBytes(StandardCharsets.UTF_8));
        default -> Optional.empty();
    };

    // ---- helpers

    private PodContext pod(PodSandboxConfig config, Optional<Path> netns, Optional<Path> shm) {
        return new PodContext("sb1", config, netns, 4242, dir.resolve("hostname"), dir.resolve("hosts"),
                dir.resolve("resolv.conf"), shm, "/kubepods/podabc", "runc", "pause");
    }

    private PodContext pod() {
        return pod(podConfig(LinuxSandboxSecurityContext.getDefaultInstance()),
                Optional.of(Path.of("/var/run/netns/cni-1")), Optional.of(Path.of("/run/bollard/sb1/shm")));
    }

    private static PodSandboxConfig podConfig(LinuxSandboxSecurityContext sc) {
        return PodSandboxConfig.newBuilder()
                .setMetadata(PodSandboxMetadata.newBuilder().setName("web").setNamespace("prod").setUid("u-1"))
                .setHostname("web-0")
                .setLogDirectory("/var/log/pods/prod_web_u-1")
                .putAnnotations("kubernetes.io/config.seen", "now")
                .setLinux(LinuxPodSandboxConfig.newBuilder().setCgroupParent("/kubepods/podabc").setSecurityContext(sc))
                .build();
    }

    private static ImageConfigs.Parsed image(String configJson) {
        return new ImageConfigs.Parsed(List.of(), ImageConfigs.User.NONE,
                JsonParser.parseString("{\"config\":" + configJson + "}").getAsJsonObject());
    }

    private static ContainerConfig.Builder container() {
        return ContainerConfig.newBuilder().setMetadata(ContainerMetadata.newBuilder().setName("app"))
                .setImage(ImageSpec.newBuilder().setImage("sha256:abc").setUserSpecifiedImage("nginx:1"));
    }

    private static ContainerConfig withSc(LinuxContainerSecurityContext.Builder sc) {
        return container().setLinux(LinuxContainerConfig.newBuilder().setSecurityContext(sc)).build();
    }

    private JsonObject spec(ContainerConfig config) throws IOException {
        return spec(NODE, pod(), config, image("{\"Cmd\":[\"/bin/sh\"]}"));
    }

    private JsonObject spec(NodeProfile node, PodContext pod, ContainerConfig config, ImageConfigs.Parsed image)
            throws IOException {
        return containerSpec(node, pod, config, image, 0, SpecInputs.Handler.DEFAULT);
    }

    /** The resolver reads what the spec needs (this rootfs's users, host paths, devices), then the builder runs. */
    private JsonObject containerSpec(NodeProfile node, PodContext pod, ContainerConfig config, ImageConfigs.Parsed image,
                                     int targetPid, SpecInputs.Handler handler) throws IOException {
        return new SpecBuilder(node).containerSpec(pod, "c1", config, image,
                SpecInputsResolver.container(pod, config, rootfs, targetPid, handler));
    }

    private static List<String> strings(JsonElement array) {
        var out = new ArrayList<String>();
        if (array != null) {
            array.getAsJsonArray().forEach(e -> out.add(e.getAsString()));
        }
        return out;
    }

    private static List<String> caps(JsonObject spec) {
        return strings(spec.getAsJsonObject("process").getAsJsonObject("capabilities").get("bounding"));
    }

    private static JsonObject mountAt(JsonObject spec, String destination) {
        for (JsonElement m : spec.getAsJsonArray("mounts")) {
            if (m.getAsJsonObject().get("destination").getAsString().equals(destination)) {
                return m.getAsJsonObject();
            }
        }
        return null;
    }

    private static Map<String, String> namespaces(JsonObject spec) {
        var out = new java.util.LinkedHashMap<String, String>();
        for (JsonElement n : spec.getAsJsonObject("linux").getAsJsonArray("namespaces")) {
            JsonObject o = n.getAsJsonObject();
            out.put(o.get("type").getAsString(), o.has("path") ? o.get("path").getAsString() : "");
        }
        return out;
    }

    // ---- process args

    @ParameterizedTest(name = "command={0} args={1} entrypoint={2} cmd={3} -> {4}")
    @CsvSource(delimiter = '|', nullValues = "-", value = {
            // command | args | image Entrypoint | image Cmd | result
            "-       | -     | -          | c1 c2 | c1 c2",
            "-       | -     | e1         | -     | e1",
            "-       | -     | e1         | c1 c2 | e1 c1 c2",
            "-       | a1    | -          | c1    | a1",
            "-       | a1    | e1         | c1    | e1 a1",
            "-       | a1 a2 | -          | -     | a1 a2",
            "x1      | -     | -          | -     | x1",
            "x1      | -     | e1         | c1    | x1",
            "x1      | a1    | e1         | c1    | x1 a1",
            "x1 x2   | a1    | -          | -     | x1 x2 a1",
    })
    void commandArgsAndImageMerge(String command, String args, String entrypoint, String cmd, String expected) {
        var config = container();
        if (command != null) {
            config.addAllCommand(Arrays.asList(command.trim().split(" ")));
        }
        if (args != null) {
            config.addAllArgs(Arrays.asList(args.trim().split(" ")));
        }
        var image = new JsonObject();
        if (entrypoint != null) {
            image.add("Entrypoint", array(entrypoint.trim().split(" ")));
        }
        if (cmd != null) {
            image.add("Cmd", array(cmd.trim().split(" ")));
        }
        assertEquals(Arrays.asList(expected.trim().split(" ")), SpecBuilder.processArgs(config.build(), image));
    }

    @Test
    void noCommandAnywhereIsRejected() {
        var e = assertThrows(IllegalArgumentException.class,
                () -> SpecBuilder.processArgs(container().build(), new JsonObject()));
        assertTrue(e.getMessage().contains("no command"), e.getMessage());
    }

    private static JsonArray array(String... values) {
        var a = new JsonArray();
        for (String v : values) {
            a.add(v);
        }
        return a;
    }

    // ---- env and cwd

    @Test
    void configEnvOverridesImageEnvByName() throws IOException {
        var config = container().addCommand("/bin/true")
                .addEnvs(KeyValue.newBuilder().setKey("A").setValue("from-config"))
                .addEnvs(KeyValue.newBuilder().setKey("C").setValue("3")).build();
        JsonObject spec = spec(NODE, pod(), config,
                image("{\"Env\":[\"PATH=/opt/bin:/bin\",\"A=from-image\",\"B=2\"]}"));
        assertEquals(List.of("PATH=/opt/bin:/bin", "HOSTNAME=web-0", "A=from-config", "B=2", "C=3"),
                strings(spec.getAsJsonObject("process").get("env")));
    }

    @Test
    void defaultPathWhenTheImageHasNone() throws IOException {
        JsonObject spec = spec(container().addCommand("/bin/true").build());
        assertEquals(SpecBuilder.DEFAULT_PATH_ENV, strings(spec.getAsJsonObject("process").get("env")).getFirst());
    }

    @Test
    void cwdFromConfigThenImageThenRoot() throws IOException {
        assertEquals("/cfg", spec(NODE, pod(), container().addCommand("x").setWorkingDir("/cfg").build(),
                image("{\"WorkingDir\":\"/img\"}")).getAsJsonObject("process").get("cwd").getAsString());
        assertEquals("/img", spec(NODE, pod(), container().addCommand("x").build(),
                image("{\"WorkingDir\":\"/img\"}")).getAsJsonObject("process").get("cwd").getAsString());
        assertEquals("/", spec(container().addCommand("x").build()).getAsJsonObject("process").get("cwd").getAsString());
        var e = assertThrows(IllegalArgumentException.class,
                () -> spec(container().addCommand("x").setWorkingDir("rel").build()));
        assertTrue(e.getMessage().contains("working_dir"), e.getMessage());
    }

    // ---- users

    private JsonObject userOf(LinuxContainerSecurityContext.Builder sc, String imageUser) throws IOException {
        var config = container().addCommand("x").setLinux(LinuxContainerConfig.newBuilder().setSecurityContext(sc)).build();
        return spec(NODE, pod(), config, image("{\"User\":\"" + imageUser + "\"}"))
                .getAsJsonObject("process").getAsJsonObject("user");
    }

    private static List<Long> gids(JsonObject user) {
        var out = new ArrayList<Long>();
        if (user.has("additionalGids")) {
            user.getAsJsonArray("additionalGids").forEach(e -> out.add(e.getAsLong()));
        }
        return out;
    }

    @Test
    void imageUserByName() throws IOException {
        JsonObject u = userOf(LinuxContainerSecurityContext.newBuilder(), "app");
        assertEquals(1000, u.get("uid").getAsLong());
        assertEquals(1001, u.get("gid").getAsLong());
        assertEquals(List.of(1001L, 10L, 44L), gids(u), "primary group, then the /etc/group memberships");
    }

    @Test
    void imageUserByUidTakesTheGidFromPasswd() throws IOException {
        JsonObject u = userOf(LinuxContainerSecurityContext.newBuilder(), "1000");
        assertEquals(1000, u.get("uid").getAsLong());
        assertEquals(1001, u.get("gid").getAsLong());
        JsonObject unknown = userOf(LinuxContainerSecurityContext.newBuilder(), "4321");
        assertEquals(4321, unknown.get("uid").getAsLong());
        assertEquals(0, unknown.get("gid").getAsLong());
    }

    @Test
    void imageUserWithGroup() throws IOException {
        JsonObject byName = userOf(LinuxContainerSecurityContext.newBuilder(), "app:staff");
        assertEquals(1000, byName.get("uid").getAsLong());
        assertEquals(50, byName.get("gid").getAsLong());
        JsonObject numeric = userOf(LinuxContainerSecurityContext.newBuilder(), "1234:5678");
        assertEquals(1234, numeric.get("uid").getAsLong());
        assertEquals(5678, numeric.get("gid").getAsLong());
    }

    @Test
    void emptyUserIsRoot() throws IOException {
        JsonObject u = userOf(LinuxContainerSecurityContext.newBuilder(), "");
        assertEquals(0, u.get("uid").getAsLong());
        assertEquals(0, u.get("gid").getAsLong());
        assertEquals(List.of(0L, 10L), gids(u));
    }

    @Test
    void unknownUserOrGroupNamesAreRejectedByName() {
        var e = assertThrows(IllegalArgumentException.class,
                () -> userOf(LinuxContainerSecurityContext.newBuilder(), "ghost"));
        assertTrue(e.getMessage().contains("\"ghost\"") && e.getMessage().contains("image config User"), e.getMessage());
        var g = assertThrows(IllegalArgumentException.class,
                () -> userOf(LinuxContainerSecurityContext.newBuilder(), "app:nogroup"));
        assertTrue(g.getMessage().contains("\"nogroup\""), g.getMessage());
        var u = assertThrows(IllegalArgumentException.class,
                () -> userOf(LinuxContainerSecurityContext.newBuilder().setRunAsUsername("ghost"), ""));
        assertTrue(u.getMessage().contains("run_as_username"), u.getMessage());
        assertThrows(IllegalArgumentException.class, () -> userOf(LinuxContainerSecurityContext.newBuilder(), "a:b:c"));
    }

    @Test
    void securityContextOverridesImageUser() throws IOException {
        JsonObject u = userOf(LinuxContainerSecurityContext.newBuilder()
                .setRunAsUser(Int64Value.newBuilder().setValue(65534))
                .setRunAsGroup(Int64Value.newBuilder().setValue(7))
                .addSupplementalGroups(3000), "app");
        assertEquals(65534, u.get("uid").getAsLong());
        assertEquals(7, u.get("gid").getAsLong());
        assertEquals(List.of(7L, 3000L), gids(u));

        JsonObject byName = userOf(LinuxContainerSecurityContext.newBuilder().setRunAsUsername("app"), "root");
        assertEquals(1000, byName.get("uid").getAsLong());
    }

    @Test
    void runAsGroupWithoutUserIsRejected() {
        var e = assertThrows(IllegalArgumentException.class, () -> userOf(LinuxContainerSecurityContext.newBuilder()
                .setRunAsGroup(Int64Value.newBuilder().setValue(7)), "app"));
        assertTrue(e.getMessage().contains("run_as_group"), e.getMessage());
    }

    @Test
    void strictPolicyIgnoresEtcGroup() throws IOException {
        JsonObject u = userOf(LinuxContainerSecurityContext.newBuilder()
                .setRunAsUsername("app")
                .addSupplementalGroups(3000)
                .setSupplementalGroupsPolicy(SupplementalGroupsPolicy.Strict), "");
        assertEquals(List.of(1001L, 3000L), gids(u));
    }

    // ---- capabilities

    private JsonObject withCaps(Capability.Builder caps) throws IOException {
        return spec(withSc(LinuxContainerSecurityContext.newBuilder().setCapabilities(caps)).toBuilder()
                .addCommand("x").build());
    }

    @Test
    void defaultCapabilitiesAreTheFourteen() throws IOException {
        List<String> caps = caps(spec(container().addCommand("x").build()));
        assertEquals(Capabilities.DEFAULT, caps);
        assertEquals(14, caps.size());
        JsonObject c = spec(container().addCommand("x").build()).getAsJsonObject("process").getAsJsonObject("capabilities");
        assertFalse(c.has("ambient") || c.has("inheritable"));
    }

    @Test
    void addAndDropWithOrWithoutPrefix() throws IOException {
        List<String> caps = caps(withCaps(Capability.newBuilder().addAddCapabilities("net_admin")
                .addAddCapabilities("CAP_SYS_TIME").addDropCapabilities("NET_RAW").addDropCapabilities("cap_chown")));
        assertTrue(caps.containsAll(List.of("CAP_NET_ADMIN", "CAP_SYS_TIME")));
        assertFalse(caps.contains("CAP_NET_RAW"));
        assertFalse(caps.contains("CAP_CHOWN"));
        assertEquals(14, caps.size());
    }

    @Test
    void dropAllThenAdd() throws IOException {
        assertEquals(List.of("CAP_NET_BIND_SERVICE"), caps(withCaps(Capability.newBuilder()
                .addDropCapabilities("ALL").addAddCapabilities("NET_BIND_SERVICE"))));
    }

    @Test
    void addAllThenDrop() throws IOException {
        List<String> caps = caps(withCaps(Capability.newBuilder().addAddCapabilities("all").addDropCapabilities("CHOWN")));
        assertEquals(Capabilities.KNOWN.size() - 1, caps.size());
        assertFalse(caps.contains("CAP_CHOWN"));
    }

    @Test
    void unknownCapabilityIsRejected() {
        var e = assertThrows(IllegalArgumentException.class,
                () -> withCaps(Capability.newBuilder().addAddCapabilities("NET_WIZARD")));
        assertTrue(e.getMessage().contains("NET_WIZARD") && e.getMessage().contains("add_capabilities"), e.getMessage());
    }

    @Test
    void privilegedGetsTheNodesCapabilitiesNoMaskingAndWritableSys() throws IOException {
        var node = new NodeProfile(0, false, false, true, false, false,
                List.of("CAP_CHOWN", "CAP_SYS_ADMIN"), true, true);
        var privPod = pod(podConfig(LinuxSandboxSecurityContext.newBuilder().setPrivileged(true).build()),
                Optional.of(Path.of("/var/run/netns/x")), Optional.of(Path.of("/shm")));
        var config = withSc(LinuxContainerSecurityContext.newBuilder().setPrivileged(true)
                .setSeccomp(SecurityProfile.newBuilder().setProfileType(SecurityProfile.ProfileType.RuntimeDefault)))
                .toBuilder().addCommand("x").build();
        JsonObject spec = containerSpec(node, privPod, config, image("{}"), 0, new SpecInputs.Handler(true, false));
        assertEquals(List.of("CAP_CHOWN", "CAP_SYS_ADMIN"), caps(spec));
        JsonObject linux = spec.getAsJsonObject("linux");
        assertFalse(linux.has("maskedPaths"));
        assertFalse(linux.has("readonlyPaths"));
        assertFalse(linux.has("seccomp"));
        assertTrue(strings(mountAt(spec, "/sys").get("options")).contains("rw"));
        assertTrue(strings(mountAt(spec, "/sys/fs/cgroup").get("options")).contains("rw"));
        // privilegedWithoutHostDevices: still deny-all plus the requested devices only
        assertFalse(linux.getAsJsonObject("resources").getAsJsonArray("devices").get(0).getAsJsonObject()
                .get("allow").getAsBoolean());

        JsonObject withHost = containerSpec(node, privPod, config, image("{}"), 0, SpecInputs.Handler.DEFAULT);
        JsonObject rule = withHost.getAsJsonObject("linux").getAsJsonObject("resources").getAsJsonArray("devices")
                .get(0).getAsJsonObject();
        assertTrue(rule.get("allow").getAsBoolean());
        assertTrue(withHost.getAsJsonObject("linux").getAsJsonArray("devices").size() > 0, "the node's /dev devices");
    }

    @Test
    void privilegedContainerNeedsAPrivilegedSandbox() {
        var e = assertThrows(IllegalArgumentException.class, () -> spec(withSc(
                LinuxContainerSecurityContext.newBuilder().setPrivileged(true)).toBuilder().addCommand("x").build()));
        assertTrue(e.getMessage().contains("privileged"), e.getMessage());
    }

    // ---- mounts

    @Test
    void defaultMountsAndPodFiles() throws IOException {
        JsonObject spec = spec(container().addCommand("x").build());
        assertEquals("proc", mountAt(spec, "/proc").get("type").getAsString());
        assertEquals("tmpfs", mountAt(spec, "/dev").get("type").getAsString());
        assertEquals("devpts", mountAt(spec, "/dev/pts").get("type").getAsString());
        assertEquals("mqueue", mountAt(spec, "/dev/mqueue").get("type").getAsString());
        assertTrue(strings(mountAt(spec, "/sys").get("options")).contains("ro"));
        assertTrue(strings(mountAt(spec, "/sys/fs/cgroup").get("options")).contains("ro"));
        assertNull(mountAt(spec, "/run"));
        JsonObject shm = mountAt(spec, "/dev/shm");
        assertEquals("bind", shm.get("type").getAsString());
        assertEquals("/run/bollard/sb1/shm", shm.get("source").getAsString());
        for (String f : List.of("/etc/hostname", "/etc/hosts", "/etc/resolv.conf")) {
            JsonObject m = mountAt(spec, f);
            assertEquals(dir.resolve(f.substring(5)).toString(), m.get("source").getAsString(), f);
            assertTrue(strings(m.get("options")).contains("rw"), f + " is writable without readonly_rootfs");
        }
    }

    @Test
    void readonlyRootfsMakesRootAndPodFilesReadOnly() throws IOException {
        JsonObject spec = spec(withSc(LinuxContainerSecurityContext.newBuilder().setReadonlyRootfs(true))
                .toBuilder().addCommand("x").build());
        assertTrue(spec.getAsJsonObject("root").get("readonly").getAsBoolean());
        assertTrue(strings(mountAt(spec, "/etc/hosts").get("options")).contains("ro"));
        assertTrue(strings(mountAt(spec, "/dev/shm").get("options")).contains("rw"), "/dev/shm stays writable");
        assertFalse(spec(container().addCommand("x").build()).getAsJsonObject("root").get("readonly").getAsBoolean());
    }

    @Test
    void criMountsWithPropagationSortedParentsFirst() throws IOException {
        Path data = Files.createDirectories(dir.resolve("data"));
        Path deep = Files.createDirectories(dir.resolve("deep"));
        Path link = Files.createSymbolicLink(dir.resolve("link"), data);
        var config = container().addCommand("x")
                .addMounts(Mount.newBuilder().setContainerPath("/data/sub/deep").setHostPath(deep.toString())
                        .setPropagation(MountPropagation.PROPAGATION_HOST_TO_CONTAINER))
                .addMounts(Mount.newBuilder().setContainerPath("/data").setHostPath(link.toString()).setReadonly(true))
                .addMounts(Mount.newBuilder().setContainerPath("/shared").setHostPath(data.toString())
                        .setPropagation(MountPropagation.PROPAGATION_BIDIRECTIONAL))
                .addMounts(Mount.newBuilder().setContainerPath("/etc/hosts").setHostPath(data.toString()))
                .build();
        JsonObject spec = spec(config);
        JsonObject ro = mountAt(spec, "/data");
        assertEquals(data.toRealPath().toString(), ro.get("source").getAsString(), "symlink resolved");
        assertEquals(List.of("rbind", "rprivate", "ro"), strings(ro.get("options")));
        assertEquals(List.of("rbind", "rslave", "rw"), strings(mountAt(spec, "/data/sub/deep").get("options")));
        assertEquals(List.of("rbind", "rshared", "rw"), strings(mountAt(spec, "/shared").get("options")));
        assertEquals(data.toRealPath().toString(), mountAt(spec, "/etc/hosts").get("source").getAsString(),
                "the kubelet's /etc/hosts replaces the pod's");
        assertEquals("rshared", spec.getAsJsonObject("linux").get("rootfsPropagation").getAsString());
        var order = new ArrayList<String>();
        spec.getAsJsonArray("mounts").forEach(m -> order.add(m.getAsJsonObject().get("destination").getAsString()));
        assertTrue(order.indexOf("/data") < order.indexOf("/data/sub/deep"), order.toString());
    }

    @Test
    void badMountsAreRejectedNamingTheField() throws IOException {
        Path data = Files.createDirectories(dir.resolve("d"));
        var relative = assertThrows(IllegalArgumentException.class, () -> spec(container().addCommand("x")
                .addMounts(Mount.newBuilder().setContainerPath("data").setHostPath(data.toString())).build()));
        assertTrue(relative.getMessage().contains("mounts[0].container_path"), relative.getMessage());
        var missing = assertThrows(IllegalArgumentException.class, () -> spec(container().addCommand("x")
                .addMounts(Mount.newBuilder().setContainerPath("/d").setHostPath(dir + "/nope")).build()));
        assertTrue(missing.getMessage().contains("does not exist"), missing.getMessage());
        var rro = assertThrows(IllegalArgumentException.class, () -> spec(container().addCommand("x")
                .addMounts(Mount.newBuilder().setContainerPath("/d").setHostPath(data.toString())
                        .setRecursiveReadOnly(true)).build()));
        assertTrue(rro.getMessage().contains("recursive_read_only"), rro.getMessage());
    }

    @Test
    void hostIpcBindsTheNodesShm() throws IOException {
        JsonObject spec = spec(NODE, pod(podConfig(LinuxSandboxSecurityContext.getDefaultInstance()),
                        Optional.empty(), Optional.empty()),
                withSc(LinuxContainerSecurityContext.newBuilder()
                        .setNamespaceOptions(NamespaceOption.newBuilder().setIpc(NamespaceMode.NODE)))
                        .toBuilder().addCommand("x").build(), image("{}"));
        assertEquals("/dev/shm", mountAt(spec, "/dev/shm").get("source").getAsString());
        assertFalse(namespaces(spec).containsKey("ipc"));
    }

    // ---- namespaces

    @Test
    void containerJoinsThePodsNamespaces() throws IOException {
        Map<String, String> ns = namespaces(spec(container().addCommand("x").build()));
        assertEquals("/proc/4242/ns/pid", ns.get("pid"));
        assertEquals("/var/run/netns/cni-1", ns.get("network"));
        assertEquals("/proc/4242/ns/ipc", ns.get("ipc"));
        assertEquals("/proc/4242/ns/uts", ns.get("uts"));
        assertEquals("", ns.get("mount"));
        assertFalse(ns.containsKey("cgroup"), "no cgroup namespace on cgroup v1");
    }

    @Test
    void hostNetworkJoinsNoNetworkOrUtsNamespace() throws IOException {
        JsonObject spec = spec(NODE, pod(podConfig(LinuxSandboxSecurityContext.getDefaultInstance()),
                Optional.empty(), Optional.of(Path.of("/shm"))), container().addCommand("x").build(), image("{}"));
        Map<String, String> ns = namespaces(spec);
        assertFalse(ns.containsKey("network"));
        assertFalse(ns.containsKey("uts"));
        assertFalse(spec.has("hostname"));
    }

    @ParameterizedTest
    @CsvSource({"POD,/proc/4242/ns/pid", "CONTAINER,", "NODE,-", "TARGET,/proc/777/ns/pid"})
    void pidNamespaceModes(NamespaceMode mode, String expected) throws IOException {
        var config = withSc(LinuxContainerSecurityContext.newBuilder()
                .setNamespaceOptions(NamespaceOption.newBuilder().setPid(mode).setTargetId("t")))
                .toBuilder().addCommand("x").build();
        Map<String, String> ns = namespaces(containerSpec(NODE, pod(), config, image("{}"), 777,
                SpecInputs.Handler.DEFAULT));
        if ("-".equals(expected)) {
            assertFalse(ns.containsKey("pid"));
        } else {
            assertEquals(expected == null ? "" : expected, ns.get("pid"));
        }
    }

    @Test
    void targetWithoutPidIsRejected() {
        var config = withSc(LinuxContainerSecurityContext.newBuilder()
                .setNamespaceOptions(NamespaceOption.newBuilder().setPid(NamespaceMode.TARGET).setTargetId("t")))
                .toBuilder().addCommand("x").build();
        assertThrows(IllegalArgumentException.class, () -> spec(config));
    }

    @Test
    void cgroupNamespaceOnUnifiedNodes() throws IOException {
        var v2 = new NodeProfile(0, true, false, true, false, false);
        assertEquals("", namespaces(spec(v2, pod(), container().addCommand("x").build(), image("{}"))).get("cgroup"));
    }

    // ---- resources, oom, cgroups path

    @Test
    void resourcesMapping() {
        var r = LinuxContainerResources.newBuilder().setCpuShares(512).setCpuQuota(50000).setCpuPeriod(100000)
                .setCpusetCpus("0-1").setCpusetMems("0").setMemoryLimitInBytes(1 << 30)
                .addHugepageLimits(HugepageLimit.newBuilder().setPageSize("2MB").setLimit(4 << 20))
                .putUnified("memory.high", "900M").build();
        JsonObject v1 = new SpecBuilder(NODE).resources(r);
        JsonObject cpu = v1.getAsJsonObject("cpu");
        assertEquals(512, cpu.get("shares").getAsLong());
        assertEquals(50000, cpu.get("quota").getAsLong());
        assertEquals(100000, cpu.get("period").getAsLong());
        assertEquals("0-1", cpu.get("cpus").getAsString());
        assertEquals("0", cpu.get("mems").getAsString());
        assertEquals(1 << 30, v1.getAsJsonObject("memory").get("limit").getAsLong());
        assertEquals(1 << 30, v1.getAsJsonObject("memory").get("swap").getAsLong(), "no swap beyond the limit");
        assertEquals("2MB", v1.getAsJsonArray("hugepageLimits").get(0).getAsJsonObject().get("pageSize").getAsString());
        assertFalse(v1.has("unified"), "unified only on cgroup v2");

        JsonObject v2 = new SpecBuilder(new NodeProfile(0, true, false, true, false, false)).resources(
                r.toBuilder().setMemorySwapLimitInBytes(2L << 30).build());
        assertEquals("900M", v2.getAsJsonObject("unified").get("memory.high").getAsString());
        assertEquals(2L << 30, v2.getAsJsonObject("memory").get("swap").getAsLong());

        var noSwap = new NodeProfile(0, false, false, true, false, false, Capabilities.KNOWN, false, false);
        JsonObject plain = new SpecBuilder(noSwap).resources(r);
        assertFalse(plain.getAsJsonObject("memory").has("swap"));
        assertFalse(plain.has("hugepageLimits"));

        assertEquals(new JsonObject(), new SpecBuilder(NODE).resources(LinuxContainerResources.getDefaultInstance()));
        var bad = assertThrows(IllegalArgumentException.class, () -> new SpecBuilder(NODE).resources(
                LinuxContainerResources.newBuilder().setCpusetCpus("0-a").build()));
        assertTrue(bad.getMessage().contains("cpuset_cpus"), bad.getMessage());
    }

    @Test
    void oomScoreAdjIsClampedToTheNodesMinimum() throws IOException {
        var config = container().addCommand("x").setLinux(LinuxContainerConfig.newBuilder()
                .setResources(LinuxContainerResources.newBuilder().setOomScoreAdj(-500))).build();
        assertEquals(0, spec(config).getAsJsonObject("process").get("oomScoreAdj").getAsInt());
        var capable = new NodeProfile(-1000, false, false, true, false, false);
        assertEquals(-500, spec(capable, pod(), config, image("{}")).getAsJsonObject("process").get("oomScoreAdj").getAsInt());
        var high = container().addCommand("x").setLinux(LinuxContainerConfig.newBuilder()
                .setResources(LinuxContainerResources.newBuilder().setOomScoreAdj(1000))).build();
        assertEquals(1000, spec(high).getAsJsonObject("process").get("oomScoreAdj").getAsInt());
    }

    @Test
    void cgroupsPathForCgroupfsAndSystemd() throws IOException {
        assertEquals("/kubepods/podabc/c1",
                spec(container().addCommand("x").build()).getAsJsonObject("linux").get("cgroupsPath").getAsString());
        var systemd = new SpecBuilder(new NodeProfile(0, true, true, true, false, false));
        assertEquals("kubepods-besteffort-podabc.slice:bollard:c1",
                systemd.cgroupsPath("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-podabc.slice", "c1"));
    }

    @Test
    void devicesAreStattedWithACgroupRule() throws IOException {
        JsonObject spec = spec(container().addCommand("x").addDevices(dev.bollard.api.cri.v1.Device.newBuilder()
                .setContainerPath("/dev/mynull").setHostPath("/dev/null").setPermissions("rw")).build());
        JsonObject d = spec.getAsJsonObject("linux").getAsJsonArray("devices").get(0).getAsJsonObject();
        assertEquals("/dev/mynull", d.get("path").getAsString());
        assertEquals("c", d.get("type").getAsString());
        assertEquals(1, d.get("major").getAsLong());
        assertEquals(3, d.get("minor").getAsLong());
        JsonArray rules = spec.getAsJsonObject("linux").getAsJsonObject("resources").getAsJsonArray("devices");
        assertFalse(rules.get(0).getAsJsonObject().get("allow").getAsBoolean());
        JsonObject allow = rules.get(1).getAsJsonObject();
        assertTrue(allow.get("allow").getAsBoolean());
        assertEquals("rw", allow.get("access").getAsString());
        assertEquals(3, allow.get("minor").getAsLong());

        var notDevice = assertThrows(IllegalArgumentException.class, () -> spec(container().addCommand("x")
                .addDevices(dev.bollard.api.cri.v1.Device.newBuilder().setContainerPath("/dev/x")
                        .setHostPath(dir.toString())).build()));
        assertTrue(notDevice.getMessage().contains("devices[0]"), notDevice.getMessage());
    }

    // ---- security: masked paths, nnp, seccomp, tty

    @Test
    void maskedAndReadonlyPathsDefaultOrFromTheKubelet() throws IOException {
        JsonObject linux = spec(container().addCommand("x").build()).getAsJsonObject("linux");
        assertTrue(strings(linux.get("maskedPaths")).contains("/proc/kcore"));
        assertTrue(strings(linux.get("readonlyPaths")).contains("/proc/sys"));
        JsonObject given = spec(withSc(LinuxContainerSecurityContext.newBuilder().addMaskedPaths("/proc/x")
                .addReadonlyPaths("/proc/y").setNoNewPrivs(true)).toBuilder().addCommand("x").setTty(true).build());
        assertEquals(List.of("/proc/x"), strings(given.getAsJsonObject("linux").get("maskedPaths")));
        assertEquals(List.of("/proc/y"), strings(given.getAsJsonObject("linux").get("readonlyPaths")));
        assertTrue(given.getAsJsonObject("process").get("noNewPrivileges").getAsBoolean());
        assertTrue(given.getAsJsonObject("process").get("terminal").getAsBoolean());
    }

    private JsonObject seccompOf(LinuxContainerSecurityContext.Builder sc) throws IOException {
        JsonElement s = spec(withSc(sc).toBuilder().addCommand("x").build()).getAsJsonObject("linux").get("seccomp");
        return s == null ? null : s.getAsJsonObject();
    }

    private static List<String> allowed(JsonObject seccomp) {
        var out = new ArrayList<String>();
        for (JsonElement r : seccomp.getAsJsonArray("syscalls")) {
            JsonObject rule = r.getAsJsonObject();
            if (rule.get("action").getAsString().equals("SCMP_ACT_ALLOW") && !rule.has("args")) {
                out.addAll(strings(rule.get("names")));
            }
        }
        return out;
    }

    @Test
    void seccompRuntimeDefaultIsResolvedForTheCapabilities() throws IOException {
        JsonObject def = seccompOf(LinuxContainerSecurityContext.newBuilder()
                .setSeccomp(SecurityProfile.newBuilder().setProfileType(SecurityProfile.ProfileType.RuntimeDefault)));
        assertEquals("SCMP_ACT_ERRNO", def.get("defaultAction").getAsString());
        assertEquals(List.of("SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"), strings(def.get("architectures")));
        List<String> allowed = allowed(def);
        assertTrue(allowed.containsAll(List.of("read", "execve", "chroot", "openat")), "chroot: CAP_SYS_CHROOT is default");
        assertFalse(allowed.contains("mount"), "no mount without CAP_SYS_ADMIN");
        assertFalse(def.toString().contains("includes"), "template keys are resolved away");

        JsonObject admin = seccompOf(LinuxContainerSecurityContext.newBuilder()
                .setCapabilities(Capability.newBuilder().addAddCapabilities("SYS_ADMIN"))
                .setSeccomp(SecurityProfile.newBuilder().setProfileType(SecurityProfile.ProfileType.RuntimeDefault)));
        assertTrue(allowed(admin).containsAll(List.of("mount", "clone", "setns")));

        JsonObject legacy = seccompOf(LinuxContainerSecurityContext.newBuilder().setSeccompProfilePath("docker/default"));
        assertEquals(def, legacy);
    }

    @Test
    void seccompUnconfinedAndUnset() throws IOException {
        assertNull(seccompOf(LinuxContainerSecurityContext.newBuilder()));
        assertNull(seccompOf(LinuxContainerSecurityContext.newBuilder()
                .setSeccomp(SecurityProfile.newBuilder().setProfileType(SecurityProfile.ProfileType.Unconfined))));
        assertNull(seccompOf(LinuxContainerSecurityContext.newBuilder().setSeccompProfilePath("unconfined")));
    }

    @Test
    void seccompLocalhost() throws IOException {
        Path profile = Files.writeString(dir.resolve("p.json"), "{\"defaultAction\":\"SCMP_ACT_LOG\",\"syscalls\":[]}");
        JsonObject local = seccompOf(LinuxContainerSecurityContext.newBuilder().setSeccomp(SecurityProfile.newBuilder()
                .setProfileType(SecurityProfile.ProfileType.Localhost).setLocalhostRef(profile.toString())));
        assertEquals("SCMP_ACT_LOG", local.get("defaultAction").getAsString());
        assertEquals(local, seccompOf(LinuxContainerSecurityContext.newBuilder()
                .setSeccompProfilePath("localhost/" + profile)));
        var missing = assertThrows(IllegalArgumentException.class, () -> seccompOf(LinuxContainerSecurityContext
                .newBuilder().setSeccomp(SecurityProfile.newBuilder()
                        .setProfileType(SecurityProfile.ProfileType.Localhost).setLocalhostRef(dir + "/none.json"))));
        assertTrue(missing.getMessage().contains("none.json"), missing.getMessage());
        assertThrows(IllegalArgumentException.class,
                () -> seccompOf(LinuxContainerSecurityContext.newBuilder().setSeccompProfilePath("bogus")));
    }

    // ---- annotations

    @Test
    void containerAnnotations() throws IOException {
        JsonObject a = spec(container().addCommand("x").putAnnotations("io.kubernetes.container.hash", "h")
                .putAnnotations(SpecBuilder.ANNOTATION_CONTAINER_TYPE, "spoofed").build()).getAsJsonObject("annotations");
        assertEquals("container", a.get(SpecBuilder.ANNOTATION_CONTAINER_TYPE).getAsString());
        assertEquals("app", a.get(SpecBuilder.ANNOTATION_CONTAINER_NAME).getAsString());
        assertEquals("sb1", a.get(SpecBuilder.ANNOTATION_SANDBOX_ID).getAsString());
        assertEquals("web", a.get(SpecBuilder.ANNOTATION_SANDBOX_NAME).getAsString());
        assertEquals("prod", a.get(SpecBuilder.ANNOTATION_SANDBOX_NAMESPACE).getAsString());
        assertEquals("u-1", a.get(SpecBuilder.ANNOTATION_SANDBOX_UID).getAsString());
        assertEquals("nginx:1", a.get(SpecBuilder.ANNOTATION_IMAGE_NAME).getAsString());
        assertEquals("h", a.get("io.kubernetes.container.hash").getAsString());
    }

    // ---- the infra container

    @Test
    void sandboxSpec() throws IOException {
        var sc = LinuxSandboxSecurityContext.newBuilder()
                .setRunAsUser(Int64Value.newBuilder().setValue(65535))
                .setSeccomp(SecurityProfile.newBuilder().setProfileType(SecurityProfile.ProfileType.RuntimeDefault))
                .build();
        PodSandboxConfig config = podConfig(sc).toBuilder()
                .setLinux(podConfig(sc).getLinux().toBuilder().putSysctls("net.ipv4.ip_forward", "1")
                        .setResources(LinuxContainerResources.newBuilder().setCpuShares(1024)
                                .setMemoryLimitInBytes(1 << 28)))
                .build();
        PodContext pod = pod(config, Optional.of(Path.of("/var/run/netns/cni-1")), Optional.of(Path.of("/shm/sb1")));
        JsonObject spec = sandboxSpec(pod, "sb1", List.of("/catatonit", "-P"));
        JsonObject process = spec.getAsJsonObject("process");
        assertEquals(List.of("/catatonit", "-P"), strings(process.get("args")));
        assertEquals(65535, process.getAsJsonObject("user").get("uid").getAsLong());
        assertEquals(0, process.get("oomScoreAdj").getAsInt(), "-998 clamped to the node's 0");
        assertTrue(spec.getAsJsonObject("root").get("readonly").getAsBoolean());
        assertEquals("web-0", spec.get("hostname").getAsString());
        Map<String, String> ns = namespaces(spec);
        assertEquals(Map.of("pid", "", "network", "/var/run/netns/cni-1", "ipc", "", "uts", "", "mount", ""), ns);
        JsonObject linux = spec.getAsJsonObject("linux");
        assertEquals("/kubepods/podabc/sb1", linux.get("cgroupsPath").getAsString());
        assertEquals("1", linux.getAsJsonObject("sysctl").get("net.ipv4.ip_forward").getAsString());
        assertEquals(2, linux.getAsJsonObject("resources").getAsJsonObject("cpu").get("shares").getAsLong());
        assertTrue(linux.has("seccomp"));
        assertEquals("/shm/sb1", mountAt(spec, "/dev/shm").get("source").getAsString());
        assertTrue(strings(mountAt(spec, "/dev/shm").get("options")).contains("ro"));
        JsonObject a = spec.getAsJsonObject("annotations");
        assertEquals("sandbox", a.get(SpecBuilder.ANNOTATION_CONTAINER_TYPE).getAsString());
        assertEquals("sb1", a.get(SpecBuilder.ANNOTATION_SANDBOX_ID).getAsString());
        assertEquals("/var/log/pods/prod_web_u-1", a.get(SpecBuilder.ANNOTATION_SANDBOX_LOG_DIR).getAsString());
        assertEquals("1024", a.get(SpecBuilder.ANNOTATION_SANDBOX_CPU_SHARES).getAsString());
        assertEquals("now", a.get("kubernetes.io/config.seen").getAsString());
    }

    @Test
    void sandboxWithHostNamespaces() throws IOException {
        var sc = LinuxSandboxSecurityContext.newBuilder().setNamespaceOptions(NamespaceOption.newBuilder()
                .setNetwork(NamespaceMode.NODE).setPid(NamespaceMode.NODE).setIpc(NamespaceMode.NODE)).build();
        PodContext pod = pod(podConfig(sc), Optional.empty(), Optional.empty());
        JsonObject spec = sandboxSpec(pod, "sb1", List.of("/pause"));
        assertEquals(Map.of("mount", ""), namespaces(spec));
        assertFalse(spec.has("hostname"));
        assertEquals("/dev/shm", mountAt(spec, "/dev/shm").get("source").getAsString());

        PodSandboxConfig withNetSysctl = podConfig(sc).toBuilder().setLinux(podConfig(sc).getLinux().toBuilder()
                .putSysctls("net.core.somaxconn", "1024")).build();
        var e = assertThrows(IllegalArgumentException.class, () -> sandboxSpec(
                pod(withNetSysctl, Optional.empty(), Optional.empty()), "sb1", List.of("/pause")));
        assertTrue(e.getMessage().contains("net.core.somaxconn"), e.getMessage());
    }

    private static JsonObject sandboxSpec(PodContext pod, String id, List<String> args) throws IOException {
        return new SpecBuilder(NODE).sandboxSpec(pod, id, args, SpecInputsResolver.sandbox(pod));
    }

    // ---- exec, signals, stop signal

    @Test
    void execProcessKeepsTheContainersIdentity() throws IOException {
        JsonObject spec = spec(withSc(LinuxContainerSecurityContext.newBuilder().setRunAsUsername("app"))
                .toBuilder().addCommand("x").setWorkingDir("/w").build());
        JsonObject p = SpecBuilder.execProcess(spec, List.of("ls", "-l"), true);
        assertEquals(List.of("ls", "-l"), strings(p.get("args")));
        assertTrue(p.get("terminal").getAsBoolean());
        assertEquals(1000, p.getAsJsonObject("user").get("uid").getAsLong());
        assertEquals("/w", p.get("cwd").getAsString());
        assertEquals(spec.getAsJsonObject("process").get("env"), p.get("env"));
        assertThrows(IllegalArgumentException.class, () -> SpecBuilder.execProcess(spec, List.of(), false));
    }

    @ParameterizedTest
    @CsvSource({"SIGTERM,15", "TERM,15", "15,15", "sigkill,9", "SIGUSR1,10", "HUP,1", "SIGRTMIN+2,36", "RTMAX,64"})
    void signalNumbers(String name, int number) {
        assertEquals(number, SpecBuilder.signalNumber(name));
    }

    @Test
    void unknownSignalsAreRejected() {
        for (String bad : List.of("SIGFOO", "", "0", "65", "RTMIN+40")) {
            var e = assertThrows(IllegalArgumentException.class, () -> SpecBuilder.signalNumber(bad), bad);
            assertTrue(e.getMessage().contains("signal"), e.getMessage());
        }
    }

    @Test
    void stopSignalFromTheImageOrSigterm() {
        assertEquals("SIGQUIT", SpecBuilder.stopSignal(image("{\"StopSignal\":\"SIGQUIT\"}")));
        assertEquals("SIGTERM", SpecBuilder.stopSignal(image("{}")));
    }

    @Test
    void nodeProfileDetectReadsThisNode() throws IOException {
        NodeProfile node = NodeProfile.detect();
        String status = Files.readString(Path.of("/proc/self/status"));
        String bnd = status.lines().filter(l -> l.startsWith("CapBnd:")).findFirst().orElseThrow();
        long mask = Long.parseUnsignedLong(bnd.substring(7).trim(), 16);
        assertEquals(Capabilities.fromMask(mask), node.allCapabilities());
        if ((mask & (1L << 24)) == 0) {
            assertTrue(node.minOomScoreAdj() >= 0, "without CAP_SYS_RESOURCE nothing below the current value");
        }
    }
}
