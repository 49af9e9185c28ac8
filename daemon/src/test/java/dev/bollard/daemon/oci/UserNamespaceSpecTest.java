package dev.bollard.daemon.oci;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.bollard.api.cri.v1.ContainerConfig;
import dev.bollard.api.cri.v1.ContainerMetadata;
import dev.bollard.api.cri.v1.IDMapping;
import dev.bollard.api.cri.v1.ImageSpec;
import dev.bollard.api.cri.v1.LinuxContainerConfig;
import dev.bollard.api.cri.v1.LinuxContainerSecurityContext;
import dev.bollard.api.cri.v1.LinuxPodSandboxConfig;
import dev.bollard.api.cri.v1.LinuxSandboxSecurityContext;
import dev.bollard.api.cri.v1.Mount;
import dev.bollard.api.cri.v1.NamespaceMode;
import dev.bollard.api.cri.v1.NamespaceOption;
import dev.bollard.api.cri.v1.PodSandboxConfig;
import dev.bollard.api.cri.v1.PodSandboxMetadata;
import dev.bollard.api.cri.v1.UserNamespace;
import dev.bollard.daemon.image.ImageConfigs;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The OCI spec of pods with a user namespace of their own, the userns_options rules, and rro mounts. */
class UserNamespaceSpecTest {

    private static final NodeProfile NODE = new NodeProfile(0, false, false, true, false, false);

    @TempDir
    Path dir;

    private static IDMapping mapping(int host, int container, int length) {
        return IDMapping.newBuilder().setHostId(host).setContainerId(container).setLength(length).build();
    }

    private static NamespaceOption podUserns() {
        return NamespaceOption.newBuilder().setUsernsOptions(UserNamespace.newBuilder().setMode(NamespaceMode.POD)
                .addUids(mapping(65536, 0, 65536)).addGids(mapping(131072, 0, 65536))).build();
    }

    private static PodSandboxConfig podConfig(NamespaceOption ns) {
        return PodSandboxConfig.newBuilder()
                .setMetadata(PodSandboxMetadata.newBuilder().setName("web").setNamespace("prod").setUid("u-1"))
                .setLinux(LinuxPodSandboxConfig.newBuilder().setSecurityContext(
                        LinuxSandboxSecurityContext.newBuilder().setNamespaceOptions(ns)))
                .build();
    }

    private PodContext pod(NamespaceOption ns) {
        return new PodContext("sb1", podConfig(ns), Optional.of(Path.of("/run/netns/sb1")), 4242,
                dir.resolve("hostname"), dir.resolve("hosts"), dir.resolve("resolv.conf"),
                Optional.of(Path.of("/run/sb1/shm")), "/kubepods/podabc", "runc", "pause");
    }

    private JsonObject containerSpec(NamespaceOption podNs, ContainerConfig config) throws Exception {
        var image = new ImageConfigs.Parsed(List.of(), ImageConfigs.User.NONE,
                JsonParser.parseString("{\"config\":{\"Cmd\":[\"/bin/sh\"]}}").getAsJsonObject());
        var pod = pod(podNs);
        return new SpecBuilder(NODE).containerSpec(pod, "c1", config, image,
                SpecInputsResolver.container(pod, config, path -> Optional.empty(), 0, SpecInputs.Handler.DEFAULT));
    }

    private static ContainerConfig.Builder container(NamespaceOption ns) {
        return ContainerConfig.newBuilder().setMetadata(ContainerMetadata.newBuilder().setName("app"))
                .setImage(ImageSpec.newBuilder().setImage("sha256:abc"))
                .setLinux(LinuxContainerConfig.newBuilder().setSecurityContext(
                        LinuxContainerSecurityContext.newBuilder().setNamespaceOptions(ns)));
    }

    private static JsonObject namespace(JsonObject spec, String type) {
        for (JsonElement n : spec.getAsJsonObject("linux").getAsJsonArray("namespaces")) {
            if (n.getAsJsonObject().get("type").getAsString().equals(type)) {
                return n.getAsJsonObject();
            }
        }
        return null;
    }

