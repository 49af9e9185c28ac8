package dev.bollard.cli;

import dev.bollard.api.cri.v1.ContainerConfig;
import dev.bollard.api.cri.v1.CreateContainerRequest;
import dev.bollard.api.cri.v1.IDMapping;
import dev.bollard.api.cri.v1.LinuxContainerConfig;
import dev.bollard.api.cri.v1.LinuxContainerSecurityContext;
import dev.bollard.api.cri.v1.LinuxPodSandboxConfig;
import dev.bollard.api.cri.v1.LinuxSandboxSecurityContext;
import dev.bollard.api.cri.v1.Mount;
import dev.bollard.api.cri.v1.MountPropagation;
import dev.bollard.api.cri.v1.NamespaceMode;
import dev.bollard.api.cri.v1.NamespaceOption;
import dev.bollard.api.cri.v1.PodSandboxConfig;
import dev.bollard.api.cri.v1.RunPodSandboxRequest;
import dev.bollard.api.cri.v1.StatusRequest;
import dev.bollard.api.cri.v1.UserNamespace;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.function.UnaryOperator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** KEP-127 user namespaces and KEP-3857 recursive read-only mounts, with real runc containers. */
class UserNamespaceIntegrationTest extends PodNodeTest {

    private static final int HOST_ID = 200_000;
    private static final int SIZE = 65_536;

    private static IDMapping mapping(int host, int container, int length) {
        return IDMapping.newBuilder().setHostId(host).setContainerId(container).setLength(length).build();
    }

    private static NamespaceOption userns(UnaryOperator<UserNamespace.Builder> tweak) {
        var u = UserNamespace.newBuilder().setMode(NamespaceMode.POD)
                .addUids(mapping(HOST_ID, 0, SIZE)).addGids(mapping(HOST_ID, 0, SIZE));
        return NamespaceOption.newBuilder().setUsernsOptions(tweak.apply(u)).build();
    }

    private PodSandboxConfig podWith(String name, NamespaceOption ns) throws Exception {
        return node.pod(name).setLinux(LinuxPodSandboxConfig.newBuilder().setSecurityContext(
                LinuxSandboxSecurityContext.newBuilder().setNamespaceOptions(ns))).build();
    }

    private static ContainerConfig.Builder inNamespaces(ContainerConfig.Builder c, NamespaceOption ns) {
        return c.setLinux(LinuxContainerConfig.newBuilder().setSecurityContext(
                LinuxContainerSecurityContext.newBuilder().setNamespaceOptions(ns)));
    }

    private static int ownerUid(Path p) throws Exception {
        return (int) Files.getAttribute(p, "unix:uid", java.nio.file.LinkOption.NOFOLLOW_LINKS);
    }

