package dev.bollard.cli;

import dev.bollard.api.cri.v1.ContainerState;
import dev.bollard.api.cri.v1.CreateContainerRequest;
import dev.bollard.api.cri.v1.LinuxContainerConfig;
import dev.bollard.api.cri.v1.LinuxContainerResources;
import dev.bollard.api.cri.v1.StartContainerRequest;
import dev.bollard.api.cri.v1.UpdateContainerResourcesRequest;
import dev.bollard.api.cri.v1.KeyValue;
import dev.bollard.api.cri.v1.ListPodSandboxRequest;
import dev.bollard.api.cri.v1.PodSandboxConfig;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.UUID;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Hardening on a real node: what a container's spec holds stays private. */
class HardeningIntegrationTest extends PodNodeTest {

    private static final Set<PosixFilePermission> GROUP_OR_OTHER_READ_WRITE = EnumSet.of(
            PosixFilePermission.GROUP_READ, PosixFilePermission.GROUP_WRITE,
            PosixFilePermission.OTHERS_READ, PosixFilePermission.OTHERS_WRITE);

    @Test
    void aContainersEnvSecretIsInNoFileOthersCanRead() throws Exception {
        String secret = "s3cret-" + UUID.randomUUID();
        var podConfig = node.pod("secret-pod").build();
        String pod = node.runPod(podConfig);
        try {
            String id = node.createAndStart(pod, podConfig, PodTestNode.container("app", "sleep", "60")
                    .addEnvs(KeyValue.newBuilder().setKey("DB_PASSWORD").setValue(secret)).build());
            assertEquals(secret + "\n", node.sh(id, "echo $DB_PASSWORD"), "the container gets its env");

            var holders = new ArrayList<Path>();
            var problems = new ArrayList<String>();
            for (Path top : List.of(node.daemon.root, node.daemon.state)) {
                for (Path f : filesContaining(top, secret.getBytes(StandardCharsets.UTF_8))) {
                    holders.add(f);
                    var mode = Files.getPosixFilePermissions(f, LinkOption.NOFOLLOW_LINKS);
                    if (mode.stream().anyMatch(GROUP_OR_OTHER_READ_WRITE::contains)) {
                        problems.add(f + " is " + PosixFilePermissions.toString(mode));
                    }
                    for (Path d = f.getParent(); d.startsWith(top); d = d.getParent()) {
                        var dm = Files.getPosixFilePermissions(d);
                        if (dm.stream().anyMatch(GROUP_OR_OTHER_READ_WRITE::contains)) {
                            problems.add("directory " + d + " (on the way to " + f.getFileName() + ") is "
                                    + PosixFilePermissions.toString(dm));
                        }
                    }
                }
            }
            assertTrue(holders.stream().anyMatch(p -> p.toString().contains("/store/containers/")),
                    "the record holds the env: " + holders);
            assertTrue(holders.stream().anyMatch(p -> p.getFileName().toString().equals("config.json")),
                    "the bundle's spec holds the env: " + holders);
            assertEquals(List.of(), problems);
        } finally {
            node.removePod(pod);
        }
    }

