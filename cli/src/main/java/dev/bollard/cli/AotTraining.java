package dev.bollard.cli;

import dev.bollard.api.admin.v1.ImportRequest;
import dev.bollard.api.cri.v1.ContainerConfig;
import dev.bollard.api.cri.v1.ContainerMetadata;
import dev.bollard.api.cri.v1.ContainerStatusRequest;
import dev.bollard.api.cri.v1.CreateContainerRequest;
import dev.bollard.api.cri.v1.ExecSyncRequest;
import dev.bollard.api.cri.v1.ImageSpec;
import dev.bollard.api.cri.v1.ImageStatusRequest;
import dev.bollard.api.cri.v1.LinuxContainerConfig;
import dev.bollard.api.cri.v1.LinuxContainerSecurityContext;
import dev.bollard.api.cri.v1.LinuxPodSandboxConfig;
import dev.bollard.api.cri.v1.LinuxSandboxSecurityContext;
import dev.bollard.api.cri.v1.ListContainerStatsRequest;
import dev.bollard.api.cri.v1.ListContainersRequest;
import dev.bollard.api.cri.v1.ListImagesRequest;
import dev.bollard.api.cri.v1.ListPodSandboxRequest;
import dev.bollard.api.cri.v1.ListPodSandboxStatsRequest;
import dev.bollard.api.cri.v1.NamespaceMode;
import dev.bollard.api.cri.v1.NamespaceOption;
import dev.bollard.api.cri.v1.PodSandboxConfig;
import dev.bollard.api.cri.v1.PodSandboxMetadata;
import dev.bollard.api.cri.v1.PodSandboxStatusRequest;
import dev.bollard.api.cri.v1.RemoveContainerRequest;
import dev.bollard.api.cri.v1.RemovePodSandboxRequest;
import dev.bollard.api.cri.v1.RunPodSandboxRequest;
import dev.bollard.api.cri.v1.StartContainerRequest;
import dev.bollard.api.cri.v1.StatusRequest;
import dev.bollard.api.cri.v1.StopContainerRequest;
import dev.bollard.api.cri.v1.StopPodSandboxRequest;
import dev.bollard.api.cri.v1.VersionRequest;
import dev.bollard.daemon.image.ImageBuilder;
import dev.bollard.daemon.image.ref.ImageReference;
import dev.bollard.daemon.store.FileTrees;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

/**
 * The training run behind the daemon's AOT cache (JDK 25, JEP 483 classes loaded and linked + JEP 515 method
 * profiles), made at build time by {@code scripts/aot-train.sh}. A cache is only as good as the run that trained it:
 * one from a bare start and stop holds none of the pod path's classes or profiles (the earlier finding that AOT
 * slowed pod cycles came from such a cache). So this run makes the calls kubelet makes after a node boots, with real
 * runc and CNI: a restart's recovery (of pods with a container that a first, SIGKILLed daemon left), Version, Status,
 * an image import and the image calls, pods with a container from scratch, pod lifecycles without containers,
 * container lifecycles in one pod, the status, list and stats calls and ExecSync.
 *
 * <p>Everything lives in a temporary directory (socket, root, state, CNI configuration with a bridge and subnet of
 * its own, host-local addresses); at the end, on success or failure, every pod is stopped and removed through the
 * CRI, the daemon is stopped with SIGTERM (the JVM writes the cache at its exit), the bridge is deleted and the
 * directory removed.
 *
 * <p>{@code AotTraining DAEMON-COMMAND...}: runs {@code DAEMON-COMMAND daemon --socket ... } with the environment
 * it was given (bin/bollard reads {@code BOLLARD_ARCHIVE=train} and {@code BOLLARD_AOT_OUTPUT}).
 */
public final class AotTraining {

    static final String IMAGE = "bollard.local/aot-training:busybox";

    /** How many of each; enough calls for the profiles of the hot paths, short enough for a build (~10 s). */
    record Rounds(int podsWithContainer, int podCycles, int containerCycles, int podsToRecover) {
        static final Rounds DEFAULT = new Rounds(3, 6, 10, 3);
    }

    private final Path dir;
    private final String bridge;
    private final Rounds rounds;

    private AotTraining(Path dir, Rounds rounds) {
        this.dir = dir;
        this.bridge = "bat" + HexFormat.of().formatHex(randomBytes());
        this.rounds = rounds;
    }

    public static void main(String[] args) throws Exception {
        if (args.length == 0) {
            System.err.println("usage: AotTraining DAEMON-COMMAND...   (e.g. bin/bollard, with BOLLARD_ARCHIVE=train)");
            System.exit(2);
        }
        Path dir = Files.createTempDirectory("bollard-aot-train-");
        int exit;
        try {
            exit = run(List.of(args), Map.of(), Rounds.DEFAULT, dir).daemonExit();
        } finally {
            FileTrees.deleteTree(dir);
        }
        // 143: ended by the SIGTERM this run sent, after an orderly shutdown (the cache is written on that path)
        System.exit(exit == 143 || exit == 0 ? 0 : 1);
    }

