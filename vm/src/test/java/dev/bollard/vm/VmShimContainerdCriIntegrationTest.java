package dev.bollard.vm;

import dev.bollard.api.cri.v1.ContainerConfig;
import dev.bollard.api.cri.v1.ContainerMetadata;
import dev.bollard.api.cri.v1.CreateContainerRequest;
import dev.bollard.api.cri.v1.ExecSyncRequest;
import dev.bollard.api.cri.v1.ImageSpec;
import dev.bollard.api.cri.v1.PodSandboxConfig;
import dev.bollard.api.cri.v1.PodSandboxMetadata;
import dev.bollard.api.cri.v1.PodSandboxStatusRequest;
import dev.bollard.api.cri.v1.RemovePodSandboxRequest;
import dev.bollard.api.cri.v1.RunPodSandboxRequest;
import dev.bollard.api.cri.v1.RuntimeServiceGrpc;
import dev.bollard.api.cri.v1.StartContainerRequest;
import dev.bollard.api.cri.v1.StopPodSandboxRequest;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.unix.DomainSocketAddress;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Debian's containerd 1.6, unchanged, runs a Kubernetes pod in a VM through its CRI plugin: a runtime
 * {@code vm} of {@code runtime_type = "io.containerd.bollard-vm.v2"} finds {@code containerd-shim-bollard-vm-v2} on
 * PATH. Driven over the CRI (runtime.v1, as kubelet or crictl would) on a temporary socket and root, with a CNI
 * bridge of its own and a busybox image imported with {@code ctr} (no registry): RunPodSandbox boots the VM in the
 * pod's network namespace, a container logs the guest kernel in CRI format, ExecSync returns its exit code,
 * StopPodSandbox and RemovePodSandbox leave no qemu, virtiofsd or VM state. One VM boot.
 */
class VmShimContainerdCriIntegrationTest {

    private static final String IMAGE = "bollard.test/vm-busybox:1";

    private Path work;
    private Process containerd;
    private ManagedChannel channel;
    private EpollEventLoopGroup group;
    private String bridge;

