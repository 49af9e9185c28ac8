package dev.bollard.daemon.server;

import dev.bollard.daemon.BollardVersion;
import dev.bollard.daemon.config.BollardConfig;
import dev.bollard.daemon.config.BollardConfig.LogLevel;
import dev.bollard.daemon.config.ConfigException;
import dev.bollard.daemon.config.ConfigLoader;
import dev.bollard.daemon.admin.ImagesAdminService;
import dev.bollard.daemon.cri.ImageRpcs;
import dev.bollard.daemon.cri.ImageServiceImpl;
import dev.bollard.daemon.image.ImageManager;
import dev.bollard.daemon.registry.HostsConfig;
import dev.bollard.daemon.registry.RegistryClient;
import java.time.Clock;
import java.time.Duration;
import dev.bollard.daemon.cri.RuntimeInfoRpcs;
import dev.bollard.daemon.cri.RuntimeServiceImpl;
import dev.bollard.daemon.cri.StatsRpcs;
import dev.bollard.daemon.cri.StreamingRpcs;
import dev.bollard.daemon.streaming.ContainerStreams;
import dev.bollard.daemon.streaming.StreamBackend;
import dev.bollard.daemon.streaming.StreamTokens;
import dev.bollard.daemon.streaming.StreamingServer;
import dev.bollard.daemon.stats.ContainerEvents;
import dev.bollard.daemon.stats.StatsCollector;
import dev.bollard.daemon.linux.CgroupLayout;
import dev.bollard.daemon.metrics.MetricsInterceptor;
import dev.bollard.daemon.metrics.MetricsServer;
import dev.bollard.daemon.metrics.OperatorMetrics;
import dev.bollard.daemon.image.ImageRecord;
import dev.bollard.daemon.linux.Systemd;
import dev.bollard.daemon.linux.UnixSockets;
import dev.bollard.daemon.log.Log;
import dev.bollard.daemon.runtime.CgroupDriver;
import dev.bollard.daemon.runtime.PodCidrs;
import dev.bollard.daemon.runtime.RuntimeHandlers;
import dev.bollard.daemon.cri.ContainerRpcs;
import dev.bollard.daemon.cri.PodSandboxRpcs;
import dev.bollard.daemon.network.Cni;
import dev.bollard.daemon.network.CniConfig;
import dev.bollard.daemon.oci.NodeProfile;
import dev.bollard.daemon.oci.SpecBuilder;
import dev.bollard.daemon.sandbox.SandboxImage;
import dev.bollard.daemon.lifecycle.InfraImage;
import dev.bollard.daemon.lifecycle.Lifecycle;
import dev.bollard.daemon.lifecycle.PodHost;
import dev.bollard.daemon.shim.ShimManager;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;

/**
 * The daemon's life: validate everything that can be validated without touching the disk, then create what is
 * missing, lock the root, and serve. A failure at any step undoes the steps before it.
 */
public final class Daemon implements AutoCloseable {

    private static final Log LOG = Log.get("daemon");
    /** The containerd namespace shims are started in: kubelet's pods live in k8s.io under containerd too. */
    static final String SHIM_NAMESPACE = "k8s.io";

    /** What the command line gave; null fields fall back to the config file, then to the embedded defaults. */
    public record Options(Path configFile, Path socket, Path root, Path state, LogLevel logLevel) {
    }

    private final BollardConfig config;
    private final CriServer server;
    private final FileChannel lockChannel;
    private final FileLock lock;

    private final ImageManager images;
    private final ShimManager shims;
    private final Lifecycle lifecycle;
    /** Null when [metrics] address is empty. */
    private final MetricsServer metricsServer;
    private final StreamTokens streamTokens;
    private final ContainerStreams streamBackend;
    private final StreamingServer streamingServer;
    private final StatsCollector statsCollector;
    private final ContainerEvents containerEvents;
    /** Stops the store timings reaching the metrics; a no-op when metrics are off. */
    private final AutoCloseable storeTimings;
    private final HeapShrink heapShrink;

    /** {@code -Dbollard.cri.eventLoopCalls=false} keeps every call on virtual threads (to compare, or to rule it out). */
    private static final boolean EVENT_LOOP_CALLS =
            Boolean.parseBoolean(System.getProperty("bollard.cri.eventLoopCalls", "true"));