    @Test
    void infraMakesTheUserNamespaceAndItsNetns() {
        JsonObject spec = new SpecBuilder(NODE).sandboxSpec(pod(podUserns()), "sb1", List.of("/catatonit", "-P"),
                SpecInputs.Sandbox.NONE);
        var user = namespace(spec, "user");
        assertTrue(user != null && !user.has("path"), spec.toString());
        assertFalse(namespace(spec, "network").has("path"), "the netns is made inside the userns, pinned afterwards");
        var linux = spec.getAsJsonObject("linux");
        assertEquals("[{\"containerID\":0,\"hostID\":65536,\"size\":65536}]", linux.get("uidMappings").toString());
        assertEquals("[{\"containerID\":0,\"hostID\":131072,\"size\":65536}]", linux.get("gidMappings").toString());
    }

    @Test
    void containersJoinThePodsUserNamespaceWithItsMappings() throws Exception {
        JsonObject spec = containerSpec(podUserns(), container(podUserns()).build());
        assertEquals("/proc/4242/ns/user", namespace(spec, "user").get("path").getAsString());
        assertEquals(65536, spec.getAsJsonObject("linux").getAsJsonArray("uidMappings").get(0).getAsJsonObject()
                .get("hostID").getAsLong());
        // a container that asks for nothing gets the pod's too
        JsonObject plain = containerSpec(podUserns(), container(NamespaceOption.getDefaultInstance()).build());
        assertEquals("/proc/4242/ns/user", namespace(plain, "user").get("path").getAsString());
        // without userns_options (older kubelets) and with NODE: the node's user namespace
        assertEquals(null, namespace(containerSpec(NamespaceOption.getDefaultInstance(),
                container(NamespaceOption.getDefaultInstance()).build()), "user"));
    }

    @Test
    void aContainerCannotAskForAnotherUserNamespace() {
        var other = NamespaceOption.newBuilder().setUsernsOptions(UserNamespace.newBuilder().setMode(NamespaceMode.POD)
                .addUids(mapping(999_999, 0, 10)).addGids(mapping(999_999, 0, 10))).build();
        var e = assertThrows(IllegalArgumentException.class, () -> containerSpec(podUserns(), container(other).build()));
        assertTrue(e.getMessage().contains("userns_options"), e.getMessage());
    }

    @Test
    void userNamespaceRules() {
        record Case(UserNamespace.Builder u, NamespaceOption.Builder extra, String message) {
        }
        var base = UserNamespace.newBuilder().setMode(NamespaceMode.POD).addUids(mapping(1000, 0, 10))
                .addGids(mapping(1000, 0, 10));
        var cases = new ArrayList<Case>(List.of(
                new Case(base.clone().addUids(mapping(2000, 10, 10)), NamespaceOption.newBuilder(), "uids: only one mapping"),
                new Case(base.clone().addGids(mapping(2000, 10, 10)), NamespaceOption.newBuilder(), "gids: only one mapping"),
                new Case(base.clone().clearUids().addUids(mapping(1000, 1, 10)), NamespaceOption.newBuilder(),
                        "container ID 0 is not mapped"),
                new Case(base.clone().clearUids(), NamespaceOption.newBuilder(), "needs uid and gid mappings"),
                new Case(base.clone().clearGids().addGids(mapping(1000, 0, 0)), NamespaceOption.newBuilder(),
                        "length must be at least 1"),
                new Case(base.clone().clearUids().addUids(mapping(-10, 0, 100)), NamespaceOption.newBuilder(),
                        "goes past the last ID"),
                new Case(base.clone().setMode(NamespaceMode.NODE), NamespaceOption.newBuilder(), "takes no mappings"),
                new Case(base.clone().setMode(NamespaceMode.CONTAINER), NamespaceOption.newBuilder(), "CONTAINER is not supported"),
                new Case(base.clone().setMode(NamespaceMode.TARGET), NamespaceOption.newBuilder(), "TARGET is not supported"),
                new Case(base.clone(), NamespaceOption.newBuilder().setNetwork(NamespaceMode.NODE), "network namespace"),
                new Case(base.clone(), NamespaceOption.newBuilder().setPid(NamespaceMode.NODE), "pid namespace"),
                new Case(base.clone(), NamespaceOption.newBuilder().setIpc(NamespaceMode.NODE), "ipc namespace")));
        for (var k : cases) {
            var ns = k.extra().setUsernsOptions(k.u()).build();
            var e = assertThrows(IllegalArgumentException.class, () -> UserNamespaces.of(ns, "ns"), k.message());
            assertTrue(e.getMessage().contains(k.message()) && e.getMessage().startsWith("ns.userns_options"),
                    e.getMessage());
        }
        assertEquals(Optional.empty(), UserNamespaces.of(NamespaceOption.getDefaultInstance(), "ns"));
        assertEquals(Optional.empty(), UserNamespaces.of(NamespaceOption.newBuilder().setUsernsOptions(
                UserNamespace.newBuilder().setMode(NamespaceMode.NODE)).build(), "ns"));
        var m = UserNamespaces.of(NamespaceOption.newBuilder().setUsernsOptions(base).build(), "ns").orElseThrow();
        assertEquals(1000, m.hostRootUid());
    }

