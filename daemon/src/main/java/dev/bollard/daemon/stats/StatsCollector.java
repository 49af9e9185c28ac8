package dev.bollard.daemon.stats;

import dev.bollard.api.cri.v1.ContainerAttributes;
import dev.bollard.api.cri.v1.ContainerStats;
import dev.bollard.api.cri.v1.CpuUsage;
import dev.bollard.api.cri.v1.FilesystemIdentifier;
import dev.bollard.api.cri.v1.FilesystemUsage;
import dev.bollard.api.cri.v1.IoUsage;
import dev.bollard.api.cri.v1.LinuxPodSandboxStats;
import dev.bollard.api.cri.v1.MemoryUsage;
import dev.bollard.api.cri.v1.NetworkInterfaceUsage;
import dev.bollard.api.cri.v1.NetworkUsage;
import dev.bollard.api.cri.v1.PodSandboxAttributes;
import dev.bollard.api.cri.v1.PodSandboxStats;
import dev.bollard.api.cri.v1.ProcessUsage;
import dev.bollard.api.cri.v1.PsiData;
import dev.bollard.api.cri.v1.PsiStats;
import dev.bollard.api.cri.v1.SwapUsage;
import dev.bollard.api.cri.v1.UInt64Value;
import dev.bollard.daemon.container.Container;
import dev.bollard.daemon.container.ContainerStore;
import dev.bollard.daemon.container.ContainerState;
import dev.bollard.daemon.log.Log;
import dev.bollard.daemon.network.NetNs;
import dev.bollard.daemon.sandbox.Sandbox;
import dev.bollard.daemon.sandbox.SandboxStore;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Reads the cgroups of containers and pods (and the containers' writable layers and the pods' network counters)
 * when a stats call asks for them, and keeps each reading for {@link #INTERVAL}: calls in between answer from
 * memory, and a CPU rate is computed between a cgroup's reading and the one before it (so the first call for a
 * container has none, as containerd's first has none). Reading on demand costs at most one reading of each
 * cgroup an interval however often calls come, and nothing between calls: a timer that read every cgroup and pod
 * each second cost 1.65× containerd's daemon CPU at kubelet's pace (docs/BENCHMARKS.md). A background loop only
 * forgets what was removed.
 */
public final class StatsCollector implements AutoCloseable {

    public static final Duration INTERVAL = Duration.ofSeconds(1);
    private static final Log LOG = Log.get("stats");

    /** One cgroup reading and the CPU rate since the reading before it (-1: unknown yet). */
    record Snapshot(CgroupSample sample, long nanoCores) {
    }

    record Network(long wallNanos, List<NetDev.Counters> interfaces) {
    }

    /** A writable layer's usage and the container state it was measured in (only a running one can change). */
    record Layer(LayerUsage usage, ContainerState state, long monoNanos) {
    }

    private final ContainerStore containers;
    private final SandboxStore sandboxes;
    private final Path containersRoot;
    private final Duration interval;
    private final Map<String, Snapshot> cgroups = new ConcurrentHashMap<>();
    private final Map<String, Layer> layers = new ConcurrentHashMap<>();
    private final Map<String, Network> networks = new ConcurrentHashMap<>();
    private volatile GuestSource guest = GuestSource.NONE;
    private volatile boolean closed;
    private final Thread loop;

    /** @param root the daemon's root: writable layers are at {@code <root>/containers/<id>/rootfs/upper} */
    public StatsCollector(Path root, ContainerStore containers, SandboxStore sandboxes, Duration interval) {
        this.containers = containers;
        this.sandboxes = sandboxes;
        this.containersRoot = root.resolve("containers");
        this.interval = interval;
        this.loop = Thread.ofVirtual().name("stats-collector").start(this::run);
    }

    /**
     * Where the figures of containers the host's cgroups do not see come from: a VM pod's run in its guest, and
     * its shim's Stats call reads their cgroups there.
     */
    public interface GuestSource {
        GuestSource NONE = new GuestSource() {
            @Override
            public boolean isGuest(String podId) {
                return false;
            }

            @Override
            public java.util.Optional<CgroupSample> read(String podId, String taskId) {
                return java.util.Optional.empty();
            }
        };

        /** Whether the pod's containers run out of the host cgroups' sight. */
        boolean isGuest(String podId);

        /** The task's reading (the pod's infra task has the pod's id); empty when the shim cannot say. */
        java.util.Optional<CgroupSample> read(String podId, String taskId);
    }

    public void guestSource(GuestSource source) {
        this.guest = source;
    }

    private static final String GUEST = "guest:";

    /** The cache key of a container: its host cgroup, or its pod and task for a guest's. */
    private String key(Container c) {
        String pod = c.record().sandboxId();
        return guest.isGuest(pod) ? GUEST + pod + "/" + c.id() : cgroupPath(c);
    }

    /** The cache key of a pod: its host cgroup, or its guest's sum. */
    private String podKey(Sandbox s) {
        return guest.isGuest(s.id()) ? GUEST + s.id() : podCgroup(s);
    }

    /** A guest reading: one task's, or (pod key) the sum of the pod's infra task and running containers. */
    private CgroupSample readGuest(String key) {
        String rest = key.substring(GUEST.length());
        int slash = rest.indexOf('/');
        var none = new CgroupSample(CgroupSample.epochNanos(), System.nanoTime(), -1, -1, -1, -1, -1, -1, -1, -1, -1,
                -1, null, null, null);
        if (slash >= 0) {
            return guest.read(rest.substring(0, slash), rest.substring(slash + 1)).orElse(none);
        }
        var parts = new java.util.ArrayList<CgroupSample>();
        guest.read(rest, rest).ifPresent(parts::add);
        for (var c : containers.ofPod(rest)) {
            if (c.state() == ContainerState.RUNNING) {
                guest.read(rest, c.id()).ifPresent(parts::add);
            }
        }
        return parts.isEmpty() ? none : CgroupSample.sum(parts);
    }

    private void run() {
        while (!closed) {
            try {
                Thread.sleep(interval.multipliedBy(FORGET_EVERY));
            } catch (InterruptedException e) {
                return;
            }
            try {
                forget();
            } catch (RuntimeException e) {
                LOG.warn("stats housekeeping failed", "error", String.valueOf(e.getMessage()));
            }
        }
    }

    /** Intervals between two passes that drop the readings of removed or stopped containers and pods. */
    static final int FORGET_EVERY = 10;

    /** Drops the readings of what no longer runs (a stopped container's layer stays: it holds disk until removed). */
    void forget() {
        var live = new HashSet<String>();
        var present = new HashSet<String>();
        for (var c : containers.list()) {
            present.add(c.id());
            if (c.state() == ContainerState.RUNNING) {
                live.add(key(c));
            }
        }
        var ready = new HashSet<String>();
        for (var s : sandboxes.list()) {
            if (s.ready()) {
                live.add(podKey(s));
                ready.add(s.id());
            }
        }
        cgroups.keySet().retainAll(live);
        layers.keySet().retainAll(present);
        networks.keySet().retainAll(ready);
    }

    private Snapshot sample(String cgroupPath) {
        var now = cgroupPath.startsWith(GUEST) ? readGuest(cgroupPath) : CgroupSample.read(cgroupPath);
        var prev = cgroups.get(cgroupPath);
        long rate;
        if (prev == null) {
            rate = -1;
        } else if (now.monoNanos() - prev.sample().monoNanos() < interval.toNanos() / 2) {
            rate = prev.nanoCores(); // two calls raced to read it: a rate over a few microseconds would be noise
        } else {
            rate = StatsMath.nanoCores(prev.sample().cpuUsageNanos(), prev.sample().monoNanos(), now.cpuUsageNanos(),
                    now.monoNanos());
        }
        var snap = new Snapshot(now, rate);
        cgroups.put(cgroupPath, snap);
        return snap;
    }

    private Network sampleNetwork(Sandbox s) {
        String netns = s.record().netns();
        if (netns.isEmpty()) {
            return null; // host network: the node's counters are not the pod's
        }
        try {
            String text = NetNs.at(Path.of(netns)).run(() -> Files.readString(Path.of("/proc/thread-self/net/dev")));
            var n = new Network(CgroupSample.epochNanos(), NetDev.parse(text));
            networks.put(s.id(), n);
            return n;
        } catch (Exception e) {
            LOG.debug("cannot read a pod's network counters", "pod", s.id(), "netns", netns,
                    "error", String.valueOf(e.getMessage()));
            return null;
        }
    }

    /** The cached snapshot when read within the interval, else a reading now (its rate against the cached one). */
    private Snapshot current(String cgroupPath) {
        var snap = cgroups.get(cgroupPath);
        if (snap == null || System.nanoTime() - snap.sample().monoNanos() >= interval.toNanos()) {
            snap = sample(cgroupPath);
        }
        return snap;
    }

    private LayerUsage measureLayer(Container c) {
        var usage = LayerUsage.measure(upperDir(c));
        layers.put(c.id(), new Layer(usage, c.state(), System.nanoTime()));
        return usage;
    }

    /** The cached usage when still true (same state; for a running container, fresh enough), else a walk now. */
    private LayerUsage layer(Container c) {
        var cached = layers.get(c.id());
        if (cached != null && cached.state() == c.state() && (c.state() != ContainerState.RUNNING
                || System.nanoTime() - cached.monoNanos() <= 3 * interval.toNanos())) {
            return cached.usage();
        }
        return measureLayer(c);
    }

    /** The filesystem the writable layers are on, as ContainerStats.writable_layer and ImageFsInfo name it. */
    private FilesystemIdentifier layersFs() {
        return FilesystemIdentifier.newBuilder().setMountpoint(containersRoot.toString()).build();
    }

    /**
     * ImageFsInfo's container_filesystems: the writable layers of every container Bollard has (running or not:
     * each holds disk until removed), summed from the same measurements ContainerStats reports.
     */
    public FilesystemUsage containerFilesystem() {
        long bytes = 0;
        long inodes = 0;
        for (var c : containers.list()) {
            var u = layer(c);
            bytes += u.usedBytes();
            inodes += u.inodesUsed();
        }
        return FilesystemUsage.newBuilder().setTimestamp(CgroupSample.epochNanos()).setFsId(layersFs())
                .setUsedBytes(u64(bytes)).setInodesUsed(u64(inodes)).build();
    }

    // ---- the CRI messages ----

    public ContainerStats containerStats(Container c) {
        var cfg = c.config();
        var b = ContainerStats.newBuilder().setAttributes(ContainerAttributes.newBuilder().setId(c.id())
                .setMetadata(cfg.getMetadata()).putAllLabels(cfg.getLabelsMap())
                .putAllAnnotations(cfg.getAnnotationsMap()));
        String path = key(c);
        if (c.state() == ContainerState.RUNNING && !path.isEmpty()) {
            var snap = current(path);
            var sample = snap.sample();
            if (sample.found()) {
                b.setCpu(cpu(snap)).setMemory(memory(sample));
            }
            if (sample.swapUsage() >= 0) {
                var swap = SwapUsage.newBuilder().setTimestamp(sample.wallNanos())
                        .setSwapUsageBytes(u64(sample.swapUsage()));
                if (sample.swapAvailable() >= 0) {
                    swap.setSwapAvailableBytes(u64(sample.swapAvailable()));
                }
                b.setSwap(swap);
            }
            if (sample.ioPressure() != null) {
                b.setIo(io(sample));
            }
        }
        var layer = layer(c);
        b.setWritableLayer(FilesystemUsage.newBuilder().setTimestamp(layer.wallNanos()).setFsId(layersFs())
                .setUsedBytes(u64(layer.usedBytes())).setInodesUsed(u64(layer.inodesUsed())));
        return b.build();
    }

    public PodSandboxStats podStats(Sandbox s, List<Container> members) {
        var cfg = s.config();
        var linux = LinuxPodSandboxStats.newBuilder();
        if (s.ready()) {
            var snap = current(podKey(s));
            var sample = snap.sample();
            if (sample.found()) {
                linux.setCpu(cpu(snap)).setMemory(memory(sample));
            }
            if (sample.ioPressure() != null) {
                linux.setIo(io(sample));
            }
            if (sample.pids() >= 0) {
                linux.setProcess(ProcessUsage.newBuilder().setTimestamp(sample.wallNanos())
                        .setProcessCount(u64(sample.pids())));
            }
            var net = networks.get(s.id());
            if (net == null || System.currentTimeMillis() * 1_000_000L - net.wallNanos() > 3 * interval.toNanos()) {
                net = sampleNetwork(s);
            }
            if (net != null) {
                linux.setNetwork(network(net));
            }
        }
        for (var c : members) {
            if (c.state() == ContainerState.RUNNING) {
                linux.addContainers(containerStats(c));
            }
        }
        return PodSandboxStats.newBuilder().setAttributes(PodSandboxAttributes.newBuilder().setId(s.id())
                .setMetadata(cfg.getMetadata()).putAllLabels(cfg.getLabelsMap())
                .putAllAnnotations(cfg.getAnnotationsMap())).setLinux(linux).build();
    }

    private static CpuUsage cpu(Snapshot snap) {
        var b = CpuUsage.newBuilder().setTimestamp(snap.sample().wallNanos());
        if (snap.sample().cpuUsageNanos() >= 0) {
            b.setUsageCoreNanoSeconds(u64(snap.sample().cpuUsageNanos()));
        }
        if (snap.nanoCores() >= 0) {
            b.setUsageNanoCores(u64(snap.nanoCores()));
        }
        if (snap.sample().cpuPressure() != null) {
            b.setPsi(psi(snap.sample().cpuPressure()));
        }
        return b.build();
    }

    private static IoUsage io(CgroupSample s) {
        return IoUsage.newBuilder().setTimestamp(s.wallNanos()).setPsi(psi(s.ioPressure())).build();
    }

    /** The kernel's figures as the CRI has them: totals in nanoseconds (the kernel counts microseconds). */
    static PsiStats psi(Pressure p) {
        var b = PsiStats.newBuilder();
        if (p.some() != null) {
            b.setSome(psiData(p.some()));
        }
        if (p.full() != null) {
            b.setFull(psiData(p.full()));
        }
        return b.build();
    }

    private static PsiData psiData(Pressure.Line l) {
        return PsiData.newBuilder().setTotal(l.totalMicros() * 1000).setAvg10(l.avg10()).setAvg60(l.avg60())
                .setAvg300(l.avg300()).build();
    }

    private static MemoryUsage memory(CgroupSample s) {
        var b = MemoryUsage.newBuilder().setTimestamp(s.wallNanos());
        long ws = s.workingSet();
        if (ws >= 0) {
            b.setWorkingSetBytes(u64(ws));
            long available = StatsMath.available(s.memoryLimit(), ws);
            if (available >= 0) {
                b.setAvailableBytes(u64(available));
            }
        }
        if (s.memoryUsage() >= 0) {
            b.setUsageBytes(u64(s.memoryUsage()));
        }
        if (s.rss() >= 0) {
            b.setRssBytes(u64(s.rss()));
        }
        if (s.pageFaults() >= 0) {
            b.setPageFaults(u64(s.pageFaults()));
        }
        if (s.majorPageFaults() >= 0) {
            b.setMajorPageFaults(u64(s.majorPageFaults()));
        }
        if (s.memoryPressure() != null) {
            b.setPsi(psi(s.memoryPressure()));
        }
        return b.build();
    }

    private static NetworkUsage network(Network n) {
        var b = NetworkUsage.newBuilder().setTimestamp(n.wallNanos());
        for (var i : n.interfaces()) {
            if (i.name().equals("lo")) {
                continue; // as cAdvisor: loopback traffic never leaves the pod
            }
            var usage = NetworkInterfaceUsage.newBuilder().setName(i.name()).setRxBytes(u64(i.rxBytes()))
                    .setRxErrors(u64(i.rxErrors())).setTxBytes(u64(i.txBytes())).setTxErrors(u64(i.txErrors())).build();
            if (i.name().equals("eth0")) {
                b.setDefaultInterface(usage); // the interface CNI plugins create for the pod
            }
            b.addInterfaces(usage);
        }
        return b.build();
    }

    private static UInt64Value u64(long v) {
        return UInt64Value.newBuilder().setValue(v).build();
    }

    private Path upperDir(Container c) {
        return containersRoot.resolve(c.id()).resolve("rootfs").resolve("upper");
    }

    /** The cgroup of the OCI spec's linux.cgroupsPath (either driver's form), as a path below each hierarchy. */
    static String cgroupPath(Container c) {
        var spec = c.spec();
        if (spec == null || !spec.has("linux") || !spec.getAsJsonObject("linux").has("cgroupsPath")) {
            return "";
        }
        return CgroupPaths.of(spec.getAsJsonObject("linux").get("cgroupsPath").getAsString());
    }

    private static String podCgroup(Sandbox s) {
        return CgroupPaths.of(s.record().cgroupParent());
    }

    /** Stops the sampling loop and waits (briefly) for a tick in progress to end. */
    @Override
    public void close() {
        closed = true;
        loop.interrupt();
        try {
            loop.join(Duration.ofSeconds(5));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Whether the sampling loop still runs (false once {@link #close} returned). */
    boolean sampling() {
        return loop.isAlive();
    }
}