    /**
     * Calls answered from memory without blocking (the List and status messages are kept ready, see cri): once
     * recovery is done they run on the connection's event loop, saving a hop to a virtual thread and back. A verbose
     * PodSandboxStatus, which reads the pod's spec from disk, hands itself to a virtual thread (RuntimeServiceImpl).
     */
    static final java.util.Set<String> ANSWERED_FROM_MEMORY = java.util.Set.of(
            "runtime.v1.RuntimeService/ListContainers", "runtime.v1.RuntimeService/ListPodSandbox",
            "runtime.v1.RuntimeService/ContainerStatus", "runtime.v1.RuntimeService/PodSandboxStatus");

    private Daemon(BollardConfig config, CriServer server, FileChannel lockChannel, FileLock lock, ImageManager images,
                   ShimManager shims, Lifecycle lifecycle, MetricsServer metricsServer,
                   StreamTokens streamTokens, ContainerStreams streamBackend, StreamingServer streamingServer,
                   StatsCollector statsCollector, ContainerEvents containerEvents, AutoCloseable storeTimings,
                   HeapShrink heapShrink) {
        this.heapShrink = heapShrink;
        this.metricsServer = metricsServer;
        this.streamingServer = streamingServer;
        this.streamTokens = streamTokens;
        this.streamBackend = streamBackend;
        this.containerEvents = containerEvents;
        this.storeTimings = storeTimings;
        this.statsCollector = statsCollector;
        this.images = images;
        this.shims = shims;
        this.lifecycle = lifecycle;
        this.config = config;
        this.server = server;
        this.lockChannel = lockChannel;
        this.lock = lock;
    }

    public BollardConfig config() {
        return config;
    }

    /** The tokens Exec/Attach/PortForward hand out, which the streaming server takes. */
    public StreamTokens streamTokens() {
        return streamTokens;
    }

    /** The runtime side of streaming (exec, attach, port-forward on the real containers). */
    public StreamBackend streamBackend() {
        return streamBackend;
    }

