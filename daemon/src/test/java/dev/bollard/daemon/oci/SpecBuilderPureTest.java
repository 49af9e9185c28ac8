package dev.bollard.daemon.oci;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.bollard.api.cri.v1.ContainerConfig;
import dev.bollard.api.cri.v1.ContainerMetadata;
import dev.bollard.api.cri.v1.Device;
import dev.bollard.api.cri.v1.IDMapping;
import dev.bollard.api.cri.v1.LinuxContainerConfig;
import dev.bollard.api.cri.v1.LinuxContainerResources;
import dev.bollard.api.cri.v1.LinuxContainerSecurityContext;
import dev.bollard.api.cri.v1.LinuxPodSandboxConfig;
import dev.bollard.api.cri.v1.LinuxSandboxSecurityContext;
import dev.bollard.api.cri.v1.Mount;
import dev.bollard.api.cri.v1.PodSandboxConfig;
import dev.bollard.api.cri.v1.PodSandboxMetadata;
import dev.bollard.api.cri.v1.SecurityProfile;
import dev.bollard.daemon.image.ImageConfigs;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The builder as a pure function: every path below names nothing on this machine (host paths, devices, profiles,
 * users all come in {@link SpecInputs}), so a spec that comes out shows that nothing was read.
 */
class SpecBuilderPureTest {

    private static final NodeProfile NODE = new NodeProfile(0, false, false, true, false, false);
    private static final String NOWHERE = "/nonexistent-" + System.nanoTime();

    private static final Users.ImageUsers USERS = new Users.ImageUsers(
            List.of(new Users.PasswdEntry("app", 1000, 1001, "/home/app")),
            List.of(new Users.GroupEntry("video", 44, List.of("app"))));

    private static PodContext pod() {
        var config = PodSandboxConfig.newBuilder()
                .setMetadata(PodSandboxMetadata.newBuilder().setName("web").setNamespace("prod").setUid("u"))
                .setLinux(LinuxPodSandboxConfig.newBuilder().setCgroupParent("/kubepods/p")
                        .setSecurityContext(LinuxSandboxSecurityContext.getDefaultInstance()))
                .build();
        return new PodContext("sb1", config, Optional.of(Path.of(NOWHERE + "/netns")), 4242,
                Path.of(NOWHERE + "/hostname"), Path.of(NOWHERE + "/hosts"), Path.of(NOWHERE + "/resolv.conf"),
                Optional.of(Path.of(NOWHERE + "/shm")), "/kubepods/p", "runc", "pause");
    }

    private static final ImageConfigs.Parsed IMAGE = new ImageConfigs.Parsed(List.of(), ImageConfigs.User.NONE,
            JsonParser.parseString("{\"config\":{\"User\":\"app\",\"Cmd\":[\"/app\"]}}").getAsJsonObject());

    private static SpecInputs.Container inputs(List<Devices.Device> devices, Map<Integer, String> sources,
                                               Optional<JsonObject> seccomp, SpecInputs.Handler handler) {
        return new SpecInputs.Container(USERS, "given-host", devices, List.of(), sources, seccomp, 0, handler);
    }

    private static ContainerConfig.Builder container() {
        return ContainerConfig.newBuilder().setMetadata(ContainerMetadata.newBuilder().setName("app"));
    }

    private static JsonObject spec(ContainerConfig.Builder config, SpecInputs.Container inputs) {
        return new SpecBuilder(NODE).containerSpec(pod(), "c1", config.build(), IMAGE, inputs);
    }

    private static JsonObject mountAt(JsonObject spec, String destination) {
        for (JsonElement m : spec.getAsJsonArray("mounts")) {
            if (m.getAsJsonObject().get("destination").getAsString().equals(destination)) {
                return m.getAsJsonObject();
            }
        }
        return null;
    }

    @Test
    void everythingFromTheHostComesFromTheInputs() {
        var config = container()
                .addMounts(Mount.newBuilder().setContainerPath("/data").setHostPath(NOWHERE + "/link"))
                .addDevices(Device.newBuilder().setContainerPath("/dev/fast").setHostPath(NOWHERE + "/dev"));
        var profile = JsonParser.parseString("{\"defaultAction\":\"SCMP_ACT_LOG\"}").getAsJsonObject();
        JsonObject spec = spec(config.setLinux(LinuxContainerConfig.newBuilder().setSecurityContext(
                        LinuxContainerSecurityContext.newBuilder().setSeccomp(SecurityProfile.newBuilder()
                                .setProfileType(SecurityProfile.ProfileType.Localhost)
                                .setLocalhostRef(NOWHERE + "/profile.json")))),
                inputs(List.of(new Devices.Device("b", 259, 7, 0660, 0, 6)), Map.of(0, NOWHERE + "/target"),
                        Optional.of(profile), SpecInputs.Handler.DEFAULT));
        JsonObject user = spec.getAsJsonObject("process").getAsJsonObject("user");
        assertEquals(1000, user.get("uid").getAsLong());
        assertEquals("[1001,44]", user.get("additionalGids").toString());
        assertTrue(spec.getAsJsonObject("process").getAsJsonArray("env").toString().contains("HOSTNAME=given-host"));
        assertEquals(NOWHERE + "/target", mountAt(spec, "/data").get("source").getAsString());
        JsonObject device = spec.getAsJsonObject("linux").getAsJsonArray("devices").get(0).getAsJsonObject();
        assertEquals("/dev/fast", device.get("path").getAsString());
        assertEquals(259, device.get("major").getAsLong());
        assertEquals("SCMP_ACT_LOG", spec.getAsJsonObject("linux").getAsJsonObject("seccomp").get("defaultAction")
                .getAsString());
    }