    @AfterEach
    void cleanUp() throws Exception {
        if (channel != null) {
            channel.shutdownNow();
            group.shutdownGracefully();
        }
        if (containerd != null) {
            containerd.destroy();
            if (!containerd.waitFor(15, TimeUnit.SECONDS)) {
                containerd.destroyForcibly();
            }
        }
        if (work != null) {
            TestProcesses.killAllMentioning(work.toString());
            new ProcessBuilder("ip", "link", "del", bridge).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).start().waitFor();
            TestProcesses.removeWorkDir(work);
        }
    }

    @Test
    void containerdsCriPluginRunsAPodInAVm() throws Exception {
        Path guest = TestProcesses.guestImage();
        work = Files.createTempDirectory(Path.of("/tmp"), "vmshim-cri-");
        Path bin = TestProcesses.shimLauncher(work, guest);

        // a CNI network of this test's own
        int n = ThreadLocalRandom.current().nextInt(10, 250);
        bridge = "bvmcri" + n;
        Path netd = Files.createDirectories(work.resolve("net.d"));
        Files.writeString(netd.resolve("10-vm.conflist"), """
                {"cniVersion":"1.0.0","name":"vmcri","plugins":[{"type":"bridge","bridge":"%s","isGateway":true,
                 "ipMasq":false,"ipam":{"type":"host-local","subnet":"10.213.%d.0/24","dataDir":"%s",
                 "routes":[{"dst":"0.0.0.0/0"}]}}]}
                """.formatted(bridge, n, work.resolve("ipam")));

        Path socket = work.resolve("containerd.sock");
        Files.writeString(work.resolve("config.toml"), """
                version = 2
                root = "%1$s/root"
                state = "%1$s/state"
                [grpc]
                  address = "%2$s"
                [ttrpc]
                  address = "%2$s.ttrpc"
                [plugins."io.containerd.grpc.v1.cri"]
                  sandbox_image = "%3$s"
                  stream_server_address = "127.0.0.1"
                  stream_server_port = "0"
                  [plugins."io.containerd.grpc.v1.cri".containerd]
                    default_runtime_name = "runc"
                    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
                      runtime_type = "io.containerd.runc.v2"
                    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.vm]
                      runtime_type = "io.containerd.bollard-vm.v2"
                  [plugins."io.containerd.grpc.v1.cri".cni]
                    bin_dir = "/usr/lib/cni"
                    conf_dir = "%4$s"
                """.formatted(work, socket, IMAGE, netd));
        String path = bin + ":" + System.getenv().getOrDefault("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
        var daemon = new ProcessBuilder("containerd", "--config", work.resolve("config.toml").toString())
                .redirectErrorStream(true).redirectOutput(work.resolve("containerd.log").toFile());
        daemon.environment().put("PATH", path);
        containerd = daemon.start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!Files.exists(socket) && System.nanoTime() < deadline) {
            Thread.sleep(100);
        }
        assertTrue(Files.exists(socket), "containerd did not start: " + log());

        var imported = new ProcessBuilder("ctr", "-a", socket.toString(), "-n", "k8s.io", "images", "import",
                busyboxImage().toString()).redirectErrorStream(true).start();
        String importOut = new String(imported.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, imported.waitFor(), "ctr images import: " + importOut);

        group = new EpollEventLoopGroup(1);
        channel = NettyChannelBuilder.forAddress(new DomainSocketAddress(socket.toString()))
                .channelType(EpollDomainSocketChannel.class).eventLoopGroup(group).usePlaintext().build();
        var rt = RuntimeServiceGrpc.newBlockingStub(channel);

        Path logs = Files.createDirectories(work.resolve("logs"));
        var podConfig = PodSandboxConfig.newBuilder()
                .setMetadata(PodSandboxMetadata.newBuilder().setName("vm-cri").setNamespace("default")
                        .setUid("uid-vm-cri").setAttempt(0))
                .setHostname("vm-cri").setLogDirectory(logs.toString()).build();
        String pod = rt.withDeadlineAfter(240, TimeUnit.SECONDS).runPodSandbox(RunPodSandboxRequest.newBuilder()
                .setConfig(podConfig).setRuntimeHandler("vm").build()).getPodSandboxId();
        assertTrue(TestProcesses.mentioning(work.resolve("vmstate").toString()).size() >= 2,
                "qemu and virtiofsd of the pod's VM");
        String ip = rt.withDeadlineAfter(30, TimeUnit.SECONDS).podSandboxStatus(PodSandboxStatusRequest.newBuilder()
                .setPodSandboxId(pod).build()).getStatus().getNetwork().getIp();
        assertTrue(ip.startsWith("10.213." + n + "."), "the pod's CNI address: " + ip);

        String container = rt.withDeadlineAfter(120, TimeUnit.SECONDS).createContainer(CreateContainerRequest
                .newBuilder().setPodSandboxId(pod).setSandboxConfig(podConfig).setConfig(ContainerConfig.newBuilder()
                        .setMetadata(ContainerMetadata.newBuilder().setName("app"))
                        .setImage(ImageSpec.newBuilder().setImage(IMAGE))
                        .addAllCommand(List.of("/bin/sh", "-c", "echo guest $(uname -r) on $(hostname); exec sleep 100000"))
                        .setLogPath("app.log")).build()).getContainerId();
        rt.withDeadlineAfter(120, TimeUnit.SECONDS).startContainer(StartContainerRequest.newBuilder()
                .setContainerId(container).build());

        String guestKernel = Files.readString(guest.resolve("kernel-release")).strip();
        Path log = logs.resolve("app.log");
        deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!(Files.exists(log) && Files.readString(log).contains("guest ")) && System.nanoTime() < deadline) {
            Thread.sleep(200);
        }
        String logText = Files.exists(log) ? Files.readString(log) : "";
        assertTrue(logText.contains(" stdout F guest " + guestKernel + " on vm-cri"),
                "containerd's CRI log of the container names the guest kernel and the pod's hostname: " + logText);

        var exec = rt.withDeadlineAfter(90, TimeUnit.SECONDS).execSync(ExecSyncRequest.newBuilder()
                .setContainerId(container).addAllCmd(List.of("/bin/sh", "-c", "uname -r; exit 5")).setTimeout(60).build());
        assertEquals(5, exec.getExitCode(), "ExecSync's exit code: " + exec);
        assertEquals(guestKernel + "\n", exec.getStdout().toStringUtf8());

        rt.withDeadlineAfter(120, TimeUnit.SECONDS).stopPodSandbox(StopPodSandboxRequest.newBuilder()
                .setPodSandboxId(pod).build());
        rt.withDeadlineAfter(120, TimeUnit.SECONDS).removePodSandbox(RemovePodSandboxRequest.newBuilder()
                .setPodSandboxId(pod).build());
        deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!TestProcesses.mentioning(work.resolve("vmstate").toString()).isEmpty() && System.nanoTime() < deadline) {
            Thread.sleep(200);
        }
        assertEquals(List.of(), TestProcesses.mentioning(work.resolve("vmstate").toString()),
                "qemu or virtiofsd left; containerd log: " + log());
        try (Stream<Path> left = Files.exists(work.resolve("vmstate")) ? Files.list(work.resolve("vmstate"))
                : Stream.empty()) {
            assertEquals(List.of(), left.toList(), "VM state left");
        }
    }

    private String log() throws java.io.IOException {
        String text = Files.readString(work.resolve("containerd.log"));
        return text.length() > 6000 ? text.substring(text.length() - 6000) : text;
    }

    /**
     * A busybox image as a Docker archive ({@code ctr images import} reads it): the host's static busybox and
     * its applets; its default command (the pod sandbox's) sleeps.
     */
    private Path busyboxImage() throws Exception {
        Path tree = work.resolve("image/rootfs");
        for (String dir : List.of("bin", "proc", "dev", "sys", "etc", "tmp")) {
            Files.createDirectories(tree.resolve(dir));
        }
        Files.copy(Path.of("/bin/busybox"), tree.resolve("bin/busybox"));
        for (String applet : List.of("sh", "sleep", "uname", "hostname", "echo", "cat")) {
            Files.createSymbolicLink(tree.resolve("bin").resolve(applet), Path.of("busybox"));
        }
        Path archive = Files.createDirectories(work.resolve("image/archive"));
        Path layer = archive.resolve("layer.tar");
        var tar = new ProcessBuilder("tar", "--numeric-owner", "--owner=0", "--group=0", "-C", tree.toString(),
                "-cf", layer.toString(), ".").redirectErrorStream(true).start();
        String tarOut = new String(tar.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, tar.waitFor(), tarOut);
        String diffId = "sha256:" + HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256")
                .digest(Files.readAllBytes(layer)));
        Files.writeString(archive.resolve("config.json"), """
                {"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin"],"Cmd":["/bin/sleep","1000000"]},
                 "rootfs":{"type":"layers","diff_ids":["%s"]}}""".formatted(diffId));
        Files.writeString(archive.resolve("manifest.json"),
                "[{\"Config\":\"config.json\",\"RepoTags\":[\"" + IMAGE + "\"],\"Layers\":[\"layer.tar\"]}]");
        Path image = work.resolve("image/image.tar");
        var pack = new ProcessBuilder("tar", "-C", archive.toString(), "-cf", image.toString(), "manifest.json",
                "config.json", "layer.tar").redirectErrorStream(true).start();
        String packOut = new String(pack.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, pack.waitFor(), packOut);
        return image;
    }
}