    public static Daemon start(Options options) throws StartupException {
        long startNanos = System.nanoTime();
        ConfigLoader.Loaded loaded;
        try {
            loaded = ConfigLoader.load(options.configFile());
        } catch (ConfigException e) {
            throw new StartupException(e.getMessage());
        }
        BollardConfig config = loaded.config().withPaths(absolute(options.socket()), absolute(options.root()),
                absolute(options.state()));
        var d = config.daemon();
        Log.configure(options.logLevel() != null ? options.logLevel() : d.logLevel(), d.logFormat());

        int socketBytes = UnixSockets.pathBytes(d.socket());
        if (socketBytes > UnixSockets.MAX_PATH_BYTES) {
            throw new StartupException("socket path " + d.socket() + " is " + socketBytes
                    + " bytes long; UNIX socket paths are limited to " + UnixSockets.MAX_PATH_BYTES + " bytes");
        }
        CgroupDriver cgroupDriver;
        try {
            cgroupDriver = CgroupDriver.resolve(config.runtime().cgroupDriver(), Systemd.isRunning());
        } catch (ConfigException e) {
            throw new StartupException(e.getMessage());
        }
        boolean staleSocket = switch (probe(d.socket())) {
            case LIVE_SOCKET -> throw new StartupException("socket " + d.socket()
                    + " is in use: another server (a running bollard daemon?) answers on it; stop it or pick another --socket");
            case NOT_A_SOCKET -> throw new StartupException("socket path " + d.socket() + " exists and is not a socket");
            case STALE_SOCKET -> true;
            case ABSENT -> false;
        };

        var created = new CreatedPaths();
        FileChannel lockChannel = null;
        ImageManager images = null;
        ShimManager shims = null;
        Lifecycle lifecycle = null;
        MetricsServer metricsServer = null;
        StreamingServer streamingServer = null;
        StatsCollector statsCollector = null;
        CriServer server = null;
        var gate = new RecoveryGate();
        var late = new LateServices();
        AutoCloseable storeTimings = () -> { };
        try {
            created.directory("socket directory", d.socket().getParent());
            created.directory("root", d.root());
            created.directory("state", d.state());

            Path lockFile = d.root().resolve("bollard.lock");
            if (!Files.exists(lockFile)) {
                created.file(lockFile);
            }
            lockChannel = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
            FileLock lock = lockChannel.tryLock();
            if (lock == null) {
                throw new StartupException("root " + d.root() + " is in use by another bollard daemon (" + lockFile + " is locked)");
            }
            lockChannel.truncate(0).write(java.nio.ByteBuffer.wrap(
                    (ProcessHandle.current().pid() + "\n").getBytes(StandardCharsets.UTF_8)));

            // Before the managers exist: their stores' first operations (loading records) are timed too.
            OperatorMetrics metrics = config.metrics().enabled() ? new OperatorMetrics() : null;
            if (metrics != null) {
                storeTimings = metrics.observeStores(d.root(), d.state());
            }
            var layout = CgroupLayout.detect();
            var handlers = new RuntimeHandlers(config, cgroupDriver, layout, d.state().resolve("runtimes"),
                    d.root().resolve("runtime-features.json"));
            var podCidrs = new PodCidrs(d.root().resolve("pod-cidr"));
            var cniSettings = config.cni();
            if (cniSettings.writeDefaultConfig()) {
                String subnet = podCidrs.get().isEmpty() ? cniSettings.defaultSubnet() : podCidrs.get().getFirst();
                if (Cni.writeDefaultConfig(cniSettings.confDir(), cniSettings.defaultBridge(), subnet)) {
                    LOG.info("wrote the default CNI configuration", "dir", cniSettings.confDir(),
                            "bridge", cniSettings.defaultBridge(), "subnet", subnet);
                }
            }
            var cni = new Cni(new CniConfig(cniSettings.confDir(), cniSettings.binDirs(),
                    d.root().resolve("cni").resolve("cache"), Duration.ofSeconds(cniSettings.pluginTimeoutSeconds())));
            cni.warmUp(); // the first Status finds the plugins' VERSION answers cached
            handlers.warmUp(); // and runc's features
            var info = new RuntimeInfoRpcs(config, handlers, cgroupDriver, layout, podCidrs, cni);
            // The CRI protobuf descriptor, which the first Status needs (its answer has a map field), on a virtual
            // thread once Version, kubelet's call before it, has its answer, if StartupWarmUp's service descriptors
            // have not built it by then (a no-op when they have). The first pod's warm-ups below are not at start:
            // on 2 cores they delayed the first Version answer, and a daemon nobody calls would hold their memory.
            info.afterFirstVersion(() -> FirstCallsWarmUp.start(List.of(dev.bollard.api.cri.v1.CriApiProto.class),
                    List.of()));
            // What the first pod would spend on static initializers (protobuf's JSON printer, the FFM stubs of the
            // syscalls), on a virtual thread once kubelet's first Status is answered, while kubelet moves on to
            // RunPodSandbox
            info.afterFirstStatus(() -> FirstCallsWarmUp.start(List.of(com.google.protobuf.util.JsonFormat.class),
                    List.of(() -> dev.bollard.daemon.store.ProtoJson.toJson(
                            dev.bollard.api.cri.v1.PodSandboxConfig.getDefaultInstance()),
                            dev.bollard.daemon.linux.Syscalls::linkAll)));

            if (staleSocket) {
                Files.deleteIfExists(d.socket());
                LOG.info("removed stale socket", "path", d.socket());
            }
            // The socket is served as soon as Version and Status can answer (the configuration, the root locked,
            // the handlers and CNI known): the image store, the records, the shim manager and the lifecycle are
            // wired while it already answers (LateServices), then the pods and containers of the last run are
            // recovered; every call but Version and Status waits for both (RecoveryGate). What the first calls do not
            // need (the streaming server, metrics HTTP, image housekeeping) starts after.
            var heapShrink = HeapShrink.forThisJvm();
            List<io.grpc.ServerInterceptor> interceptors = metrics == null
                    ? List.of(heapShrink.interceptor(), gate)
                    : List.of(new MetricsInterceptor(metrics), heapShrink.interceptor(), gate);
            // (the image services without their stores: only their method sets are served until late.bind below)
            server = CriServer.start(d.socket(), List.of(
                    late.serve(RuntimeServiceImpl.versionAndStatusOnly(info), RecoveryGate.OPEN),
                    late.serve(new ImageServiceImpl(null), java.util.Set.of()),
                    late.serve(new ImagesAdminService(null), java.util.Set.of())), interceptors,
                    method -> EVENT_LOOP_CALLS && gate.isOpen() && ANSWERED_FROM_MEMORY.contains(method));
            var reg = config.registry();
            images = new ImageManager(d.root().resolve("image"), new HostsConfig(reg.configPath()),
                    RegistryClient.Options.defaults().withProgressTimeout(Duration.ofSeconds(reg.pullProgressTimeoutSeconds())),
                    reg.maxConcurrentDownloads(), Clock.systemUTC());
            // The stores and the exit handling first: the shims report their tasks' exits to it.
            var stores = Lifecycle.Stores.open(d.root(), d.state(), Clock.systemUTC());
            if (hasEntries(stores.layout().sandboxRecords())) {
                // a restart with pods to recover: what recovery meets first, beside the wiring (not on a fresh
                // start, where it would only delay the first answer)
                StartupWarmUp.forRecovery(stores.layout().sandboxRecords(), stores.layout().containerRecords());
            }
            shims = new ShimManager(d.state().resolve("shim"), SHIM_NAMESPACE, stores.exits());
            var node = NodeProfile.detect();
            var specs = new SpecBuilder(node);
            dev.bollard.daemon.cdi.CdiDevices.configure(config.cdi());
            var sandboxImage = new SandboxImage(images, config.runtime().sandboxImage());
            dev.bollard.daemon.store.Modes.secure(d.root(), d.state()); // records and specs hold secrets
            lifecycle = Lifecycle.wire(stores, shims, handlers, PodHost.linux(cni), specs, images,
                    InfraImage.of(sandboxImage, images), config.runtime().maxLogLineBytes());
            var sandboxes = lifecycle.sandboxes();
            var containers = lifecycle.containers();
            // the pause image before any pull can fill the disk; imported once the start cannot fail any more
            var sandboxImageReady = new java.util.concurrent.CompletableFuture<Void>();
            images.holdPullsUntil(sandboxImageReady);
            var containerRpcs = new ContainerRpcs(lifecycle, images);
            var streamTokens = new StreamTokens(config.streaming().tokenTtl(), Clock.systemUTC());
            var streamBackend = new ContainerStreams(lifecycle.execContainer(), sandboxes,
                    sandbox -> handlers.runsInVm(sandbox.record().runtimeHandler()));
            streamingServer = new StreamingServer(config.streaming(), streamTokens, streamBackend);
            java.util.function.Supplier<java.net.URI> streamingBase = streamingServer::baseUrl;
            var streamingRpcs = new StreamingRpcs(containers, sandboxes, streamTokens, streamingBase);
            if (metrics != null) {
                metrics.observe(sandboxes, containers);
                images.pullObserver(new ImageManager.PullObserver() {
                    @Override
                    public void pulled(ImageRecord image, long nanos) {
                        metrics.imagePulled(image.size(), nanos);
                    }

                    @Override
                    public void failed() {
                        metrics.imagePullFailed();
                    }
                });
            }
            statsCollector = new StatsCollector(d.root(), containers, sandboxes, StatsCollector.INTERVAL);
            statsCollector.guestSource(new dev.bollard.daemon.stats.ShimGuestStats(sandboxes, handlers));
            var collector = statsCollector;
            var containerEvents = new ContainerEvents(ContainerEvents.DEFAULT_BUFFER, ContainerEvents.DEFAULT_STALL_LIMIT);
            late.bind(List.of(
                    RuntimeServiceImpl.withListBytesReused(new RuntimeServiceImpl(info,
                            new PodSandboxRpcs(lifecycle, containerRpcs), containerRpcs,
                            new StatsRpcs(statsCollector,
                                    containers, sandboxes, containerRpcs,
                                    containerEvents),
                            streamingRpcs)),
                    new ImageServiceImpl(new ImageRpcs(images,
                            () -> List.of(collector.containerFilesystem()))), new ImagesAdminService(images)));
            long recoveryStart = System.nanoTime();
            long[] phases = recover(lifecycle);
            long scanStart = System.nanoTime();
            int leaks = scanForLeaks(d.root(), d.state(), lifecycle, cni, shims);
            long now = System.nanoTime();
            LOG.info("recovery done", "pods", sandboxes.list().size(), "containers", containers.list().size(),
                    "leaksCleaned", leaks, "millis", (now - recoveryStart) / 1_000_000,
                    "sinceProcessStartMillis", sinceProcessStart(), "podsMillis", phases[0], "containersMillis",
                    phases[1], "leakScanMillis", (now - scanStart) / 1_000_000);
            if (!dev.bollard.daemon.store.CrashPoints.armed().isEmpty()) {
                LOG.warn("test crash point armed: the daemon halts when it reaches it",
                        "crashpoint", dev.bollard.daemon.store.CrashPoints.armed());
            }
            if (config.nri().enable()) {
                // after recovery, so a plugin's Synchronize sees every pod and container; before the gate opens, so
                // no lifecycle call runs without the plugins' hooks
                var lc = lifecycle;
                var nri = new dev.bollard.daemon.nri.Nri(config.nri(), sandboxes, containers,
                        (id, resources) -> lc.updateContainerResources().update(id, resources));
                dev.bollard.daemon.nri.NriHooks.install(nri);
                nri.start();
            }
            gate.open();
            // After recovery: garbage collection must see the snapshots the recovered containers use.
            images.startHousekeeping();
            streamingServer.start();
            if (metrics != null) {
                metricsServer = MetricsServer.start(config.metrics().address(), metrics.registry());
            }
            // Said only now: a start-up that fails prints its one error line and nothing else.
            if (node.minOomScoreAdj() > -1000) {
                // kubelet asks for -998 on every sandbox; without CAP_SYS_RESOURCE runc would fail the pod instead.
                LOG.info("this node cannot lower oom_score_adj (no CAP_SYS_RESOURCE): requests below the floor are clamped",
                        "floor", node.minOomScoreAdj());
            }
            if (!loaded.fileFound()) {
                LOG.info("no config file, using embedded defaults", "path", options.configFile());
            }
            if (metricsServer != null) {
                var bound = metricsServer.address();
                LOG.info("serving metrics", "url", "http://" + bound.getHostString() + ":" + bound.getPort() + "/metrics");
            } else {
                LOG.info("metrics off: [metrics] address is empty");
            }
            LOG.info("serving streaming", "url", streamingServer.baseUrl());
            SystemdNotify.ready(); // the socket answers from here on (Type=notify units start their dependents now)
            LOG.info("bollard ready", "version", BollardVersion.version(), "socket", d.socket(), "root", d.root(),
                    "state", d.state(), "cgroupDriver", cgroupDriver, "cgroupLayout", layout.mode(),
                    "startupMillis", (System.nanoTime() - startNanos) / 1_000_000);
            sandboxImage.prepare(sandboxImageReady);
            heapShrink.start();
            CompilerThreadPriority.restoreLater();
            return new Daemon(config, server, lockChannel, lock, images, shims, lifecycle, metricsServer,
                    streamTokens, streamBackend, streamingServer, statsCollector, containerEvents, storeTimings,
                    heapShrink);
        } catch (StartupException e) {
            gate.fail();
            late.fail();
            closeServer(server);
            closeQuietly(streamingServer);
            closeQuietly(storeTimings);
            closeQuietly(statsCollector);
            closeQuietly(metricsServer);
            abandon(lifecycle, shims, images, lockChannel, created);
            throw e;
        } catch (IOException | RuntimeException e) {
            gate.fail();
            late.fail();
            closeServer(server);
            closeQuietly(streamingServer);
            closeQuietly(storeTimings);
            closeQuietly(statsCollector);
            closeQuietly(metricsServer);
            abandon(lifecycle, shims, images, lockChannel, created);
            throw new StartupException(e.getMessage() == null ? e.toString() : e.getMessage(), e);
        }
    }

