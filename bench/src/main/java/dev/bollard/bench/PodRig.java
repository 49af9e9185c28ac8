package dev.bollard.bench;

import dev.bollard.api.cri.v1.ContainerConfig;
import dev.bollard.api.cri.v1.ContainerMetadata;
import dev.bollard.api.cri.v1.CreateContainerRequest;
import dev.bollard.api.cri.v1.ImageSpec;
import dev.bollard.api.cri.v1.LinuxContainerConfig;
import dev.bollard.api.cri.v1.LinuxContainerSecurityContext;
import dev.bollard.api.cri.v1.LinuxPodSandboxConfig;
import dev.bollard.api.cri.v1.LinuxSandboxSecurityContext;
import dev.bollard.api.cri.v1.ListPodSandboxRequest;
import dev.bollard.api.cri.v1.NamespaceMode;
import dev.bollard.api.cri.v1.NamespaceOption;
import dev.bollard.api.cri.v1.PodSandboxConfig;
import dev.bollard.api.cri.v1.PodSandboxMetadata;
import dev.bollard.api.cri.v1.RemovePodSandboxRequest;
import dev.bollard.api.cri.v1.RunPodSandboxRequest;
import dev.bollard.api.cri.v1.StartContainerRequest;
import dev.bollard.api.cri.v1.StopContainerRequest;
import dev.bollard.api.cri.v1.StopPodSandboxRequest;
import dev.bollard.cli.CriClient;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.Semaphore;

/**
 * What the pod workloads ({@code pods}, {@code cri}) share: one {@link PodHost} (network, images, cgroup parent),
 * every runtime's daemon started once on a root of its own with the images imported, one CRI client per runtime,
 * the pod and container configurations, starting and tearing down many pods at a time, and the clean-up that
 * leaves nothing behind (pods removed through the CRI, daemons stopped, leftover shims ended by pid, the host's
 * network and cgroups removed, also from a shutdown hook).
 */
final class PodRig {

    private final CommonOptions common;
    private final int callTimeout;
    private final String handler;
    private PodHost host;
    private Thread hostCleanup;
    private Path wsDir;
    private final Map<String, DaemonUnderTest.Running> live = new LinkedHashMap<>();
    private final Map<String, CriClient> clients = new LinkedHashMap<>();

    PodRig(CommonOptions common, int callTimeout, String handler) {
        this.common = common;
        this.callTimeout = callTimeout;
        this.handler = handler;
    }

    /** Sets up the host and starts every daemon with the images imported. */
    void open(Workspace ws, List<DaemonUnderTest> daemons) throws IOException, InterruptedException {
        wsDir = ws.dir();
        host = PodHost.create(ws.dir(), common.bollardCommand());
        PodHost h = host;
        // network, netns and cgroups outlive the processes: undo them even when the JVM is told to exit
        hostCleanup = new Thread(h::cleanUp, "bench-pod-host-cleanup");
        Runtime.getRuntime().addShutdownHook(hostCleanup);
        System.out.printf("network: bridge %s, %s.0/24, conflist in %s; images %s and %s (pause: catatonit)%n",
                host.bridge, host.subnetPrefix, host.confDir, PodHost.BUSYBOX, PodHost.PAUSE);
        var setup = new DaemonUnderTest.PodSetup(host.confDir, PodHost.PAUSE);
        Path certsD = Files.createDirectories(ws.path("certs.d"));
        for (DaemonUnderTest d : daemons) {
            d.prepare(ws, certsD);
            var run = d.start(ws, ws.path(d.name().toLowerCase()), certsD, setup);
            live.put(d.name(), run);
            host.importInto(d, run, common.bollardCommand());
            clients.put(d.name(), new CriClient(run.endpoint(), callTimeout));
            System.out.printf("%s: %s, pid %d%n", d.name(), run.runtimeVersion(), run.pid());
        }
    }

    PodHost host() {
        return host;
    }

    /** Stops a runtime's daemon (its pods must be gone); {@link #restart} starts it again on the same root. */
    void stopDaemon(String runtime) {
        var c = clients.remove(runtime);
        if (c != null) {
            c.close();
        }
        var run = live.remove(runtime);
        if (run != null) {
            run.stop();
        }
    }

    /**
     * Starts a runtime's daemon again on the root {@link #open} gave it (its images still there), as after a node's
     * reboot; returns once it answers CRI Version, with a new client.
     */
    DaemonUnderTest.Running restart(Workspace ws, DaemonUnderTest d) throws IOException, InterruptedException {
        stopDaemon(d.name());
        var setup = new DaemonUnderTest.PodSetup(host.confDir, PodHost.PAUSE);
        var run = d.start(ws, ws.path(d.name().toLowerCase()), ws.path("certs.d"), setup);
        live.put(d.name(), run);
        clients.put(d.name(), new CriClient(run.endpoint(), callTimeout));
        return run;
    }

