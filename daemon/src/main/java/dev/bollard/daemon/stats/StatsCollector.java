package dev.bollard.daemon.stats;

import dev.bollard.api.cri.v1.ContainerAttributes;
import dev.bollard.api.cri.v1.ContainerStats;
import dev.bollard.api.cri.v1.CpuUsage;
import dev.bollard.api.cri.v1.FilesystemIdentifier;
import dev.bollard.api.cri.v1.FilesystemUsage;
import dev.bollard.api.cri.v1.LinuxPodSandboxStats;
import dev.bollard.api.cri.v1.MemoryUsage;
import dev.bollard.api.cri.v1.NetworkInterfaceUsage;
import dev.bollard.api.cri.v1.NetworkUsage;
import dev.bollard.api.cri.v1.PodSandboxAttributes;
import dev.bollard.api.cri.v1.PodSandboxStats;
import dev.bollard.api.cri.v1.ProcessUsage;
import dev.bollard.api.cri.v1.UInt64Value;
import dev.bollard.daemon.container.Container;
import dev.bollard.daemon.container.ContainerManager;
import dev.bollard.daemon.container.ContainerState;
import dev.bollard.daemon.log.Log;
import dev.bollard.daemon.network.NetNs;
import dev.bollard.daemon.sandbox.Sandbox;
import dev.bollard.daemon.sandbox.SandboxManager;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Samples the cgroups of every running container and ready pod (and the containers' writable layers and the
 * pods' network counters) on an interval, so that stats calls answer from memory and CPU rates have two samples
 * to be computed from. It samples only while stats were asked for in the last {@link #IDLE_AFTER}; a call for
 * something not in the cache (a new container, or after an idle spell) samples it directly.
 */
public final class StatsCollector implements AutoCloseable {

    public static final Duration INTERVAL = Duration.ofSeconds(1);
    public static final Duration IDLE_AFTER = Duration.ofMinutes(1);
    private static final Log LOG = Log.get("stats");

    /** One cgroup reading and the CPU rate since the reading before it (-1: unknown yet). */
    record Snapshot(CgroupSample sample, long nanoCores) {
    }

    record Network(long wallNanos, List<NetDev.Counters> interfaces) {
    }

    private final ContainerManager containers;
    private final SandboxManager sandboxes;
    private final Path containersRoot;
    private final Duration interval;
    private final Map<String, Snapshot> cgroups = new ConcurrentHashMap<>();
    private final Map<String, LayerUsage> layers = new ConcurrentHashMap<>();
    private final Map<String, Network> networks = new ConcurrentHashMap<>();
    private volatile long lastCallNanos = System.nanoTime();
    private volatile boolean closed;
    private final Thread loop;

    /** @param root the daemon's root: writable layers are at {@code <root>/containers/<id>/rootfs/upper} */
    public StatsCollector(Path root, ContainerManager containers, SandboxManager sandboxes, Duration interval) {
        this.containers = containers;
        this.sandboxes = sandboxes;
        this.containersRoot = root.resolve("containers");
        this.interval = interval;
        this.loop = Thread.ofVirtual().name("stats-collector").start(this::run);
    }

    private void run() {
        while (!closed) {
            try {
                Thread.sleep(interval);
            } catch (InterruptedException e) {
                return;
            }
            if (System.nanoTime() - lastCallNanos > IDLE_AFTER.toNanos()) {
                continue;
            }
            try {
                tick();
            } catch (RuntimeException e) {
                LOG.warn("stats sampling failed", "error", String.valueOf(e.getMessage()));
            }
        }
    }

    /** Samples everything that runs now, and forgets what no longer does. */
    void tick() {
        var seenCgroups = new HashSet<String>();
        var seenContainers = new HashSet<String>();
        for (var c : containers.list()) {
            if (c.state() != ContainerState.RUNNING) {
                continue;
            }
            String path = cgroupPath(c);
            if (!path.isEmpty()) {
                sample(path);
                seenCgroups.add(path);
            }
            layers.put(c.id(), LayerUsage.measure(upperDir(c)));
            seenContainers.add(c.id());
        }
        var seenPods = new HashSet<String>();
        for (var s : sandboxes.list()) {
            if (!s.ready()) {
                continue;
            }
            sample(s.record().cgroupParent());
            seenCgroups.add(s.record().cgroupParent());
            sampleNetwork(s);
            seenPods.add(s.id());
        }
        cgroups.keySet().retainAll(seenCgroups);
        layers.keySet().retainAll(seenContainers);
        networks.keySet().retainAll(seenPods);
    }

    private Snapshot sample(String cgroupPath) {
        var now = CgroupSample.read(cgroupPath);
        var prev = cgroups.get(cgroupPath);
        long rate = prev == null ? -1 : StatsMath.nanoCores(prev.sample().cpuUsageNanos(), prev.sample().monoNanos(),
                now.cpuUsageNanos(), now.monoNanos());
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

    /** The cached snapshot when fresh enough, else a reading now. */
    private Snapshot current(String cgroupPath) {
        var snap = cgroups.get(cgroupPath);
        if (snap == null || System.nanoTime() - snap.sample().monoNanos() > 3 * interval.toNanos()) {
            snap = sample(cgroupPath);
        }
        return snap;
    }

    private void touch() {
        lastCallNanos = System.nanoTime();
    }

    // ---- the CRI messages ----

    public ContainerStats containerStats(Container c) {
        touch();
        var cfg = c.config();
        var b = ContainerStats.newBuilder().setAttributes(ContainerAttributes.newBuilder().setId(c.id())
                .setMetadata(cfg.getMetadata()).putAllLabels(cfg.getLabelsMap())
                .putAllAnnotations(cfg.getAnnotationsMap()));
        String path = cgroupPath(c);
        if (c.state() == ContainerState.RUNNING && !path.isEmpty()) {
            var snap = current(path);
            if (snap.sample().found()) {
                b.setCpu(cpu(snap)).setMemory(memory(snap.sample()));
            }
        }
        var layer = layers.get(c.id());
        if (layer == null) {
            layer = LayerUsage.measure(upperDir(c));
            if (c.state() == ContainerState.RUNNING) {
                layers.put(c.id(), layer);
            }
        }
        b.setWritableLayer(FilesystemUsage.newBuilder().setTimestamp(layer.wallNanos())
                .setFsId(FilesystemIdentifier.newBuilder().setMountpoint(upperDir(c).toString()))
                .setUsedBytes(u64(layer.usedBytes())).setInodesUsed(u64(layer.inodesUsed())));
        return b.build();
    }

    public PodSandboxStats podStats(Sandbox s, List<Container> members) {
        touch();
        var cfg = s.config();
        var linux = LinuxPodSandboxStats.newBuilder();
        if (s.ready()) {
            var snap = current(s.record().cgroupParent());
            var sample = snap.sample();
            if (sample.found()) {
                linux.setCpu(cpu(snap)).setMemory(memory(sample));
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
        return b.build();
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

    /** The OCI spec's linux.cgroupsPath (cgroupfs form: the pod parent, then the container ID). */
    static String cgroupPath(Container c) {
        var spec = c.spec();
        if (spec == null || !spec.has("linux") || !spec.getAsJsonObject("linux").has("cgroupsPath")) {
            return "";
        }
        return spec.getAsJsonObject("linux").get("cgroupsPath").getAsString();
    }

    @Override
    public void close() {
        closed = true;
        loop.interrupt();
    }
}