    /** A start that failed after the socket was served: held calls are refused, the socket removed. */
    private static void closeServer(CriServer server) {
        if (server != null) {
            server.close();
        }
    }

    /** Undoes a failed start; pods recovered meanwhile keep running (their shims are only disconnected). */
    private static void abandon(Lifecycle lifecycle, ShimManager shims, ImageManager images, FileChannel lockChannel,
                                CreatedPaths created) {
        closeNri();
        if (lifecycle != null) {
            lifecycle.exitWatch().detach();
        }
        closeQuietly(shims);
        if (images != null) {
            images.close();
        }
        closeQuietly(lockChannel);
        created.rollback();
    }

    public void awaitTermination() throws InterruptedException {
        server.awaitTermination();
    }

    @Override
    public void close() {
        LOG.info("shutting down", "socket", server.socket());
        SystemdNotify.stopping();
        containerEvents.close(); // event streams never end by themselves: the graceful shutdown would wait them out
        server.close();
        heapShrink.close();
        closeNri(); // plugins told to shut down, pre-installed ones stopped, the NRI socket removed
        // Before the managers detach: open exec sessions are aborted while their processes can still be killed.
        closeQuietly(streamingServer);
        closeQuietly(statsCollector);
        closeQuietly(metricsServer);
        if (config.daemon().stopPodsOnShutdown()) {
            stopAllPods();
        }
        // Pods keep running without the daemon (as with containerd): only the events server and the connections go,
        // and the managers are told first, so that connections closing are not taken for exits.
        lifecycle.exitWatch().detach();
        closeQuietly(shims);
        images.close();
        try { // removed directories still being deleted: the next start would sweep them, but nothing is left behind
            if (!lifecycle.layout().trash().awaitIdle(Duration.ofSeconds(10))) {
                LOG.warn("removed directories still being deleted at shutdown; the next start deletes them");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        try {
            lock.release();
        } catch (IOException ignored) {
            // released with the channel below anyway
        }
        closeQuietly(lockChannel);
        closeQuietly(storeTimings);
        LOG.info("stopped");
    }

    private static void closeNri() {
        if (dev.bollard.daemon.nri.NriHooks.current() instanceof dev.bollard.daemon.nri.Nri nri) {
            dev.bollard.daemon.nri.NriHooks.install(null);
            nri.close();
        }
    }

    /** For test nodes ([daemon] stop_pods_on_shutdown): every pod stopped, each failure logged, none fatal. */
    private void stopAllPods() {
        for (var sandbox : lifecycle.sandboxes().list()) {
            try {
                lifecycle.stopPod().stop(sandbox.id());
            } catch (IOException | RuntimeException e) {
                LOG.warn("stopping a pod at shutdown failed", "id", sandbox.id(), "error", e.getMessage());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    /**
     * Reloads the pods and containers of an earlier daemon (their shims kept running) before the CRI is served,
     * pods first. A corrupt record stops the start: serving without it would forget a pod and leak what it holds.
     */
    private static long[] recover(Lifecycle lifecycle) throws StartupException {
        try {
            return lifecycle.recover();
        } catch (IOException e) {
            throw new StartupException("refusing to start: cannot recover the pods and containers of the last run: "
                    + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new StartupException("interrupted while recovering pods and containers", e);
        }
    }

    /** What a crash left that no record owns; a failure here is logged, never fatal (the records are sound). */
    private static int scanForLeaks(Path root, Path state, Lifecycle lifecycle, Cni cni, ShimManager shims)
            throws StartupException {
        try {
            return new LeakScan(root, state, lifecycle, cni, shims).run();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new StartupException("interrupted while scanning for leaked resources", e);
        } catch (RuntimeException e) {
            LOG.warn("the leak scan failed", "error", e.toString());
            return 0;
        }
    }

    private static boolean hasEntries(Path dir) {
        try (var entries = Files.list(dir)) {
            return entries.findAny().isPresent();
        } catch (IOException e) {
            return false; // the load that follows reports what is wrong with the directory
        }
    }

    private static long sinceProcessStart() {
        return dev.bollard.daemon.linux.ProcessClock.millisSinceStart(ProcessHandle.current().pid());
    }

    private static UnixSockets.PathState probe(Path socket) throws StartupException {
        try {
            return UnixSockets.probe(socket);
        } catch (IOException e) {
            throw new StartupException("socket " + socket + ": cannot check it: " + CreatedPaths.reason(e));
        }
    }

    private static Path absolute(Path p) {
        return p == null ? null : p.toAbsolutePath().normalize();
    }

    private static void closeQuietly(ShimManager shims) {
        if (shims != null) {
            try {
                shims.close();
            } catch (RuntimeException e) {
                LOG.warn("closing the shim manager failed", "error", e.getMessage());
            }
        }
    }

    /** The streaming server's base URL (exec/attach/port-forward URLs point below it). */
    public java.net.URI streamingUrl() {
        return streamingServer.baseUrl();
    }

    /** Closes what a start or a shutdown owns; null when that part never started. */
    private static void closeQuietly(AutoCloseable closeable) {
        if (closeable == null) {
            return;
        }
        try {
            closeable.close();
        } catch (Exception e) {
            LOG.warn("closing failed", "what", closeable.getClass().getSimpleName(), "error", String.valueOf(e.getMessage()));
        }
    }

    private static void closeQuietly(FileChannel ch) {
        if (ch != null) {
            try {
                ch.close();
            } catch (IOException ignored) {
                // nothing more to do
            }
        }
    }
}