    @ParameterizedTest
    @ValueSource(strings = {"runc", "crun"})
    void podUserNamespaceMapsIdsAndOwnership(String handler) throws Exception {
        // as /var/lib and /run are: the pod's root (a host ID without rights) must reach the bundle
        Files.setPosixFilePermissions(node.dir, java.nio.file.attribute.PosixFilePermissions.fromString("rwx--x--x"));
        var status = node.rt().status(StatusRequest.getDefaultInstance());
        var features = status.getRuntimeHandlersList().stream().filter(h -> h.getName().equals(handler)).findFirst()
                .orElseThrow().getFeatures();
        assertTrue(features.getUserNamespaces(), status.toString());
        var runsc = status.getRuntimeHandlersList().stream().filter(h -> h.getName().equals("runsc")).findFirst();
        runsc.ifPresent(h -> assertFalse(h.getFeatures().getUserNamespaces(), "runsc has no idmapped mounts"));

        Path volume = Files.createDirectories(node.dir.resolve("userns-volume-" + handler));
        Files.setPosixFilePermissions(volume, java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
        Path mine = Files.writeString(volume.resolve("mine"), "www's\n");
        Files.setAttribute(mine, "unix:uid", 1000);
        Files.setAttribute(mine, "unix:gid", 1000);
        Files.writeString(volume.resolve("roots"), "root's\n");
        Path hostsFile = Files.writeString(node.dir.resolve("kube-hosts-" + handler), "127.0.0.1 localhost\n");

        var ns = userns(u -> u);
        var podConfig = podWith("userns-" + handler, ns);
        String pod = node.rt().runPodSandbox(RunPodSandboxRequest.newBuilder().setConfig(podConfig)
                .setRuntimeHandler(handler).build()).getPodSandboxId();
        // as the kubelet sends volumes: with the pod's mappings, which makes them idmapped; /plain has none
        String c = node.createAndStart(pod, podConfig, inNamespaces(PodTestNode.container("u", "sleep", "3600"), ns)
                .addMounts(Mount.newBuilder().setContainerPath("/data").setHostPath(volume.toString())
                        .addUidMappings(mapping(HOST_ID, 0, SIZE)).addGidMappings(mapping(HOST_ID, 0, SIZE)))
                .addMounts(Mount.newBuilder().setContainerPath("/plain").setHostPath(volume.toString()).setReadonly(true))
                .addMounts(Mount.newBuilder().setContainerPath("/frozen").setHostPath(volume.toString()).setReadonly(true)
                        .setRecursiveReadOnly(true).addUidMappings(mapping(HOST_ID, 0, SIZE))
                        .addGidMappings(mapping(HOST_ID, 0, SIZE)))
                .addMounts(Mount.newBuilder().setContainerPath("/etc/kube-hosts").setHostPath(hostsFile.toString())
                        .addUidMappings(mapping(HOST_ID, 0, SIZE)).addGidMappings(mapping(HOST_ID, 0, SIZE)))
                .build());

        assertEquals("0 " + HOST_ID + " " + SIZE, node.sh(c, "cat /proc/self/uid_map").trim().replaceAll("\\s+", " "));
        assertEquals("0 " + HOST_ID + " " + SIZE, node.sh(c, "cat /proc/self/gid_map").trim().replaceAll("\\s+", " "));
        assertEquals("uid=0(root) gid=0(root) groups=0(root)\n", node.sh(c, "id"));
        // the image's files keep their owners inside (the image is not chowned: on disk they stay 0 and 1000)
        assertEquals("0:0 0:0\n", node.sh(c, "echo $(stat -c %u:%g /bin/busybox) $(stat -c %u:%g /www/index.html)"));
        // the volume likewise, through its idmapped mount
        assertEquals("1000:1000 0:0\n", node.sh(c, "echo $(stat -c %u:%g /data/mine) $(stat -c %u:%g /data/roots)"));
        // idmapped and recursively read-only at once
        assertTrue(node.sh(c, "stat -c %u:%g /frozen/mine; touch /frozen/x 2>&1").startsWith("1000:1000\ntouch: /frozen/x: Read-only"),
                node.sh(c, "stat -c %u:%g /frozen/mine; touch /frozen/x 2>&1"));
        // a single file (as the kubelet mounts /etc/hosts) is idmapped too, and root inside may write it
        assertEquals("0:0 ok\n", node.sh(c, "echo $(stat -c %u:%g /etc/kube-hosts) $(echo 10.1.1.1 y >> /etc/kube-hosts && echo ok)"));
        assertTrue(Files.readString(hostsFile).contains("10.1.1.1 y"));
        // without mappings a plain bind: host IDs outside the pod's range are the overflow ID inside
        assertEquals("65534:65534\n", node.sh(c, "stat -c %u:%g /plain/roots"));
        // root inside writes its rootfs, its volume, the pod's files and /dev/shm
        assertEquals("ok\n", node.sh(c, "echo new > /newfile && echo v > /data/fromc && echo 10.0.0.9 x >> /etc/hosts"
                + " && touch /dev/shm/s && echo ok"));
        assertEquals("0:0 0:0 0:0\n", node.sh(c, "echo $(stat -c %u:%g /newfile) $(stat -c %u:%g /data/fromc)"
                + " $(stat -c %u:%g /dev/shm/s)"));
        assertEquals(0, ownerUid(volume.resolve("fromc")), "the volume stores root-in-pod as its on-disk 0");
        assertEquals(0, ownerUid(volume.resolve("roots")));
        // the host's root is nobody inside
        assertTrue(node.sh(c, "cat /proc/1/uid_map").contains(Integer.toString(HOST_ID)), "the infra shares the userns");
        String infraUserns = node.sh(c, "readlink /proc/1/ns/user");
        assertEquals(infraUserns, node.sh(c, "readlink /proc/self/ns/user"));
        assertFalse(infraUserns.trim().equals(Files.readSymbolicLink(Path.of("/proc/self/ns/user")).toString()));

        // a volume whose file system cannot be idmapped is refused, and the create leaves no mount behind
        var before = node.mountsUnderDir();
        var refused = assertThrows(StatusRuntimeException.class, () -> node.rt().createContainer(CreateContainerRequest
                .newBuilder().setPodSandboxId(pod).setSandboxConfig(podConfig).setConfig(inNamespaces(
                        PodTestNode.container("sysfs", "true"), ns).addMounts(Mount.newBuilder()
                        .setContainerPath("/k").setHostPath("/sys/kernel").addUidMappings(mapping(HOST_ID, 0, SIZE))
                        .addGidMappings(mapping(HOST_ID, 0, SIZE)))).build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, refused.getStatus().getCode(), refused.getStatus().toString());
        assertTrue(refused.getStatus().getDescription().contains("mounts[0] (/k)"), refused.getStatus().toString());
        assertEquals(before, node.mountsUnderDir());

        // mount mappings other than the pod's cannot be made through its user namespace
        var otherMapping = assertThrows(StatusRuntimeException.class, () -> node.rt().createContainer(CreateContainerRequest
                .newBuilder().setPodSandboxId(pod).setSandboxConfig(podConfig).setConfig(inNamespaces(
                        PodTestNode.container("other", "true"), ns).addMounts(Mount.newBuilder()
                        .setContainerPath("/o").setHostPath(volume.toString()).addUidMappings(mapping(7, 0, 10))
                        .addGidMappings(mapping(7, 0, 10)))).build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, otherMapping.getStatus().getCode());
        assertTrue(otherMapping.getStatus().getDescription().contains("mounts[0] (/o)"), otherMapping.getStatus().toString());
        assertEquals(before, node.mountsUnderDir());

        // across a daemon restart: the running container keeps working, one created before starts after it
        String later = node.rt().createContainer(CreateContainerRequest.newBuilder().setPodSandboxId(pod)
                .setSandboxConfig(podConfig).setConfig(inNamespaces(PodTestNode.container("later", "sleep", "3600"), ns))
                .build()).getContainerId();
        node.restart(java.time.Duration.ZERO);
        node.rt().startContainer(dev.bollard.api.cri.v1.StartContainerRequest.newBuilder().setContainerId(later).build());
        assertEquals("0:0 ok\n", node.sh(later, "echo $(stat -c %u:%g /bin/busybox) $(touch /x && echo ok)"));
        assertEquals("uid=0(root) gid=0(root) groups=0(root)\n", node.sh(c, "id"));

        node.removePod(pod);
        assertTrue(node.mountsUnderDir().isEmpty(), "mounts left: " + node.mountsUnderDir());
        assertEquals("www's\n", Files.readString(mine));
        assertEquals(1000, ownerUid(mine), "the volume is not chowned");
    }

    @Test
    void badUserNamespaceOptionsAreRefused() throws Exception {
        record Case(String why, NamespaceOption ns, String message) {
        }
        var cases = List.of(
                new Case("two uid lines", userns(u -> u.addUids(mapping(300_000, SIZE, 10))), "only one mapping"),
                new Case("container ID 0 unmapped", userns(u -> u.clearUids().addUids(mapping(HOST_ID, 1, SIZE))),
                        "container ID 0 is not mapped"),
                new Case("POD without gids", userns(UserNamespace.Builder::clearGids), "needs uid and gid mappings"),
                new Case("zero length", userns(u -> u.clearGids().addGids(mapping(HOST_ID, 0, 0))), "length"),
                new Case("NODE with mappings", userns(u -> u.setMode(NamespaceMode.NODE)), "mode NODE takes no mappings"),
                new Case("CONTAINER", userns(u -> u.setMode(NamespaceMode.CONTAINER)), "CONTAINER is not supported"),
                new Case("TARGET", userns(u -> u.setMode(NamespaceMode.TARGET)), "TARGET is not supported"),
                new Case("host network", userns(u -> u).toBuilder().setNetwork(NamespaceMode.NODE).build(),
                        "the node's network namespace"),
                new Case("host pid", userns(u -> u).toBuilder().setPid(NamespaceMode.NODE).build(),
                        "the node's pid namespace"));
        for (var k : cases) {
            var config = podWith("bad-userns", k.ns());
            var e = assertThrows(StatusRuntimeException.class, () -> node.rt().runPodSandbox(
                    RunPodSandboxRequest.newBuilder().setConfig(config).build()), k.why());
            assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), k.why() + ": " + e.getStatus());
            assertTrue(e.getStatus().getDescription().contains(k.message()), k.why() + ": " + e.getStatus());
            assertTrue(e.getStatus().getDescription().contains("userns_options"), k.why() + ": " + e.getStatus());
        }
        // a handler without the feature refuses a pod user namespace
        if (node.rt().status(StatusRequest.getDefaultInstance()).getRuntimeHandlersList().stream()
                .anyMatch(h -> h.getName().equals("runsc"))) {
            var config = podWith("runsc-userns", userns(u -> u));
            var e = assertThrows(StatusRuntimeException.class, () -> node.rt().runPodSandbox(
                    RunPodSandboxRequest.newBuilder().setConfig(config).setRuntimeHandler("runsc").build()));
            assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), e.getStatus().toString());
            assertTrue(e.getStatus().getDescription().contains("does not support user namespaces"), e.getStatus().toString());
        }
        // NODE without mappings is the node's user namespace
        var hostUsers = podWith("node-userns", NamespaceOption.newBuilder().setUsernsOptions(
                UserNamespace.newBuilder().setMode(NamespaceMode.NODE)).build());
        String pod = node.runPod(hostUsers);
        String c = node.createAndStart(pod, hostUsers, PodTestNode.container("h", "sleep", "3600").build());
        assertEquals(Files.readSymbolicLink(Path.of("/proc/self/ns/user")) + "\n", node.sh(c, "readlink /proc/self/ns/user"));
        // a container cannot leave the pod's user namespace
        var podNs = userns(u -> u);
        var usernsPod = podWith("userns-mismatch", podNs);
        String pod2 = node.runPod(usernsPod);
        var e = assertThrows(StatusRuntimeException.class, () -> node.rt().createContainer(CreateContainerRequest.newBuilder()
                .setPodSandboxId(pod2).setSandboxConfig(usernsPod).setConfig(inNamespaces(
                        PodTestNode.container("x", "true"), NamespaceOption.newBuilder().setUsernsOptions(
                                UserNamespace.newBuilder().setMode(NamespaceMode.NODE)).build())).build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), e.getStatus().toString());
        node.removePod(pod);
        node.removePod(pod2);
        assertTrue(node.mountsUnderDir().isEmpty(), "mounts left: " + node.mountsUnderDir());
    }

    @ParameterizedTest
    @ValueSource(strings = {"runc", "crun"})
    void recursiveReadOnlyCoversSubmounts(String handler) throws Exception {
        var status = node.rt().status(StatusRequest.getDefaultInstance());
        var features = status.getRuntimeHandlersList().stream().filter(h -> h.getName().equals(handler)).findFirst()
                .orElseThrow().getFeatures();
        assertTrue(features.getRecursiveReadOnlyMounts(), status.toString());

        Path volume = Files.createDirectories(node.dir.resolve("rro-volume-" + handler));
        Path sub = Files.createDirectories(volume.resolve("sub"));
        run("mount", "-t", "tmpfs", "-o", "size=1m", "rro-test", sub.toString());
        try {
            var podConfig = node.pod("rro-" + handler).build();
            String pod = node.rt().runPodSandbox(RunPodSandboxRequest.newBuilder().setConfig(podConfig)
                    .setRuntimeHandler(handler).build()).getPodSandboxId();
            String rro = node.createAndStart(pod, podConfig, PodTestNode.container("rro", "sleep", "3600")
                    .addMounts(Mount.newBuilder().setContainerPath("/v").setHostPath(volume.toString())
                            .setReadonly(true).setRecursiveReadOnly(true)).build());
            String ro = node.createAndStart(pod, podConfig, PodTestNode.container("ro", "sleep", "3600")
                    .addMounts(Mount.newBuilder().setContainerPath("/v").setHostPath(volume.toString())
                            .setReadonly(true)).build());
            assertTrue(node.sh(rro, "touch /v/top 2>&1").contains("Read-only file system"));
            assertTrue(node.sh(rro, "touch /v/sub/x 2>&1").contains("Read-only file system"),
                    "a recursive read-only mount keeps the submount read-only too");
            assertTrue(node.sh(ro, "touch /v/top 2>&1").contains("Read-only file system"));
            if (handler.equals("runc")) {
                // (crun 1.8 makes the submounts of any read-only bind read-only)
                assertEquals("ok\n", node.sh(ro, "touch /v/sub/x && echo ok"), "a plain read-only bind leaves submounts writable");
            }

            for (var bad : List.of(Mount.newBuilder().setContainerPath("/w").setHostPath(volume.toString())
                            .setRecursiveReadOnly(true).build(),
                    Mount.newBuilder().setContainerPath("/w").setHostPath(volume.toString()).setReadonly(true)
                            .setRecursiveReadOnly(true).setPropagation(MountPropagation.PROPAGATION_HOST_TO_CONTAINER).build())) {
                var e = assertThrows(StatusRuntimeException.class, () -> node.rt().createContainer(
                        CreateContainerRequest.newBuilder().setPodSandboxId(pod).setSandboxConfig(podConfig)
                                .setConfig(PodTestNode.container("bad-" + bad.getPropagationValue(), "true").addMounts(bad))
                                .build()));
                assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), e.getStatus().toString());
                assertTrue(e.getStatus().getDescription().contains("mounts[0] (/w)"), e.getStatus().toString());
            }
            node.removePod(pod);
            assertEquals(List.of(sub.toString()), node.mountsUnderDir(), "only the test's own tmpfs is left");
        } finally {
            run("umount", sub.toString());
        }
    }

    @Test
    void aRestartUnmountsTheIdmapMountsOfACreateCutShort() throws Exception {
        // what a crash between the idmapped mounts and the container's record leaves: a bundle no record names
        Path bundle = node.dir.resolve("state/containers/" + "c".repeat(64));
        Path layers = Files.createDirectories(bundle.resolve("idmap/layers"));
        run("mount", "--bind", node.dir.resolve("root/image").toString(), layers.toString());
        assertEquals(List.of(layers.toString()), node.mountsUnderDir());
        node.restart(java.time.Duration.ZERO);
        assertTrue(node.mountsUnderDir().isEmpty(), "mounts left: " + node.mountsUnderDir());
        assertFalse(Files.exists(bundle));
    }

    private static void run(String... cmd) throws Exception {
        var p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertEquals(0, p.waitFor(), String.join(" ", cmd) + ": " + out);
    }
}
