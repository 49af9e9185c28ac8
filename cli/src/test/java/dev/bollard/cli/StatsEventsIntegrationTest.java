package dev.bollard.cli;

import dev.bollard.api.cri.v1.ContainerEventResponse;
import dev.bollard.api.cri.v1.ContainerEventType;
import dev.bollard.api.cri.v1.ContainerStats;
import dev.bollard.api.cri.v1.ContainerStatsFilter;
import dev.bollard.api.cri.v1.ContainerStatsRequest;
import dev.bollard.api.cri.v1.CreateContainerRequest;
import dev.bollard.api.cri.v1.ExecSyncRequest;
import dev.bollard.api.cri.v1.GetEventsRequest;
import dev.bollard.api.cri.v1.ImageFsInfoRequest;
import dev.bollard.api.cri.v1.LinuxContainerConfig;
import dev.bollard.api.cri.v1.LinuxContainerResources;
import dev.bollard.api.cri.v1.PodSandboxState;
import dev.bollard.api.cri.v1.ListContainerStatsRequest;
import dev.bollard.api.cri.v1.PodSandboxStats;
import dev.bollard.api.cri.v1.PodSandboxStatsRequest;
import dev.bollard.api.cri.v1.PodSandboxStatusRequest;
import dev.bollard.api.cri.v1.RemoveContainerRequest;
import dev.bollard.api.cri.v1.RuntimeServiceGrpc;
import dev.bollard.api.cri.v1.StartContainerRequest;
import dev.bollard.api.cri.v1.StopContainerRequest;
import dev.bollard.api.cri.v1.VersionRequest;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import io.grpc.stub.StreamObserver;
import io.grpc.netty.NettyChannelBuilder;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.unix.DomainSocketAddress;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Stats of real containers and pods (CPU, memory, writable layer, network, processes) and GetContainerEvents. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@LeakChecked
class StatsEventsIntegrationTest {

    private static final long MIB = 1 << 20;
    private PodTestNode node;
    private EpollEventLoopGroup group;
    private final List<ManagedChannel> channels = new ArrayList<>();

    @BeforeAll
    void start() throws Exception {
        node = PodTestNode.start();
        group = new EpollEventLoopGroup(1);
    }

    @AfterAll
    void stop() throws Exception {
        for (var c : channels) {
            c.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
        if (group != null) {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        }
        if (node != null) {
            node.close();
        }
    }

    private ManagedChannel channel() {
        var ch = NettyChannelBuilder.forAddress(new DomainSocketAddress(node.daemon.socket.toString()))
                .channelType(EpollDomainSocketChannel.class).eventLoopGroup(group).usePlaintext()
                .maxInboundMessageSize(64 << 20).build();
        channels.add(ch);
        return ch;
    }

    private ContainerStats stats(String id) {
        return node.rt().containerStats(ContainerStatsRequest.newBuilder().setContainerId(id).build()).getStats();
    }

    private PodSandboxStats podStats(String pod) {
        return node.rt().podSandboxStats(PodSandboxStatsRequest.newBuilder().setPodSandboxId(pod).build()).getStats();
    }

    /** Polls until the value satisfies the condition (up to 15 s); the last value either way. */
    private static <T> T until(Supplier<T> value, Predicate<T> ok) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
        T v = value.get();
        while (!ok.test(v) && System.nanoTime() < deadline) {
            Thread.sleep(200);
            v = value.get();
        }
        return v;
    }

    private String sh(String id, String script) {
        var r = node.rt().execSync(ExecSyncRequest.newBuilder().setContainerId(id).addCmd("sh").addCmd("-c")
                .addCmd(script).setTimeout(20).build());
        assertEquals(0, r.getExitCode(), script + ": " + r.getStderr().toStringUtf8());
        return r.getStdout().toStringUtf8();
    }