    /** How a training run ended: the daemon's exit code, the bridge it used (deleted by now). */
    record Outcome(int daemonExit, String bridge) {
    }

    /**
     * One training run of {@code daemonCommand} (the daemon's arguments appended) with {@code env} added, in
     * {@code dir} (the caller removes it; the daemon's log is {@code daemon.log} there): how it ended, or throws
     * when the calls failed. Pods and the bridge are removed in every case.
     */
    static Outcome run(List<String> daemonCommand, Map<String, String> env, Rounds rounds, Path dir) throws Exception {
        var training = new AotTraining(dir, rounds);
        try {
            return new Outcome(training.train(daemonCommand, env), training.bridge);
        } finally {
            training.removeNetwork();
        }
    }

    private int train(List<String> daemonCommand, Map<String, String> env) throws Exception {
        Path config = writeConfig();
        Path archive = buildImage();
        Path socket = dir.resolve("bollard.sock");
        var cmd = new ArrayList<>(daemonCommand);
        cmd.addAll(List.of("daemon", "--socket", socket.toString(), "--root", dir.resolve("root").toString(),
                "--state", dir.resolve("state").toString(), "--config", config.toString()));
        seedPodsToRecover(cmd, env, socket);
        Path log = dir.resolve("daemon.log");
        var pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().putAll(env);
        Process daemon = pb.start();
        Exception failure = null;
        try {
            awaitSocket(daemon, socket, log);
            try (var client = new CriClient(socket.toString(), 120)) {
                try {
                    exercise(client);
                } catch (Exception | Error e) {
                    failure = e instanceof Exception ex ? ex : new RuntimeException(e);
                } finally {
                    removeAllPods(client);
                }
            }
        } finally {
            daemon.destroy(); // SIGTERM: an orderly shutdown, then the JVM writes the cache
            // assembling the cache runs a second JVM at exit: tens of seconds on a busy machine
            if (!daemon.waitFor(10, TimeUnit.MINUTES)) {
                daemon.destroyForcibly().waitFor();
            }
        }
        if (failure != null) {
            System.err.println("aot-training: daemon log:\n" + Files.readString(log));
            throw failure;
        }
        String text = Files.readString(log);
        if (daemon.exitValue() != 143 && daemon.exitValue() != 0) {
            System.err.println("aot-training: daemon log:\n" + text);
        }
        return daemon.exitValue();
    }

    /**
     * Pods for the training daemon to recover, so that the cache holds a restart's path too (records read, shims
     * reconnected, logs resumed: otherwise interpreted code while a node's pods wait): a first daemon, which writes
     * no cache, runs them and is SIGKILLed; their shims keep running, and the training daemon, started on the same
     * root, recovers them and removes them with the rest at its end.
     */
    private void seedPodsToRecover(List<String> cmd, Map<String, String> env, Path socket) throws Exception {
        if (rounds.podsToRecover() == 0) {
            return;
        }
        Path log = dir.resolve("seed-daemon.log");
        var pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().putAll(env);
        pb.environment().put("BOLLARD_ARCHIVE", "none");
        pb.environment().remove("BOLLARD_AOT_OUTPUT");
        Process seed = pb.start();
        try {
            awaitSocket(seed, socket, log);
            try (var c = new CriClient(socket.toString(), 120)) {
                c.images(s -> s.import_(ImportRequest.newBuilder()
                        .setPath(dir.resolve("image/busybox.tar").toString()).build()));
                for (int i = 0; i < rounds.podsToRecover(); i++) {
                    var podConfig = podConfig("recovered-" + i);
                    createAndStart(c, runPod(c, podConfig), podConfig, "recovered-" + i);
                }
            }
        } finally {
            seed.destroyForcibly().waitFor(); // SIGKILL, as a crash: the pods and their shims stay
            Files.deleteIfExists(socket); // so that the training daemon's socket is awaited, not this one's
        }
    }

    private Path writeConfig() throws IOException {
        var rnd = ThreadLocalRandom.current();
        String subnet = "10." + rnd.nextInt(100, 250) + "." + rnd.nextInt(1, 250) + ".0/24";
        Path conf = Files.createDirectories(dir.resolve("cni"));
        // the node's usual chain: bridge with host-local addresses, portmap, loopback (the CNI path is trained too)
        Files.writeString(conf.resolve("10-aot-training.conflist"), """
                {"cniVersion": "1.0.0", "name": "bollard-aot-training-%s", "plugins": [
                  {"type": "bridge", "bridge": "%s", "isGateway": true, "ipMasq": false, "hairpinMode": true,
                   "ipam": {"type": "host-local", "dataDir": "%s", "ranges": [[{"subnet": "%s"}]],
                            "routes": [{"dst": "0.0.0.0/0"}]}},
                  {"type": "portmap", "capabilities": {"portMappings": true}},
                  {"type": "loopback"}]}
                """.formatted(bridge, bridge, dir.resolve("ipam"), subnet));
        Path config = dir.resolve("bollard.toml");
        Files.writeString(config, """
                [cni]
                conf_dir = "%s"
                bin_dirs = "/usr/lib/cni:/opt/cni/bin"
                write_default_config = false
                """.formatted(conf));
        return config;
    }