    @Test
    void aHostPathTheResolverDidNotFindIsRefusedByName() {
        var e = assertThrows(IllegalArgumentException.class, () -> spec(container()
                        .addMounts(Mount.newBuilder().setContainerPath("/data").setHostPath(NOWHERE)),
                inputs(List.of(), Map.of(), Optional.empty(), SpecInputs.Handler.DEFAULT)));
        assertEquals("mounts[0].host_path " + NOWHERE + " does not exist", e.getMessage());
    }

    @Test
    void theStandaloneVariantJoinsOnlyThePodsNetwork() {
        JsonObject joined = spec(container(), inputs(List.of(), Map.of(), Optional.empty(), SpecInputs.Handler.DEFAULT));
        JsonObject standalone = spec(container(), inputs(List.of(), Map.of(), Optional.empty(),
                new SpecInputs.Handler(false, true)));
        assertTrue(joined.getAsJsonObject("annotations").has(SpecBuilder.ANNOTATION_SANDBOX_ID));
        assertFalse(standalone.getAsJsonObject("annotations").has(SpecBuilder.ANNOTATION_SANDBOX_ID));
        assertFalse(standalone.getAsJsonObject("annotations").has(SpecBuilder.ANNOTATION_CONTAINER_TYPE));
        var paths = new ArrayList<String>();
        for (JsonElement n : standalone.getAsJsonObject("linux").getAsJsonArray("namespaces")) {
            JsonObject o = n.getAsJsonObject();
            if (o.has("path")) {
                paths.add(o.get("type").getAsString() + "=" + o.get("path").getAsString());
            }
        }
        assertEquals(List.of("network=" + NOWHERE + "/netns"), paths);
    }

    @Test
    void idmappedVolumesAreFoundAndRebound() {
        var mapping = IDMapping.newBuilder().setContainerId(0).setHostId(65536).setLength(65536).build();
        var config = container()
                .addMounts(Mount.newBuilder().setContainerPath("/plain").setHostPath(NOWHERE + "/a"))
                .addMounts(Mount.newBuilder().setContainerPath("/mapped/").setHostPath(NOWHERE + "/b")
                        .addUidMappings(mapping).addGidMappings(mapping))
                .build();
        JsonObject spec = JsonParser.parseString("{\"mounts\":["
                + "{\"destination\":\"/plain\",\"type\":\"bind\",\"source\":\"/a\",\"options\":[]},"
                + "{\"destination\":\"/mapped\",\"type\":\"bind\",\"source\":\"/b\",\"options\":[]},"
                + "{\"destination\":\"/proc\",\"type\":\"proc\",\"source\":\"proc\",\"options\":[]}]}").getAsJsonObject();
        assertEquals(List.of(new SpecBuilder.IdmappedVolume(1, "/mapped", "/b")), SpecBuilder.idmappedVolumes(spec, config));
        SpecBuilder.rebindVolumes(spec, Map.of("/mapped", "/bundle/idmap/volume-1", "/proc", "/nope"));
        assertEquals("/bundle/idmap/volume-1", mountAt(spec, "/mapped").get("source").getAsString());
        assertEquals("/a", mountAt(spec, "/plain").get("source").getAsString());
        assertEquals("proc", mountAt(spec, "/proc").get("source").getAsString(), "only bind mounts are rebound");
    }

    @Test
    void resourcesUpdateReplacesThePartsItSetsAndKeepsTheDevices() {
        var builder = new SpecBuilder(NODE);
        JsonObject spec = spec(container().setLinux(LinuxContainerConfig.newBuilder().setResources(
                        LinuxContainerResources.newBuilder().setCpuShares(512).setCpuQuota(1000).setMemoryLimitInBytes(1 << 30))),
                inputs(List.of(), Map.of(), Optional.empty(), SpecInputs.Handler.DEFAULT));
        var update = builder.linuxResources(LinuxContainerResources.newBuilder().setCpuShares(256).build());
        JsonObject updated = SpecBuilder.withResources(spec, update);
        JsonObject resources = updated.getAsJsonObject("linux").getAsJsonObject("resources");
        assertEquals("{\"shares\":256}", resources.get("cpu").toString(), "cpu replaced as a whole, as runc sets it");
        assertEquals(1 << 30, resources.getAsJsonObject("memory").get("limit").getAsLong());
        assertEquals(spec.getAsJsonObject("linux").getAsJsonObject("resources").get("devices"), resources.get("devices"));
        assertEquals(512, spec.getAsJsonObject("linux").getAsJsonObject("resources").getAsJsonObject("cpu")
                .get("shares").getAsLong(), "the given spec is left as it was");
        assertEquals(update.toJson(), builder.resources(LinuxContainerResources.newBuilder().setCpuShares(256).build()));
    }
}