    CriClient client(String runtime) {
        return clients.get(runtime);
    }

    DaemonUnderTest.Running run(String runtime) {
        return live.get(runtime);
    }

    /** A pod as kubelet would send it: its own log directory, a cgroupfs parent below the bench's, POD namespaces. */
    PodSandboxConfig podConfig(String runtime, String name) throws IOException {
        String uid = UUID.randomUUID().toString();
        Path logs = Files.createDirectories(wsDir.resolve("logs").resolve(runtime.toLowerCase()).resolve(name + "_" + uid));
        // pid POD: the pause process is pid 1, so sleep is not a pid-namespace init and SIGTERM ends it at once
        var ns = NamespaceOption.newBuilder().setNetwork(NamespaceMode.POD).setPid(NamespaceMode.POD)
                .setIpc(NamespaceMode.POD);
        return PodSandboxConfig.newBuilder()
                .setMetadata(PodSandboxMetadata.newBuilder().setName(name).setNamespace("bench").setUid(uid))
                .setHostname(name).setLogDirectory(logs.toString())
                .putLabels("bollard-bench", host.suffix)
                .setLinux(LinuxPodSandboxConfig.newBuilder().setCgroupParent(host.podCgroup(uid))
                        .setSecurityContext(LinuxSandboxSecurityContext.newBuilder().setNamespaceOptions(ns)))
                .build();
    }

    /** busybox {@code sleep 3600} named {@code name}, in the pod's namespaces. */
    static ContainerConfig sleepConfig(String name) {
        var ns = NamespaceOption.newBuilder().setNetwork(NamespaceMode.POD).setPid(NamespaceMode.POD)
                .setIpc(NamespaceMode.POD);
        return ContainerConfig.newBuilder().setMetadata(ContainerMetadata.newBuilder().setName(name))
                .setImage(ImageSpec.newBuilder().setImage(PodHost.BUSYBOX))
                .addAllCommand(List.of("/bin/sleep", "3600")).setLogPath(name + "_0.log")
                .setLinux(LinuxContainerConfig.newBuilder()
                        .setSecurityContext(LinuxContainerSecurityContext.newBuilder().setNamespaceOptions(ns)))
                .build();
    }

    /** Pods started, their containers (pod id → container id), each pod's run+create+start time, the first error. */
    record Started(List<String> podIds, Map<String, String> containers, Map<String, PodSandboxConfig> configs,
                   List<Double> podMillis, String error) {
    }

    /** {@code n} pods of one {@code sleep 3600} container each, {@code concurrency} at a time. */
    Started startPods(String runtime, String namePrefix, int n, int concurrency) throws InterruptedException {
        var c = client(runtime);
        var podIds = Collections.synchronizedList(new ArrayList<String>());
        var ctrIds = new ConcurrentHashMap<String, String>();
        var configs = new ConcurrentHashMap<String, PodSandboxConfig>();
        var podMillis = Collections.synchronizedList(new ArrayList<Double>());
        var gate = new Semaphore(concurrency);
        String error = null;
        try (var pool = Executors.newVirtualThreadPerTaskExecutor()) {
            var futures = new ArrayList<Future<?>>();
            for (int i = 0; i < n; i++) {
                int k = i;
                futures.add(pool.submit(() -> {
                    gate.acquire();
                    try {
                        long p0 = System.nanoTime();
                        var cfg = podConfig(runtime, namePrefix + k);
                        String pod = c.runtimeLong(s -> s.runPodSandbox(
                                RunPodSandboxRequest.newBuilder().setConfig(cfg).setRuntimeHandler(handler).build()))
                                .getPodSandboxId();
                        podIds.add(pod);
                        configs.put(pod, cfg);
                        String ctr = startContainer(runtime, pod, cfg, "sleep");
                        ctrIds.put(pod, ctr);
                        podMillis.add((System.nanoTime() - p0) / 1e6);
                    } finally {
                        gate.release();
                    }
                    return null;
                }));
            }
            for (var f : futures) {
                try {
                    f.get();
                } catch (ExecutionException e) {
                    error = error == null ? "start: " + e.getCause().getMessage() : error;
                }
            }
        }
        return new Started(List.copyOf(podIds), Map.copyOf(ctrIds), Map.copyOf(configs), List.copyOf(podMillis), error);
    }

