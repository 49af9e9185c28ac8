package dev.bollard.cli;

import dev.bollard.api.cri.v1.ContainerConfig;
import dev.bollard.api.cri.v1.ContainerState;
import dev.bollard.api.cri.v1.ContainerStatus;
import dev.bollard.api.cri.v1.ContainerStatusRequest;
import dev.bollard.api.cri.v1.CreateContainerRequest;
import dev.bollard.api.cri.v1.ExecSyncRequest;
import dev.bollard.api.cri.v1.RunPodSandboxRequest;
import dev.bollard.api.cri.v1.StartContainerRequest;
import dev.bollard.api.cri.v1.StopPodSandboxRequest;
import dev.bollard.api.cri.v1.ContainerMetadata;
import dev.bollard.api.cri.v1.ImageSpec;
import dev.bollard.api.cri.v1.ListPodSandboxRequest;
import dev.bollard.api.cri.v1.PodSandboxConfig;
import dev.bollard.api.cri.v1.PodSandboxMetadata;
import dev.bollard.api.cri.v1.RemovePodSandboxRequest;
import dev.bollard.api.cri.v1.RuntimeServiceGrpc;
import dev.bollard.daemon.store.FileTrees;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.unix.DomainSocketAddress;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A real node for pod tests: a daemon process with its own root, state, CNI configuration (a bridge and subnet
 * of its own, host-local addresses kept under the test directory), and a busybox image built here and imported.
 * Closing removes every pod through the CRI, stops the daemon and then checks that nothing was left behind.
 */
final class PodTestNode implements AutoCloseable {

    static final String IMAGE = "bollard.local/busybox:test";

    final Path dir;
    final String bridge;
    final String subnetPrefix;
    /** The daemon now serving; {@link #restart} replaces it. */
    DaemonProcess daemon;
    RuntimeServiceGrpc.RuntimeServiceBlockingStub runtime;
    dev.bollard.api.cri.v1.ImageServiceGrpc.ImageServiceBlockingStub imageService;
    private final EpollEventLoopGroup group;
    private ManagedChannel channel;
    private int restarts;
    private List<String> jvmOptions = List.of();

    private PodTestNode(Path dir, String bridge, String subnetPrefix, DaemonProcess daemon) {
        this.dir = dir;
        this.bridge = bridge;
        this.subnetPrefix = subnetPrefix;
        group = new EpollEventLoopGroup(1);
        connect(daemon);
    }

    private void connect(DaemonProcess d) {
        daemon = d;
        channel = NettyChannelBuilder.forAddress(new DomainSocketAddress(d.socket.toString()))
                .channelType(EpollDomainSocketChannel.class).eventLoopGroup(group).usePlaintext().build();
        runtime = RuntimeServiceGrpc.newBlockingStub(channel);
        imageService = dev.bollard.api.cri.v1.ImageServiceGrpc.newBlockingStub(channel);
    }

    /**
     * Stops the daemon with SIGTERM (pods and their shims keep running), keeping its log as
     * {@code daemon-<n>.log}, and disconnects. {@link #startDaemon} brings a new one up on the same root and state.
     */
    void stopDaemon() throws Exception {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        int exit = daemon.stop();
        Files.move(daemon.log, dir.resolve("daemon-" + ++restarts + ".log"));
        assertEquals(143, exit, "an orderly shutdown on SIGTERM");
    }

    void startDaemon() throws Exception {
        connect(DaemonProcess.start(dir, jvmOptions, "--log-level", "debug"));
    }

    /** JVM options for every daemon this node starts from now on (e.g. {@code -Dbollard.crashpoint=@FILE}). */
    void jvmOptions(List<String> options) {
        jvmOptions = List.copyOf(options);
    }

    /**
     * Waits for the daemon to die on its own (a crash point), keeps its log as {@code daemon-<n>.log} and
     * disconnects: its exit code.
     */
    int awaitDaemonDeath() throws Exception {
        if (!daemon.process.waitFor(60, TimeUnit.SECONDS)) {
            throw new AssertionError("the daemon did not die: " + daemon.logText());
        }
        return forgetDaemon();
    }

    /** SIGKILL: the daemon dies with no shutdown at all (pods and shims keep running). */
    void killDaemon() throws Exception {
        daemon.process.destroyForcibly();
        daemon.process.waitFor(30, TimeUnit.SECONDS);
        assertEquals(137, forgetDaemon(), "killed by SIGKILL");
    }

    /** The log of the last daemon that died (after {@link #awaitDaemonDeath} or {@link #killDaemon}). */
    String lastDeadDaemonLog() throws IOException {
        return Files.readString(dir.resolve("daemon-" + restarts + ".log"));
    }

    private int forgetDaemon() throws Exception {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        Files.move(daemon.log, dir.resolve("daemon-" + ++restarts + ".log"));
        return daemon.process.exitValue();
    }