    @Test
    void cpuMemoryLayerNetworkAndProcessesOfRealContainers() throws Exception {
        var podConfig = node.pod("stats").build();
        String pod = node.runPod(podConfig);
        String burner = node.createAndStart(pod, podConfig, PodTestNode.container("burner", "sh", "-c",
                "while :; do :; done").build());
        String holder = node.createAndStart(pod, podConfig, PodTestNode.container("holder", "sh", "-c",
                "head -c 67108864 /dev/zero > /dev/shm/x; sleep 3600").build());

        // CPU: one core busy, measured as the max over a few collector intervals (the node is shared).
        long maxNanoCores = 0;
        for (int i = 0; i < 12 && maxNanoCores < 800_000_000L; i++) {
            var s = stats(burner);
            assertTrue(s.getCpu().getTimestamp() > 0 && s.getCpu().getUsageCoreNanoSeconds().getValue() > 0, s.toString());
            maxNanoCores = Math.max(maxNanoCores, s.getCpu().getUsageNanoCores().getValue());
            Thread.sleep(500);
        }
        assertTrue(maxNanoCores >= 500_000_000L && maxNanoCores <= 1_300_000_000L,
                "a busy loop uses about one core: " + maxNanoCores + " nanocores");

        // Memory: 64 MiB of shm is charged to the writer's cgroup and is never inactive file cache.
        var held = until(() -> stats(holder), s -> s.getMemory().getWorkingSetBytes().getValue() >= 64 * MIB);
        var mem = held.getMemory();
        assertTrue(mem.getWorkingSetBytes().getValue() >= 64 * MIB, "working set of 64 MiB held: " + mem);
        assertTrue(mem.getUsageBytes().getValue() >= mem.getWorkingSetBytes().getValue(), mem.toString());
        assertTrue(mem.getPageFaults().getValue() > 0, mem.toString());
        assertEquals(holder, held.getAttributes().getId());
        assertEquals("holder", held.getAttributes().getMetadata().getName());

        // Writable layer: grows by a 10 MB file written to /tmp (the overlay's upper dir).
        long before = stats(holder).getWritableLayer().getUsedBytes().getValue();
        sh(holder, "head -c 10485760 /dev/zero > /tmp/big");
        var layer = until(() -> stats(holder).getWritableLayer(),
                l -> l.getUsedBytes().getValue() >= before + 10_485_760);
        assertTrue(layer.getUsedBytes().getValue() >= before + 10_485_760, "layer grew by 10 MB from " + before
                + ": " + layer);
        assertTrue(layer.getInodesUsed().getValue() > 0 && layer.getTimestamp() > 0, layer.toString());

        // List filters: by pod, by ID prefix.
        var listed = node.rt().listContainerStats(ListContainerStatsRequest.newBuilder().setFilter(
                ContainerStatsFilter.newBuilder().setPodSandboxId(pod)).build()).getStatsList();
        assertEquals(2, listed.size(), listed.toString());
        var byId = node.rt().listContainerStats(ListContainerStatsRequest.newBuilder().setFilter(
                ContainerStatsFilter.newBuilder().setId(burner.substring(0, 12))).build()).getStatsList();
        assertEquals(List.of(burner), byId.stream().map(s -> s.getAttributes().getId()).toList());

        // The pod: its cgroup parent holds both containers; processes; its own containers' stats.
        var ps = until(() -> podStats(pod), p -> p.getLinux().getMemory().getWorkingSetBytes().getValue() >= 64 * MIB);
        assertEquals(pod, ps.getAttributes().getId());
        assertTrue(ps.getLinux().getMemory().getWorkingSetBytes().getValue() >= 64 * MIB, ps.getLinux().getMemory().toString());
        assertTrue(ps.getLinux().getCpu().getUsageCoreNanoSeconds().getValue() > 0);
        assertTrue(ps.getLinux().getProcess().getProcessCount().getValue() >= 3,
                "infra, burner, holder's sleep (sh execs its last command): " + ps.getLinux().getProcess());
        assertEquals(2, ps.getLinux().getContainersCount());

        // Network: the host pings the pod's IP; the pod's eth0 counters (read in its netns) grow both ways.
        String ip = node.rt().podSandboxStatus(PodSandboxStatusRequest.newBuilder().setPodSandboxId(pod).build())
                .getStatus().getNetwork().getIp();
        var net0 = podStats(pod).getLinux().getNetwork();
        assertEquals("eth0", net0.getDefaultInterface().getName(), net0.toString());
        assertTrue(net0.getInterfacesList().stream().noneMatch(i -> i.getName().equals("lo")), net0.toString());
        long rx0 = net0.getDefaultInterface().getRxBytes().getValue();
        long tx0 = net0.getDefaultInterface().getTxBytes().getValue();
        var ping = new ProcessBuilder("/bin/busybox", "ping", "-c", "3", "-i", "0.2", "-W", "2", ip)
                .redirectErrorStream(true).start();
        assertTrue(ping.waitFor(15, TimeUnit.SECONDS));
        assertEquals(0, ping.exitValue(), new String(ping.getInputStream().readAllBytes()));
        var net = until(() -> podStats(pod).getLinux().getNetwork().getDefaultInterface(),
                n -> n.getRxBytes().getValue() >= rx0 + 3 * 84 && n.getTxBytes().getValue() >= tx0 + 3 * 84);
        assertTrue(net.getRxBytes().getValue() >= rx0 + 3 * 84 && net.getTxBytes().getValue() >= tx0 + 3 * 84,
                "3 echo requests in and replies out (84 bytes each at least) from rx " + rx0 + " tx " + tx0 + ": " + net);

        // The CLI shows them.
        var cli = DaemonProcess.run(node.dir, "-r", node.daemon.endpoint(), "stats", "-o", "json");
        assertEquals(0, cli.exit(), cli.err());
        assertTrue(cli.out().contains(burner) && cli.out().contains("workingSetBytes"), cli.out());
        var cliPods = DaemonProcess.run(node.dir, "-r", node.daemon.endpoint(), "statsp");
        assertEquals(0, cliPods.exit(), cliPods.err());
        assertTrue(cliPods.out().contains("stats") && cliPods.out().contains(pod.substring(0, 13)), cliPods.out());

        node.removePod(pod);
    }