    /** CreateContainer + StartContainer of one more {@code sleep} container in a ready pod; its id. */
    String startContainer(String runtime, String pod, PodSandboxConfig cfg, String name) {
        var c = client(runtime);
        String ctr = c.runtimeLong(s -> s.createContainer(CreateContainerRequest.newBuilder()
                .setPodSandboxId(pod).setConfig(sleepConfig(name)).setSandboxConfig(cfg).build())).getContainerId();
        c.runtimeLong(s -> s.startContainer(StartContainerRequest.newBuilder().setContainerId(ctr).build()));
        return ctr;
    }

    /**
     * Tears pods down as kubelet does, {@code concurrency} at a time: StopContainer with the grace period, then
     * StopPodSandbox (a failure retried, up to 3 attempts, each recorded in {@code retried}), RemovePodSandbox.
     * Returns the first error, or null.
     */
    String tearDownPods(String runtime, List<String> pods, Map<String, String> containers, int concurrency,
                        long stopTimeout, List<String> retried) throws InterruptedException {
        var c = client(runtime);
        var gate = new Semaphore(concurrency);
        String error = null;
        try (var pool = Executors.newVirtualThreadPerTaskExecutor()) {
            var futures = new ArrayList<Future<?>>();
            for (String pod : pods) {
                futures.add(pool.submit(() -> {
                    gate.acquire();
                    try {
                        String ctr = containers.get(pod);
                        if (ctr != null) {
                            c.runtimeFor(stopTimeout, s -> s.stopContainer(StopContainerRequest.newBuilder()
                                    .setContainerId(ctr).setTimeout(stopTimeout).build()));
                        }
                        for (int attempt = 1; ; attempt++) {
                            try {
                                c.runtimeLong(s -> s.stopPodSandbox(StopPodSandboxRequest.newBuilder()
                                        .setPodSandboxId(pod).build()));
                                break;
                            } catch (RuntimeException e) {
                                retried.add("StopPodSandbox " + pod + " (attempt " + attempt + "): " + e.getMessage());
                                if (attempt == 3) {
                                    throw e;
                                }
                            }
                        }
                        c.runtimeLong(s -> s.removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(pod).build()));
                    } finally {
                        gate.release();
                    }
                    return null;
                }));
            }
            for (var f : futures) {
                try {
                    f.get();
                } catch (ExecutionException e) {
                    error = error == null ? "teardown: " + e.getCause().getMessage() : error;
                }
            }
        }
        return error;
    }

    static void removePod(CriClient c, String pod) {
        try {
            c.runtimeLong(s -> s.stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(pod).build()));
            c.runtimeLong(s -> s.removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(pod).build()));
        } catch (RuntimeException e) {
            System.err.println("bench: could not remove pod " + pod + ": " + e.getMessage());
        }
    }

    void printTail(String runtime) {
        var run = live.get(runtime);
        if (run != null) {
            System.err.println("---- " + runtime + " log tail (" + run.log() + ") ----\n"
                    + DaemonUnderTest.tail(run.log(), 30) + "\n----");
        }
    }

    /**
     * Removes every pod each daemon still has, stops the daemons, then ends by pid any shim left that names the
     * work directory (a containerd shim outlives containerd). True when nothing had to be forced.
     */
    boolean tearDown(Workspace ws) {
        boolean clean = true;
        for (var e : clients.entrySet()) {
            var c = e.getValue();
            try {
                for (var s : c.runtime(st -> st.listPodSandbox(ListPodSandboxRequest.getDefaultInstance())).getItemsList()) {
                    System.err.println("bench: " + e.getKey() + " still has pod " + s.getId() + ", removing it");
                    removePod(c, s.getId());
                    clean = false;
                }
            } catch (RuntimeException ex) {
                System.err.println("bench: " + e.getKey() + ": listing pods: " + ex.getMessage());
            }
            c.close();
        }
        for (var run : live.values()) {
            run.stop();
        }
        String dir = ws.dir().toString();
        for (long pid : Proc.find(cmd -> !cmd.isEmpty() && cmd.getFirst().contains("containerd-shim")
                && String.join(" ", cmd).contains(dir))) {
            System.err.println("bench: ending leftover shim " + pid + ": " + String.join(" ", Proc.cmdline(pid)));
            ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
            clean = false;
        }
        return clean;
    }

    /** After the workspace is closed: the host's network, netns and cgroups (normally nothing is left). */
    void cleanUpHost() {
        if (host == null) {
            return;
        }
        var left = host.cleanUp();
        if (!left.isEmpty()) {
            System.err.println("bench: removed leftovers: " + left);
        }
        if (hostCleanup != null) {
            try {
                Runtime.getRuntime().removeShutdownHook(hostCleanup);
            } catch (IllegalStateException shuttingDown) {
                // it runs anyway (idempotent)
            }
        }
    }
}