    /** A daemon start on this node's root and state that is expected to fail: its exit code and output. */
    DaemonProcess.Result startDaemonExpectingFailure() throws Exception {
        return DaemonProcess.run(dir, DaemonProcess.daemonArgs(dir).toArray(String[]::new));
    }

    /** The daemon goes down for at least {@code downtime}, then a new one serves the same root and state. */
    void restart(java.time.Duration downtime) throws Exception {
        stopDaemon();
        Thread.sleep(downtime.toMillis());
        startDaemon();
    }

    RuntimeServiceGrpc.RuntimeServiceBlockingStub rt() {
        return runtime.withDeadlineAfter(60, TimeUnit.SECONDS);
    }

    dev.bollard.api.cri.v1.ImageServiceGrpc.ImageServiceBlockingStub images() {
        return imageService.withDeadlineAfter(60, TimeUnit.SECONDS);
    }

    static PodTestNode start() throws Exception {
        return start(false, dir -> "");
    }

    /** A node whose daemon reads {@code extraToml} (other sections than [cni]) from its config file too. */
    static PodTestNode start(String extraToml) throws Exception {
        return start(false, dir -> extraToml);
    }

    /** A node whose bollard.toml also holds {@code extraToml(dir)} (e.g. a [runtimes.x] table naming files in dir). */
    static PodTestNode start(java.util.function.Function<Path, String> extraToml) throws Exception {
        return start(false, extraToml);
    }

    /** A node whose daemon runs in this JVM ({@link DaemonProcess#startInProcess}); not restartable. */
    static PodTestNode startInProcess() throws Exception {
        return start(true, dir -> "");
    }

    private static PodTestNode start(boolean inProcess, java.util.function.Function<Path, String> extraToml)
            throws Exception {
        dev.bollard.daemon.testkit.Root.assume("real pods: runc, CNI in a netns, overlay and tmpfs mounts");
        Path dir = Files.createTempDirectory("bollard-pod-");
        String suffix = HexFormat.of().formatHex(randomBytes(3));
        String bridge = "bt" + suffix;
        var rnd = ThreadLocalRandom.current();
        String prefix = "10." + rnd.nextInt(100, 250) + "." + rnd.nextInt(1, 250);
        Path conf = Files.createDirectories(dir.resolve("cni"));
        Path bin = Files.createDirectories(dir.resolve("cni-bin")); // tests' own plugins (wrappers) come first
        Files.writeString(conf.resolve("10-test.conflist"), """
                {"cniVersion": "1.0.0", "name": "bollard-test-%s", "plugins": [
                  {"type": "bridge", "bridge": "%s", "isGateway": true, "ipMasq": false, "hairpinMode": true,
                   "ipam": {"type": "host-local", "dataDir": "%s", "ranges": [[{"subnet": "%s.0/24"}]],
                            "routes": [{"dst": "0.0.0.0/0"}]}},
                  {"type": "portmap", "capabilities": {"portMappings": true}},
                  {"type": "loopback"}]}
                """.formatted(suffix, bridge, dir.resolve("ipam"), prefix));
        Files.writeString(dir.resolve("bollard.toml"), """
                [cni]
                conf_dir = "%s"
                bin_dirs = "%s:/usr/lib/cni:/opt/cni/bin"
                write_default_config = false
                """.formatted(conf, bin) + extraToml.apply(dir));
        var daemon = inProcess ? DaemonProcess.startInProcess(dir) : DaemonProcess.start(dir, "--log-level", "debug");
        var node = new PodTestNode(dir, bridge, prefix, daemon);
        node.importBusybox();
        return node;
    }