    @Test
    void namesBeyondKubernetesLimitsAreInvalidArgumentsNamingTheField() throws Exception {
        var base = node.pod("limits").build();
        record Case(String field, PodSandboxConfig config) {
        }
        var cases = List.of(
                new Case("config.metadata.name", base.toBuilder().setMetadata(base.getMetadata().toBuilder()
                        .setName("p".repeat(254))).build()),
                new Case("config.metadata.name", base.toBuilder().setMetadata(base.getMetadata().toBuilder()
                        .setName("p".repeat(65536))).build()),
                new Case("config.metadata.namespace", base.toBuilder().setMetadata(base.getMetadata().toBuilder()
                        .setNamespace("n".repeat(64))).build()),
                new Case("config.metadata.uid", base.toBuilder().setMetadata(base.getMetadata().toBuilder()
                        .setUid("u".repeat(10_000))).build()));
        for (var c : cases) {
            var e = assertThrows(StatusRuntimeException.class, () -> node.runPod(c.config()));
            assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), c.field() + ": " + e.getStatus());
            assertTrue(e.getStatus().getDescription().startsWith(c.field() + " is "), e.getStatus().getDescription());
        }
        assertEquals(0, node.rt().listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsCount(),
                "nothing was made");

        // Kubernetes' longest: a 253-byte pod name in a 63-byte namespace runs, a 63-byte container name too
        var longest = node.pod("l".repeat(253)).build();
        longest = longest.toBuilder().setHostname("longest") // the kernel's hostname limit is 64
                .setMetadata(longest.getMetadata().toBuilder().setNamespace("n".repeat(63))).build();
        String pod = node.runPod(longest);
        try {
            String ok = node.createAndStart(pod, longest, PodTestNode.container("c".repeat(63), "sleep", "60").build());
            assertFalse(ok.isEmpty());
            var finalLongest = longest;
            var e = assertThrows(StatusRuntimeException.class, () -> node.rt().createContainer(
                    CreateContainerRequest.newBuilder().setPodSandboxId(pod).setSandboxConfig(finalLongest)
                            .setConfig(PodTestNode.container("c".repeat(64), "sleep", "60")).build()));
            assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), e.getStatus().toString());
            assertTrue(e.getStatus().getDescription().startsWith("config.metadata.name is 64 bytes"),
                    e.getStatus().getDescription());
        } finally {
            node.removePod(pod);
        }
    }

    @Test
    void resourceValuesTheRuntimeRefusesAreTheCallersError() throws Exception {
        var podConfig = node.pod("refused").build();
        String pod = node.runPod(podConfig);
        try {
            String id = node.createAndStart(pod, podConfig, PodTestNode.container("steady", "sleep", "60").build());
            // CFS quotas below 1 ms: the kernel refuses the write (EINVAL)
            var quota = assertThrows(StatusRuntimeException.class, () -> node.rt().updateContainerResources(
                    UpdateContainerResourcesRequest.newBuilder().setContainerId(id).setLinux(LinuxContainerResources
                            .newBuilder().setCpuPeriod(100_000).setCpuQuota(500)).build()));
            assertEquals(Status.Code.INVALID_ARGUMENT, quota.getStatus().getCode(), quota.getStatus().toString());
            assertTrue(quota.getStatus().getDescription().contains("refused a value"), quota.getStatus().getDescription());
            // a limit below what the container uses already
            var memory = assertThrows(StatusRuntimeException.class, () -> node.rt().updateContainerResources(
                    UpdateContainerResourcesRequest.newBuilder().setContainerId(id).setLinux(LinuxContainerResources
                            .newBuilder().setMemoryLimitInBytes(4096)).build()));
            assertEquals(Status.Code.FAILED_PRECONDITION, memory.getStatus().getCode(), memory.getStatus().toString());
            assertEquals(ContainerState.CONTAINER_RUNNING, node.status(id).getState(), "still running as it was");

            // the same quota at start
            String bad = node.rt().createContainer(CreateContainerRequest.newBuilder().setPodSandboxId(pod)
                    .setSandboxConfig(podConfig).setConfig(PodTestNode.container("bad-quota", "sleep", "60")
                            .setLinux(LinuxContainerConfig.newBuilder().setResources(LinuxContainerResources
                                    .newBuilder().setCpuPeriod(100_000).setCpuQuota(500)))).build()).getContainerId();
            var start = assertThrows(StatusRuntimeException.class, () -> node.rt().startContainer(
                    StartContainerRequest.newBuilder().setContainerId(bad).build()));
            assertEquals(Status.Code.INVALID_ARGUMENT, start.getStatus().getCode(), start.getStatus().toString());
        } finally {
            node.removePod(pod);
        }
    }

    @Test
    void execSyncOutputFitsKubeletsMessageLimit() throws Exception {
        var podConfig = node.pod("exec-big").build();
        String pod = node.runPod(podConfig);
        var group = new io.netty.channel.epoll.EpollEventLoopGroup(1);
        // kubelet's CRI client: responses of at most 16 MiB
        var channel = io.grpc.netty.NettyChannelBuilder.forAddress(
                        new io.netty.channel.unix.DomainSocketAddress(node.daemon.socket.toString()))
                .channelType(io.netty.channel.epoll.EpollDomainSocketChannel.class).eventLoopGroup(group)
                .usePlaintext().maxInboundMessageSize(16 << 20).build();
        try {
            String id = node.createAndStart(pod, podConfig, PodTestNode.container("talker", "sleep", "60").build());
            var r = dev.bollard.api.cri.v1.RuntimeServiceGrpc.newBlockingStub(channel)
                    .withDeadlineAfter(60, java.util.concurrent.TimeUnit.SECONDS)
                    .execSync(dev.bollard.api.cri.v1.ExecSyncRequest.newBuilder().setContainerId(id).addCmd("sh")
                            .addCmd("-c").addCmd("head -c 12000000 /dev/zero; head -c 12000000 /dev/zero >&2; exit 3")
                            .setTimeout(30).build());
            assertEquals(3, r.getExitCode());
            assertTrue(r.getSerializedSize() <= 16 << 20, "size " + r.getSerializedSize());
            assertTrue(r.getStdout().size() >= 8_000_000 && r.getStderr().size() >= 8_000_000,
                    "each stream keeps at least half: " + r.getStdout().size() + " " + r.getStderr().size());
            assertTrue(r.getStdout().toStringUtf8().endsWith("over kubelet's 16 MiB message limit]\n"), "marked");
            assertTrue(r.getStderr().toStringUtf8().endsWith("over kubelet's 16 MiB message limit]\n"), "marked");
        } finally {
            channel.shutdownNow().awaitTermination(5, java.util.concurrent.TimeUnit.SECONDS);
            group.shutdownGracefully(0, 1, java.util.concurrent.TimeUnit.SECONDS).sync();
            node.removePod(pod);
        }
    }

    /** Regular files under {@code top} (not crossing into mounts: rootfs, shm) whose bytes contain {@code needle}. */
    private static List<Path> filesContaining(Path top, byte[] needle) throws IOException {
        var out = new ArrayList<Path>();
        Object topDevice = Files.getAttribute(top, "unix:dev");
        try (var walk = Files.walk(top)) {
            for (Path p : walk.toList()) {
                try {
                    if (!Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS)
                            || !topDevice.equals(Files.getAttribute(p, "unix:dev", LinkOption.NOFOLLOW_LINKS))
                            || Files.size(p) > (16 << 20)) {
                        continue;
                    }
                    if (indexOf(Files.readAllBytes(p), needle) >= 0) {
                        out.add(p);
                    }
                } catch (IOException gone) {
                    // removed meanwhile, or not readable as a file (nsfs)
                }
            }
        }
        return out;
    }

    private static int indexOf(byte[] hay, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= hay.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (hay[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }
}