    /** A one-layer busybox image (the node's /bin/busybox), as an OCI archive to import. */
    private Path buildImage() throws IOException {
        Path rootfs = Files.createDirectories(dir.resolve("image/rootfs"));
        Path bin = Files.createDirectories(rootfs.resolve("bin"));
        Files.createDirectories(rootfs.resolve("etc"));
        Files.createDirectories(rootfs.resolve("tmp"));
        Files.copy(Path.of("/bin/busybox"), bin.resolve("busybox"));
        for (String applet : List.of("sh", "sleep", "echo", "cat")) {
            Files.createSymbolicLink(bin.resolve(applet), Path.of("busybox"));
        }
        Files.writeString(rootfs.resolve("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n");
        Files.writeString(rootfs.resolve("etc/group"), "root:x:0:\n");
        Path archive = dir.resolve("image/busybox.tar");
        try (var os = new BufferedOutputStream(Files.newOutputStream(archive), 1 << 16)) {
            ImageBuilder.build(rootfs, new ImageBuilder.Spec(ImageReference.parse(IMAGE), List.of(),
                    List.of("/bin/sh"), List.of(), "", ""), os);
        }
        return archive;
    }

    private static void awaitSocket(Process daemon, Path socket, Path log) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(2);
        while (!Files.exists(socket)) {
            if (!daemon.isAlive()) {
                throw new IOException("the daemon exited " + daemon.exitValue() + ": " + Files.readString(log));
            }
            if (System.nanoTime() > deadline) {
                throw new IOException("the daemon did not create " + socket + ": " + Files.readString(log));
            }
            Thread.sleep(20);
        }
    }

    /** The calls, in the order a node meets them after a boot. */
    private void exercise(CriClient c) throws IOException {
        c.runtime(s -> s.version(VersionRequest.newBuilder().setVersion("v1").build()));
        c.runtime(s -> s.status(StatusRequest.newBuilder().setVerbose(true).build()));
        c.image(s -> s.listImages(ListImagesRequest.getDefaultInstance()));
        c.images(s -> s.import_(ImportRequest.newBuilder().setPath(dir.resolve("image/busybox.tar").toString()).build()));
        c.image(s -> s.imageStatus(ImageStatusRequest.newBuilder()
                .setImage(ImageSpec.newBuilder().setImage(IMAGE)).build()));
        c.image(s -> s.listImages(ListImagesRequest.getDefaultInstance()));
        // pods with one container from scratch, with the calls kubelet makes around them
        for (int i = 0; i < rounds.podsWithContainer(); i++) {
            var podConfig = podConfig("first-" + i);
            String pod = runPod(c, podConfig);
            String ctr = createAndStart(c, pod, podConfig, "work-" + i);
            c.runtime(s -> s.podSandboxStatus(PodSandboxStatusRequest.newBuilder().setPodSandboxId(pod)
                    .setVerbose(true).build()));
            c.runtime(s -> s.containerStatus(ContainerStatusRequest.newBuilder().setContainerId(ctr)
                    .setVerbose(true).build()));
            c.runtime(s -> s.listPodSandbox(ListPodSandboxRequest.getDefaultInstance()));
            c.runtime(s -> s.listContainers(ListContainersRequest.getDefaultInstance()));
            c.runtime(s -> s.listContainerStats(ListContainerStatsRequest.getDefaultInstance()));
            c.runtime(s -> s.listPodSandboxStats(ListPodSandboxStatsRequest.getDefaultInstance()));
            var exec = c.runtimeFor(20, s -> s.execSync(ExecSyncRequest.newBuilder().setContainerId(ctr)
                    .addCmd("echo").addCmd("trained").setTimeout(20).build()));
            if (exec.getExitCode() != 0) {
                throw new IOException("ExecSync exited " + exec.getExitCode() + ": " + exec.getStderr().toStringUtf8());
            }
            stopAndRemoveContainer(c, ctr);
            stopAndRemovePod(c, pod);
        }
        // pod lifecycles without containers
        for (int i = 0; i < rounds.podCycles(); i++) {
            String pod = runPod(c, podConfig("pod-" + i));
            c.runtime(s -> s.podSandboxStatus(PodSandboxStatusRequest.newBuilder().setPodSandboxId(pod).build()));
            stopAndRemovePod(c, pod);
        }
        // container lifecycles in one pod
        var podConfig = podConfig("containers");
        String pod = runPod(c, podConfig);
        for (int i = 0; i < rounds.containerCycles(); i++) {
            String ctr = createAndStart(c, pod, podConfig, "cycle-" + i);
            c.runtime(s -> s.containerStatus(ContainerStatusRequest.newBuilder().setContainerId(ctr).build()));
            c.runtime(s -> s.listContainers(ListContainersRequest.getDefaultInstance()));
            stopAndRemoveContainer(c, ctr);
        }
        stopAndRemovePod(c, pod);
        c.runtime(s -> s.status(StatusRequest.getDefaultInstance()));
    }