    @Test
    void mountMappingsMustBeThePods() throws Exception {
        Path data = Files.createDirectories(dir.resolve("m"));
        var podMapped = Mount.newBuilder().setContainerPath("/m").setHostPath(data.toString())
                .addUidMappings(mapping(65536, 0, 65536)).addGidMappings(mapping(131072, 0, 65536));
        containerSpec(podUserns(), container(podUserns()).addMounts(podMapped).build()); // accepted
        var noUserns = assertThrows(IllegalArgumentException.class, () -> containerSpec(
                NamespaceOption.getDefaultInstance(), container(NamespaceOption.getDefaultInstance())
                        .addMounts(podMapped).build()));
        assertTrue(noUserns.getMessage().startsWith("mounts[0] (/m): uidMappings/gidMappings need a pod"),
                noUserns.getMessage());
        var other = assertThrows(IllegalArgumentException.class, () -> containerSpec(podUserns(),
                container(podUserns()).addMounts(podMapped.clone().clearGidMappings()
                        .addGidMappings(mapping(65536, 0, 65536))).build()));
        assertTrue(other.getMessage().contains("take the pod's user namespace mappings"), other.getMessage());
        var half = assertThrows(IllegalArgumentException.class, () -> containerSpec(podUserns(),
                container(podUserns()).addMounts(podMapped.clone().clearGidMappings()).build()));
        assertTrue(half.getMessage().contains("both uidMappings and gidMappings"), half.getMessage());
    }

    @Test
    void recursiveReadOnlyBindsGetRro() throws Exception {
        Path data = Files.createDirectories(dir.resolve("d"));
        JsonObject spec = containerSpec(NamespaceOption.getDefaultInstance(), container(NamespaceOption.getDefaultInstance())
                .addMounts(Mount.newBuilder().setContainerPath("/r").setHostPath(data.toString()).setReadonly(true)
                        .setRecursiveReadOnly(true))
                .addMounts(Mount.newBuilder().setContainerPath("/p").setHostPath(data.toString()).setReadonly(true))
                .build());
        var options = new java.util.HashMap<String, String>();
        for (JsonElement m : spec.getAsJsonArray("mounts")) {
            options.put(m.getAsJsonObject().get("destination").getAsString(), m.getAsJsonObject().get("options").toString());
        }
        assertEquals("[\"rbind\",\"rprivate\",\"ro\",\"rro\"]", options.get("/r"));
        assertEquals("[\"rbind\",\"rprivate\",\"ro\"]", options.get("/p"));
    }
}