    private void importBusybox() throws Exception {
        Path rootfs = Files.createDirectories(dir.resolve("image/rootfs"));
        Files.createDirectories(rootfs.resolve("bin"));
        Files.createDirectories(rootfs.resolve("etc"));
        Files.createDirectories(rootfs.resolve("tmp"));
        Files.createDirectories(rootfs.resolve("www"));
        Files.copy(Path.of("/bin/busybox"), rootfs.resolve("bin/busybox"));
        var list = new ProcessBuilder("/bin/busybox", "--list").start();
        for (String applet : new String(list.getInputStream().readAllBytes()).split("\n")) {
            if (!applet.isBlank() && !Files.exists(rootfs.resolve("bin").resolve(applet))) {
                Files.createSymbolicLink(rootfs.resolve("bin").resolve(applet), Path.of("busybox"));
            }
        }
        list.waitFor();
        Files.writeString(rootfs.resolve("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\nwww:x:1000:1000:web:/www:/bin/sh\n");
        Files.writeString(rootfs.resolve("etc/group"), "root:x:0:\nwww:x:1000:\nstaff:x:50:www\n");
        Files.writeString(rootfs.resolve("www/index.html"), "hello from a bollard pod\n");
        Path tar = dir.resolve("image/busybox.tar");
        var build = DaemonProcess.run(dir, "image", "build", rootfs.toString(), "--name", IMAGE, "--cmd", "/bin/sh",
                "-o", tar.toString());
        assertEquals(0, build.exit(), build.err());
        var imported = DaemonProcess.run(dir, "-r", daemon.endpoint(), "image", "import", tar.toString());
        assertEquals(0, imported.exit(), imported.err());
    }

    /** A pod config with unique metadata and a log directory under the test directory. */
    PodSandboxConfig.Builder pod(String name) throws IOException {
        Path logs = Files.createDirectories(dir.resolve("logs").resolve(name));
        return PodSandboxConfig.newBuilder()
                .setMetadata(PodSandboxMetadata.newBuilder().setName(name).setNamespace("test")
                        .setUid(UUID.randomUUID().toString()))
                .setHostname(name).setLogDirectory(logs.toString()).putLabels("test", "pod-lifecycle");
    }

    static ContainerConfig.Builder container(String name, String... cmd) {
        return ContainerConfig.newBuilder().setMetadata(ContainerMetadata.newBuilder().setName(name))
                .setImage(ImageSpec.newBuilder().setImage(IMAGE)).addAllCommand(List.of(cmd))
                .setLogPath(name + ".log");
    }

    String runPod(PodSandboxConfig config) {
        return rt().runPodSandbox(RunPodSandboxRequest.newBuilder().setConfig(config).build()).getPodSandboxId();
    }

    String createAndStart(String pod, PodSandboxConfig podConfig, ContainerConfig config) {
        String id = rt().createContainer(CreateContainerRequest.newBuilder().setPodSandboxId(pod)
                .setConfig(config).setSandboxConfig(podConfig).build()).getContainerId();
        rt().startContainer(StartContainerRequest.newBuilder().setContainerId(id).build());
        return id;
    }

    /** {@code sh -c script} in a container: its stdout and stderr together. */
    String sh(String id, String script) {
        var r = rt().execSync(ExecSyncRequest.newBuilder().setContainerId(id).addCmd("sh").addCmd("-c")
                .addCmd(script).setTimeout(20).build());
        return r.getStdout().toStringUtf8() + r.getStderr().toStringUtf8();
    }

    ContainerStatus status(String id) {
        return rt().containerStatus(ContainerStatusRequest.newBuilder().setContainerId(id).build()).getStatus();
    }

    ContainerStatus awaitExit(String id) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (System.nanoTime() < deadline) {
            var s = status(id);
            if (s.getState() == ContainerState.CONTAINER_EXITED) {
                return s;
            }
            Thread.sleep(50);
        }
        throw new AssertionError("container " + id + " did not exit: " + status(id));
    }

    void removePod(String id) {
        rt().stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(id).build());
        rt().removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(id).build());
    }

    /** Mounts whose path lies under the test directory (there must be none once pods are gone). */
    List<String> mountsUnderDir() throws IOException {
        var out = new ArrayList<String>();
        for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
            String[] f = line.split(" ");
            if (f.length > 4 && f[4].startsWith(dir.toString())) {
                out.add(f[4]);
            }
        }
        return out;
    }

    /** Shim processes started for this node (their command line names our state dir's address). */
    List<String> shimProcesses() throws IOException {
        var out = new ArrayList<String>();
        try (var procs = Files.list(Path.of("/proc"))) {
            for (Path p : procs.filter(p -> p.getFileName().toString().matches("\\d+")).toList()) {
                try {
                    String cmd = new String(Files.readAllBytes(p.resolve("cmdline"))).replace('\0', ' ');
                    if (cmd.contains("containerd-shim") && cmd.contains(dir.toString())) {
                        out.add(p.getFileName() + ": " + cmd);
                    }
                } catch (IOException ignored) {
                    // the process ended meanwhile
                }
            }
        }
        return out;
    }

    @Override
    public void close() throws Exception {
        try {
            if (!daemon.isAlive()) {
                startDaemon(); // a test that failed between stop and start: pods are only removed through a daemon
            }
            for (var s : rt().listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsList()) {
                rt().removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(s.getId()).build());
            }
            assertTrue(mountsUnderDir().isEmpty(), "mounts left: " + mountsUnderDir());
            assertTrue(shimProcesses().isEmpty(), "shims left: " + shimProcesses());
        } finally {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
            daemon.close();
            new ProcessBuilder("ip", "link", "del", bridge).redirectErrorStream(true).start().waitFor();
            if (mountsUnderDir().isEmpty()) {
                FileTrees.deleteTree(dir);
            }
        }
    }

    private static byte[] randomBytes(int n) {
        var b = new byte[n];
        ThreadLocalRandom.current().nextBytes(b);
        return b;
    }
}