    /** Reads nothing at all: its messages pile up at the daemon until it is dropped. */
    private static final class Stalled implements ClientResponseObserver<GetEventsRequest, ContainerEventResponse> {
        volatile ClientCallStreamObserver<GetEventsRequest> call;
        final CompletableFuture<Throwable> ended = new CompletableFuture<>();

        @Override
        public void beforeStart(ClientCallStreamObserver<GetEventsRequest> requestStream) {
            call = requestStream;
            requestStream.disableAutoRequestWithInitial(1); // one event to show it is subscribed, then nothing
        }

        final CompletableFuture<ContainerEventResponse> firstEvent = new CompletableFuture<>();

        @Override
        public void onNext(ContainerEventResponse value) {
            firstEvent.complete(value);
        }

        @Override
        public void onError(Throwable t) {
            ended.complete(t);
        }

        @Override
        public void onCompleted() {
            ended.complete(null);
        }
    }

    @Test
    void eventsReachEverySubscriberInOrderAndASubscriberThatNeverReadsIsDropped() throws Exception {
        var podConfig = node.pod("events").build();
        String pod = node.runPod(podConfig);
        var first = new EventCollector();
        var second = new EventCollector();
        var stalled = new Stalled();
        RuntimeServiceGrpc.newStub(channel()).getContainerEvents(GetEventsRequest.getDefaultInstance(), first);
        RuntimeServiceGrpc.newStub(channel()).getContainerEvents(GetEventsRequest.getDefaultInstance(), second);
        // Never reading means never reading the socket: its channel's only event loop thread is held.
        var stalledLoop = new EpollEventLoopGroup(1);
        var held = new java.util.concurrent.CountDownLatch(1);
        var stalledChannel = NettyChannelBuilder.forAddress(new DomainSocketAddress(node.daemon.socket.toString()))
                .channelType(EpollDomainSocketChannel.class).eventLoopGroup(stalledLoop).usePlaintext()
                .maxInboundMessageSize(64 << 20).build();
        channels.add(stalledChannel);
        RuntimeServiceGrpc.newStub(stalledChannel).getContainerEvents(GetEventsRequest.getDefaultInstance(), stalled);

        // The streams are open once a probe container's creation reaches both readers.
        boolean subscribed = false;
        for (int i = 0; i < 10 && !subscribed; i++) {
            String probe = create(pod, podConfig, "probe-" + i, "");
            subscribed = until(() -> first.typesOf(probe).size() + second.typesOf(probe).size(), n -> n >= 2) >= 2;
            remove(probe);
        }
        assertTrue(subscribed, "both subscribers receive events");
        stalled.firstEvent.get(15, TimeUnit.SECONDS);

        stalledLoop.execute(() -> {
            try {
                held.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        String c = node.createAndStart(pod, podConfig, PodTestNode.container("life", "sleep", "3600").build());
        node.rt().stopContainer(StopContainerRequest.newBuilder().setContainerId(c).setTimeout(0).build());
        remove(c);
        var expected = List.of(ContainerEventType.CONTAINER_CREATED_EVENT, ContainerEventType.CONTAINER_STARTED_EVENT,
                ContainerEventType.CONTAINER_STOPPED_EVENT, ContainerEventType.CONTAINER_DELETED_EVENT);
        for (var sub : List.of(first, second)) {
            var types = until(() -> sub.typesOf(c), t -> t.size() >= 4);
            assertEquals(expected, types, "one lifecycle, in order");
            var created = sub.events.stream().filter(e -> e.getContainerId().equals(c)).findFirst().orElseThrow();
            assertEquals(pod, created.getPodSandboxStatus().getId());
            assertTrue(created.getCreatedAt() > 0);
            assertTrue(created.getContainersStatusesList().stream().anyMatch(s -> s.getId().equals(c)),
                    "the pod's container statuses include the new container");
        }

        // Big events (every container status carries a 64 KiB annotation) fill the stalled socket's buffers.
        String big = "x".repeat(64 * 1024);
        var bulky = new ArrayList<String>();
        for (int i = 0; i < 6; i++) {
            bulky.add(create(pod, podConfig, "bulky-" + i, big));
        }
        for (String id : bulky) {
            remove(id);
        }
        // The daemon is fine and the readers kept receiving.
        assertTrue(node.rt().version(VersionRequest.getDefaultInstance()).getRuntimeName().length() > 0);
        for (var sub : List.of(first, second)) {
            String last = bulky.getLast();
            assertEquals(List.of(ContainerEventType.CONTAINER_CREATED_EVENT, ContainerEventType.CONTAINER_DELETED_EVENT),
                    until(() -> sub.typesOf(last), t -> t.size() >= 2));
            assertTrue(!sub.ended.isDone(), "a reading subscriber stays subscribed: " + sub.ended.getNow(null));
        }
        held.countDown();
        stalledLoop.shutdownGracefully(0, 1, TimeUnit.SECONDS);
        node.removePod(pod);
    }

    /** The container's cgroup directory in one hierarchy (its bundle's linux.cgroupsPath), or null when absent. */
    private Path cgroupDir(Path hierarchy, String id) throws java.io.IOException {
        var spec = com.google.gson.JsonParser.parseString(Files.readString(node.daemon.state.resolve("containers")
                .resolve(id).resolve("config.json"))).getAsJsonObject();
        String path = spec.getAsJsonObject("linux").get("cgroupsPath").getAsString();
        Path dir = hierarchy.resolve(path.startsWith("/") ? path.substring(1) : path);
        return Files.isDirectory(dir) ? dir : null;
    }

    @Test
    void swapPressureAndTheContainerFilesystemOfARealContainer() throws Exception {
        var podConfig = node.pod("swap-psi").build();
        String pod = node.runPod(podConfig);
        long limit = 128 * MIB;
        String c = node.createAndStart(pod, podConfig, PodTestNode.container("limited", "sh", "-c",
                "head -c 1048576 /dev/zero > /tmp/one; sleep 3600").setLinux(LinuxContainerConfig.newBuilder()
                .setResources(LinuxContainerResources.newBuilder().setMemoryLimitInBytes(limit))).build());
        var s = until(() -> stats(c), x -> x.getWritableLayer().getUsedBytes().getValue() >= 1_048_576);

        // Swap: where the memory controller accounts it, a limit without a swap limit leaves no swap to use.
        Path v1 = cgroupDir(Path.of("/sys/fs/cgroup/memory"), c);
        Path unified = Files.exists(Path.of("/sys/fs/cgroup/cgroup.controllers")) ? Path.of("/sys/fs/cgroup")
                : Path.of("/sys/fs/cgroup/unified");
        Path v2 = cgroupDir(unified, c);
        boolean swapAccounted = v1 != null ? Files.exists(v1.resolve("memory.memsw.usage_in_bytes"))
                : v2 != null && Files.exists(v2.resolve("memory.swap.current"));
        assertEquals(swapAccounted, s.hasSwap(), "swap figures exactly where the node accounts swap: " + s);
        if (swapAccounted) {
            assertTrue(s.getSwap().getTimestamp() > 0);
            assertEquals(0, s.getSwap().getSwapUsageBytes().getValue(), s.getSwap().toString());
            assertEquals(0, s.getSwap().getSwapAvailableBytes().getValue(), "swap capped at the memory limit: "
                    + s.getSwap());
        }

        // PSI: from the unified tree when the container has a cgroup there and the kernel has pressure files;
        // otherwise nothing at all (never zeros).
        boolean psi = v2 != null && Files.exists(v2.resolve("cpu.pressure"));
        assertEquals(psi, s.getCpu().hasPsi(), "cpu PSI iff " + v2 + "/cpu.pressure exists: " + s.getCpu());
        assertEquals(psi && Files.exists(v2.resolve("memory.pressure")), s.getMemory().hasPsi(), s.getMemory().toString());
        assertEquals(psi && Files.exists(v2.resolve("io.pressure")), s.hasIo(), s.toString());
        if (psi) {
            assertTrue(s.getCpu().getPsi().hasSome(), s.getCpu().toString());
        }
        // The CRI pod metrics carry the same readings under cAdvisor's names.
        var metrics = node.rt().listPodSandboxMetrics(dev.bollard.api.cri.v1.ListPodSandboxMetricsRequest
                .getDefaultInstance()).getPodMetricsList().stream().filter(m -> m.getPodSandboxId().equals(pod))
                .flatMap(m -> m.getContainerMetricsList().stream()).filter(m -> m.getContainerId().equals(c))
                .flatMap(m -> m.getMetricsList().stream()).map(dev.bollard.api.cri.v1.Metric::getName).toList();
        assertEquals(psi, metrics.contains("container_pressure_cpu_waiting_seconds_total"), metrics.toString());
        assertEquals(swapAccounted, metrics.contains("container_memory_swap"), metrics.toString());
        var podLinux = podStats(pod).getLinux();
        Path podV2 = v2 == null ? null : v2.getParent();
        assertEquals(podV2 != null && Files.exists(podV2.resolve("cpu.pressure")), podLinux.getCpu().hasPsi(),
                podLinux.getCpu().toString());

        // ImageFsInfo's container filesystem: the writable layers' filesystem, as the container's stats name it,
        // holding at least this container's layer.
        var layer = s.getWritableLayer();
        var fs = until(() -> node.images().imageFsInfo(ImageFsInfoRequest.getDefaultInstance()),
                r -> r.getContainerFilesystemsCount() == 1 && r.getContainerFilesystems(0).getUsedBytes().getValue()
                        >= layer.getUsedBytes().getValue());
        assertEquals(1, fs.getContainerFilesystemsCount(), fs.toString());
        var containersFs = fs.getContainerFilesystems(0);
        assertEquals(layer.getFsId().getMountpoint(), containersFs.getFsId().getMountpoint());
        assertEquals(node.daemon.root.resolve("containers").toString(), containersFs.getFsId().getMountpoint());
        assertTrue(containersFs.getUsedBytes().getValue() >= layer.getUsedBytes().getValue()
                && containersFs.getInodesUsed().getValue() >= layer.getInodesUsed().getValue()
                && containersFs.getTimestamp() > 0, containersFs + " vs " + layer);
        assertTrue(fs.getImageFilesystems(0).getUsedBytes().getValue() > 0);

        // An exited container's layer still holds disk: it stays counted until the container is removed.
        node.rt().stopContainer(StopContainerRequest.newBuilder().setContainerId(c).setTimeout(0).build());
        var stopped = node.images().imageFsInfo(ImageFsInfoRequest.getDefaultInstance()).getContainerFilesystems(0);
        assertTrue(stopped.getUsedBytes().getValue() >= 1_048_576, stopped.toString());
        node.removePod(pod);
    }

    @Test
    void podSandboxesSendTheirOwnLifecycleEventsWithThePodStatus() throws Exception {
        var probeConfig = node.pod("probes").build();
        String probes = node.runPod(probeConfig);
        var sub = new EventCollector();
        RuntimeServiceGrpc.newStub(channel()).getContainerEvents(GetEventsRequest.getDefaultInstance(), sub);
        boolean subscribed = false;
        for (int i = 0; i < 10 && !subscribed; i++) {
            String probe = create(probes, probeConfig, "probe-" + i, "");
            subscribed = until(() -> sub.typesOf(probe).size(), n -> n >= 1) >= 1;
            remove(probe);
        }
        assertTrue(subscribed, "subscribed");

        var podConfig = node.pod("evented").build();
        String pod = node.runPod(podConfig);
        String c = node.createAndStart(pod, podConfig, PodTestNode.container("member", "sleep", "3600").build());
        node.rt().stopPodSandbox(dev.bollard.api.cri.v1.StopPodSandboxRequest.newBuilder().setPodSandboxId(pod).build());
        node.rt().removePodSandbox(dev.bollard.api.cri.v1.RemovePodSandboxRequest.newBuilder().setPodSandboxId(pod).build());

        var lifecycle = List.of(ContainerEventType.CONTAINER_CREATED_EVENT, ContainerEventType.CONTAINER_STARTED_EVENT,
                ContainerEventType.CONTAINER_STOPPED_EVENT, ContainerEventType.CONTAINER_DELETED_EVENT);
        assertEquals(lifecycle, until(() -> sub.typesOf(pod), t -> t.size() >= 4), "the sandbox's own events");
        assertEquals(lifecycle, until(() -> sub.typesOf(c), t -> t.size() >= 4));
        var podEvents = sub.events.stream().filter(e -> e.getContainerId().equals(pod)).toList();
        for (var e : podEvents) {
            // kubelet's evented PLEG drops events without the pod's status and metadata (its UID keys the cache).
            assertEquals(pod, e.getPodSandboxStatus().getId(), e.toString());
            assertEquals(podConfig.getMetadata().getUid(), e.getPodSandboxStatus().getMetadata().getUid());
            assertTrue(e.getCreatedAt() > 0);
        }
        assertEquals(List.of(PodSandboxState.SANDBOX_READY, PodSandboxState.SANDBOX_READY,
                        PodSandboxState.SANDBOX_NOTREADY, PodSandboxState.SANDBOX_NOTREADY),
                podEvents.stream().map(e -> e.getPodSandboxStatus().getState()).toList());
        assertEquals(0, podEvents.getLast().getContainersStatusesCount(), "the pod's containers went before it");
        // The pod's steps frame its container's: created and started before it, stopped and deleted after it.
        var order = sub.events.stream().filter(e -> e.getContainerId().equals(pod) || e.getContainerId().equals(c))
                .map(e -> (e.getContainerId().equals(pod) ? "pod " : "container ") + e.getContainerEventType()).toList();
        assertEquals(List.of("pod CONTAINER_CREATED_EVENT", "pod CONTAINER_STARTED_EVENT",
                "container CONTAINER_CREATED_EVENT", "container CONTAINER_STARTED_EVENT",
                "container CONTAINER_STOPPED_EVENT", "pod CONTAINER_STOPPED_EVENT",
                "container CONTAINER_DELETED_EVENT", "pod CONTAINER_DELETED_EVENT"), order);

        // An infra process that dies on its own stops the pod too, and says so once.
        var crashConfig = node.pod("crashing").build();
        String crashing = node.runPod(crashConfig);
        String info = node.rt().podSandboxStatus(PodSandboxStatusRequest.newBuilder().setPodSandboxId(crashing)
                .setVerbose(true).build()).getInfoMap().get("info");
        long pid = com.google.gson.JsonParser.parseString(info).getAsJsonObject().get("pid").getAsLong();
        var kill = new ProcessBuilder("kill", "-9", Long.toString(pid)).redirectErrorStream(true).start();
        assertTrue(kill.waitFor(10, TimeUnit.SECONDS) && kill.exitValue() == 0, new String(kill.getInputStream().readAllBytes()));
        var crashed = until(() -> sub.typesOf(crashing), t -> t.size() >= 3);
        assertEquals(lifecycle.subList(0, 3), crashed);
        var stoppedEvent = sub.events.stream().filter(e -> e.getContainerId().equals(crashing)
                && e.getContainerEventType() == ContainerEventType.CONTAINER_STOPPED_EVENT).findFirst().orElseThrow();
        assertEquals(PodSandboxState.SANDBOX_NOTREADY, stoppedEvent.getPodSandboxStatus().getState());
        node.removePod(crashing);
        assertEquals(lifecycle, until(() -> sub.typesOf(crashing), t -> t.size() >= 4),
                "StopPodSandbox of a pod already stopped sends no second STOPPED");
        assertFalse(sub.ended.isDone());
        node.removePod(probes);
    }

    private String create(String pod, dev.bollard.api.cri.v1.PodSandboxConfig podConfig, String name, String annotation) {
        var config = PodTestNode.container(name, "sleep", "3600");
        if (!annotation.isEmpty()) {
            config.putAnnotations("bulk", annotation);
        }
        return node.rt().createContainer(CreateContainerRequest.newBuilder().setPodSandboxId(pod)
                .setConfig(config).setSandboxConfig(podConfig).build()).getContainerId();
    }

    private void remove(String id) {
        node.rt().removeContainer(RemoveContainerRequest.newBuilder().setContainerId(id).build());
    }
}