    private PodSandboxConfig podConfig(String name) throws IOException {
        Path logs = Files.createDirectories(dir.resolve("logs").resolve(name));
        // pid POD: the pause process is pid 1, so sleep is no namespace init and SIGTERM ends it at once
        var ns = NamespaceOption.newBuilder().setNetwork(NamespaceMode.POD).setPid(NamespaceMode.POD)
                .setIpc(NamespaceMode.POD);
        return PodSandboxConfig.newBuilder()
                .setMetadata(PodSandboxMetadata.newBuilder().setName(name).setNamespace("aot-training")
                        .setUid(UUID.randomUUID().toString()))
                .setHostname(name).setLogDirectory(logs.toString()).putLabels("bollard-aot-training", bridge)
                .setLinux(LinuxPodSandboxConfig.newBuilder()
                        .setSecurityContext(LinuxSandboxSecurityContext.newBuilder().setNamespaceOptions(ns)))
                .build();
    }

    private static String runPod(CriClient c, PodSandboxConfig config) {
        return c.runtimeLong(s -> s.runPodSandbox(RunPodSandboxRequest.newBuilder().setConfig(config).build()))
                .getPodSandboxId();
    }

    private static String createAndStart(CriClient c, String pod, PodSandboxConfig podConfig, String name) {
        var ns = NamespaceOption.newBuilder().setNetwork(NamespaceMode.POD).setPid(NamespaceMode.POD)
                .setIpc(NamespaceMode.POD);
        var config = ContainerConfig.newBuilder().setMetadata(ContainerMetadata.newBuilder().setName(name))
                .setImage(ImageSpec.newBuilder().setImage(IMAGE)).addAllCommand(List.of("/bin/sleep", "3600"))
                .setLogPath(name + "_0.log")
                .setLinux(LinuxContainerConfig.newBuilder()
                        .setSecurityContext(LinuxContainerSecurityContext.newBuilder().setNamespaceOptions(ns)))
                .build();
        String id = c.runtimeLong(s -> s.createContainer(CreateContainerRequest.newBuilder().setPodSandboxId(pod)
                .setConfig(config).setSandboxConfig(podConfig).build())).getContainerId();
        c.runtimeLong(s -> s.startContainer(StartContainerRequest.newBuilder().setContainerId(id).build()));
        return id;
    }

    private static void stopAndRemoveContainer(CriClient c, String id) {
        c.runtimeFor(10, s -> s.stopContainer(StopContainerRequest.newBuilder().setContainerId(id).setTimeout(10).build()));
        c.runtime(s -> s.removeContainer(RemoveContainerRequest.newBuilder().setContainerId(id).build()));
    }

    private static void stopAndRemovePod(CriClient c, String id) {
        c.runtimeLong(s -> s.stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(id).build()));
        c.runtime(s -> s.removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(id).build()));
    }

    /** Whatever a failed run left: every pod of this daemon stopped and removed (their shims and netns with them). */
    private static void removeAllPods(CriClient c) {
        try {
            for (var pod : c.runtime(s -> s.listPodSandbox(ListPodSandboxRequest.getDefaultInstance())).getItemsList()) {
                try {
                    stopAndRemovePod(c, pod.getId());
                } catch (RuntimeException e) {
                    System.err.println("aot-training: removing pod " + pod.getId() + ": " + e.getMessage());
                }
            }
        } catch (RuntimeException e) {
            System.err.println("aot-training: listing pods: " + e.getMessage());
        }
    }

    /** The bridge the CNI plugin made (it outlives the pods), and host-local's addresses with the directory. */
    private void removeNetwork() throws IOException, InterruptedException {
        if (Files.exists(Path.of("/sys/class/net", bridge))) {
            var p = new ProcessBuilder("ip", "link", "del", bridge).inheritIO().start();
            if (!p.waitFor(30, TimeUnit.SECONDS)) {
                p.destroyForcibly();
            }
        }
    }

    private static byte[] randomBytes() {
        var b = new byte[3];
        ThreadLocalRandom.current().nextBytes(b);
        return b;
    }
}
