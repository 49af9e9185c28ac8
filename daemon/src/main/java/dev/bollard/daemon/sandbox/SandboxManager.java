package dev.bollard.daemon.sandbox;

import com.google.gson.JsonObject;
import com.google.protobuf.InvalidProtocolBufferException;
import dev.bollard.api.cri.v1.NamespaceMode;
import dev.bollard.api.cri.v1.PodSandboxConfig;
import dev.bollard.daemon.container.Rootfs;
import dev.bollard.daemon.image.ImageConfigs;
import dev.bollard.daemon.image.ImageManager;
import dev.bollard.daemon.linux.Cgroups;
import dev.bollard.daemon.linux.MountInfo;
import dev.bollard.daemon.linux.Syscalls;
import dev.bollard.daemon.log.Log;
import dev.bollard.daemon.network.Cni;
import dev.bollard.daemon.network.NetNs;
import dev.bollard.daemon.network.PodNetworkRequest;
import dev.bollard.daemon.network.PortMapping;
import dev.bollard.daemon.oci.PodContext;
import dev.bollard.daemon.oci.SpecBuilder;
import dev.bollard.daemon.runtime.RuntimeHandlers;
import dev.bollard.daemon.shim.Shim;
import dev.bollard.daemon.shim.ShimManager;
import dev.bollard.daemon.shim.ShimNotFoundException;
import dev.bollard.daemon.shim.ShimOptions;
import dev.bollard.daemon.shim.TaskIo;
import dev.bollard.daemon.shim.TaskState;
import dev.bollard.daemon.store.AtomicFiles;
import dev.bollard.daemon.store.CrashPoints;
import dev.bollard.daemon.store.FileTrees;
import dev.bollard.daemon.store.IdIndex;
import dev.bollard.daemon.store.ProtoJson;
import dev.bollard.daemon.store.NameRegistry;
import dev.bollard.daemon.store.RecordStore;
import io.grpc.Status;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;

/**
 * Pod sandboxes: a network namespace set up by CNI, the pod's files and /dev/shm, and an infra container run by
 * the pod's own shim, which every container of the pod then shares. Each step of {@link #run} registers its undo,
 * so a failure anywhere leaves nothing behind; {@link #stop} and {@link #remove} are idempotent and tolerate
 * resources that are already gone.
 */
public final class SandboxManager {

    private static final Log LOG = Log.get("sandbox");
    /** The default pod cgroup parent when the config names none (crictl); pods then get a parent of their own. */
    static final String DEFAULT_CGROUP_PARENT = "/bollard";
    static final long SHM_BYTES = 64L << 20;
    static final Duration KILL_WAIT = Duration.ofSeconds(10);

    /** What the container side does when a pod stops or goes away. */
    public interface Members {
        void stopAll(Sandbox sandbox) throws IOException, InterruptedException;

        void removeAll(Sandbox sandbox) throws IOException, InterruptedException;
    }

    private final Path stateDir;
    private final Path rootDir;
    private final Path netnsDir;
    private final RuntimeHandlers handlers;
    private final ShimManager shims;
    private final Cni cni;
    private final SpecBuilder specs;
    private final ImageManager images;
    private final SandboxImage sandboxImage;
    private final RecordStore<SandboxRecord> store;
    private final Clock clock;
    private final NameRegistry names = new NameRegistry();
    private final IdIndex<Sandbox> sandboxes = new IdIndex<>("pod sandbox");
    private volatile Members members;
    private volatile boolean detached;
    private volatile Listener listener = (s, e) -> { };

    /**
     * Told after each step, on the thread that made it (the pod's lock may be held): must not block. kubelet's
     * evented PLEG drops a pod from its cache on the sandbox's DELETED.
     */
    @FunctionalInterface
    public interface Listener {
        void changed(Sandbox sandbox, LifecycleEvent event);
    }

    public void listener(Listener l) {
        listener = l;
    }

    private void tell(Sandbox sandbox, LifecycleEvent event) {
        try {
            listener.changed(sandbox, event);
        } catch (RuntimeException e) {
            LOG.warn("pod sandbox event listener failed", "id", sandbox.id(), "event", event, "error", e.getMessage());
        }
    }

    public SandboxManager(Path root, Path state, RuntimeHandlers handlers, ShimManager shims, Cni cni, SpecBuilder specs,
                          ImageManager images, SandboxImage sandboxImage, Clock clock) throws IOException {
        this.stateDir = state.resolve("pods");
        this.rootDir = root.resolve("pods");
        this.netnsDir = state.resolve("netns");
        this.handlers = handlers;
        this.shims = shims;
        this.cni = cni;
        this.specs = specs;
        this.images = images;
        this.sandboxImage = sandboxImage;
        this.clock = clock;
        this.store = new RecordStore<>(root.resolve("store").resolve("sandboxes"), SandboxRecord.class, SandboxRecord.SCHEMA);
        Files.createDirectories(stateDir);
        Files.createDirectories(rootDir);
        Files.createDirectories(netnsDir);
    }

    public void members(Members m) {
        this.members = m;
    }

    /** The reserved name of a pod, as containerd forms it. */
    static String reservedName(PodSandboxConfig config) {
        var m = config.getMetadata();
        return m.getName() + "_" + m.getNamespace() + "_" + m.getUid() + "_" + m.getAttempt();
    }

    public Sandbox run(PodSandboxConfig config, String runtimeHandler) throws IOException, InterruptedException {
        var meta = config.getMetadata();
        if (!config.hasMetadata() || meta.getName().isEmpty()) {
            throw new IllegalArgumentException("config.metadata.name is required");
        }
        if (meta.getNamespace().isEmpty() || meta.getUid().isEmpty()) {
            throw new IllegalArgumentException("config.metadata.namespace and config.metadata.uid are required (pod "
                    + meta.getName() + ")");
        }
        String handlerName = runtimeHandler.isEmpty() ? handlers.defaultName() : runtimeHandler;
        if (handlers.get(handlerName).isEmpty()) {
            throw new IllegalArgumentException("runtime handler \"" + runtimeHandler + "\" is not configured (configured: "
                    + String.join(", ", handlers.names()) + ")");
        }
        var shimOptions = shimOptions(handlerName);
        if (SpecBuilder.podUserNamespace(config).isPresent() && !handlers.features(handlerName).userNamespaces()) {
            throw new IllegalArgumentException("linux.security_context.namespace_options.userns_options: runtime "
                    + "handler \"" + handlerName + "\" does not support user namespaces");
        }

        String id = IdIndex.newId();
        String name = reservedName(config);
        var holder = names.reserve(name, id);
        if (holder.isPresent()) {
            throw Status.ALREADY_EXISTS.withDescription("pod sandbox name \"" + name + "\" is reserved for sandbox "
                    + holder.get()).asRuntimeException();
        }
        Deque<Undo> undo = new ArrayDeque<>();
        undo.push(() -> names.release(name, id));
        try {
            return create(id, name, config, handlerName, shimOptions, undo);
        } catch (Exception e) {
            LOG.warn("pod sandbox failed to start; rolling back", "id", id, "pod", meta.getName(), "error", e.getMessage());
            rollback(undo);
            throw e;
        }
    }

    private Sandbox create(String id, String name, PodSandboxConfig config, String handlerName, ShimOptions shimOptions,
                           Deque<Undo> undo) throws IOException, InterruptedException {
        var ns = config.getLinux().getSecurityContext().getNamespaceOptions();
        boolean hostNetwork = ns.getNetwork() == NamespaceMode.NODE;
        boolean hostIpc = ns.getIpc() == NamespaceMode.NODE;
        var userns = SpecBuilder.podUserNamespace(config);

        long t0 = System.nanoTime();
        var image = sandboxImage.ensure();
        var imageConfig = ImageConfigs.parse(images.config(image));

        Path bundle = stateDir.resolve(id);
        Path podDir = rootDir.resolve(id);
        Files.createDirectories(bundle);
        undo.push(() -> {
            MountInfo.unmountBelow(bundle); // a rootfs a failed task create left mounted
            FileTrees.deleteTree(bundle);
        });
        Files.createDirectories(podDir);
        undo.push(() -> FileTrees.deleteTree(podDir));

        String cgroupParent = config.getLinux().getCgroupParent();
        if (cgroupParent.isEmpty()) {
            cgroupParent = DEFAULT_CGROUP_PARENT + "/" + id;
        }
        boolean ownCgroupParent = !Cgroups.exists(cgroupParent);
        if (ownCgroupParent) {
            String parent = cgroupParent;
            undo.push(() -> {
                Cgroups.remove(parent);
                if (parent.startsWith(DEFAULT_CGROUP_PARENT + "/")) {
                    Cgroups.removeIfEmpty(DEFAULT_CGROUP_PARENT); // as RemovePodSandbox does
                }
            });
        }

        Path netns = hostNetwork ? null : netnsDir.resolve(id);
        var record = new SandboxRecord(id, name, ProtoJson.toJson(config), handlerName, image.id(), SandboxState.NOTREADY,
                netns == null ? "" : netns.toString(), List.of(), 0, cgroupParent, ownCgroupParent, false,
                nanos(clock), null);
        // Recorded before anything outlives a crash: a restart then knows what to reconcile (and, finding the
        // infra pid still 0, rolls the pod back: see recover).
        store.put(id, record);
        undo.push(() -> store.delete(id));
        CrashPoints.hit("RunPodSandbox.afterRecord");

        // CNI ADD needs only the netns: it runs while the infra task is set up and started, and is awaited before
        // the pod is ready (no container of the pod can exist before then, so none sees a half-made network).
        CompletableFuture<List<String>> network = CompletableFuture.completedFuture(List.of());
        long tn = System.nanoTime();
        if (netns != null && userns.isEmpty()) {
            NetNs.create(netns);
            undo.push(() -> NetNs.at(netns).remove());
            CrashPoints.hit("RunPodSandbox.afterNetns");
            network = addNetwork(id, config, netns, undo);
        }

        var files = PodFiles.in(podDir);
        // No hostname in the config: the node's, as containerd does (the pod's UTS namespace starts as a copy of it).
        String hostname = config.getHostname().isEmpty() ? nodeHostname() : config.getHostname();
        files.write(hostname, hostNetwork, List.of(), config.getDnsConfig());
        if (userns.isPresent()) {
            ownByPodRoot(files, userns.get());
        }

        Path shm = null;
        if (!hostIpc) {
            shm = Files.createDirectories(bundle.resolve("shm"));
            // in a user namespace of the pod's own, the pod's root owns its /dev/shm
            String owner = userns.map(u -> ",uid=" + u.hostRootUid() + ",gid=" + u.hostRootGid()).orElse("");
            Syscalls.mount("shm", shm, "tmpfs", Syscalls.MS_NOSUID | Syscalls.MS_NODEV | Syscalls.MS_NOEXEC,
                    "mode=1777,size=" + SHM_BYTES + owner);
            Path mounted = shm;
            undo.push(() -> Syscalls.umount2(mounted, Syscalls.MNT_DETACH));
            CrashPoints.hit("RunPodSandbox.afterShm");
        }

        var rootfs = Rootfs.of(images.snapshots(), image, podDir.resolve("rootfs"));
        rootfs.prepare();
        Files.createDirectories(bundle.resolve("rootfs"));
        var pod = new PodContext(id, config, Optional.ofNullable(netns), 0, files.hostname(), files.hosts(),
                files.resolvConf(), Optional.ofNullable(shm), cgroupParent, handlerName, sandboxImage.reference());
        JsonObject spec = specs.sandboxSpec(pod, id, infraArgs(imageConfig));
        AtomicFiles.write(bundle.resolve("config.json"), spec.toString().getBytes(StandardCharsets.UTF_8));

        long ts = System.nanoTime();
        Shim shim = shims.start(id, bundle, shimOptions);
        long shimNanos = System.nanoTime() - ts;
        undo.push(shim::shutdown);
        CrashPoints.hit("RunPodSandbox.afterShimStart");
        int createdPid = shim.create(id, bundle, List.of(rootfs.mount()), new TaskIo("", "", "", false));
        undo.push(() -> killAndDeleteTask(shim, id)); // started by then, the shim would refuse a bare delete
        CrashPoints.hit("RunPodSandbox.afterTaskCreate");
        if (netns != null && userns.isPresent()) {
            // the infra process made the netns inside the pod's user namespace; pinned, CNI sets it up as usual
            NetNs.pin(netns, Path.of("/proc/" + createdPid + "/ns/net"));
            undo.push(() -> NetNs.at(netns).remove());
            network = addNetwork(id, config, netns, undo);
        }
        int pid = shim.start(id, "");
        CrashPoints.hit("RunPodSandbox.afterTaskStart");
        long taskNanos = System.nanoTime() - ts - shimNanos;

        List<String> ips = awaitNetwork(network);
        long networkNanos = System.nanoTime() - tn;
        if (!ips.isEmpty()) {
            files.writeHosts(hostname, hostNetwork, ips);
            if (userns.isPresent()) {
                ownByPodRoot(files, userns.get());
            }
        }
        record = record.withStarted(ips, pid, netns != null).with(SandboxState.READY);
        store.put(id, record);
        CrashPoints.hit("RunPodSandbox.afterReady");
        var sandbox = new Sandbox(record, config, shim);
        sandboxes.put(id, sandbox);
        // Before the exit watch starts, so that a STOPPED can never come first.
        tell(sandbox, LifecycleEvent.CREATED);
        tell(sandbox, LifecycleEvent.STARTED);
        watchInfra(sandbox, shim);
        LOG.info("pod sandbox ready", "id", id, "pod", config.getMetadata().getNamespace() + "/"
                + config.getMetadata().getName(), "handler", handlerName, "pid", pid, "ips", String.join(",", ips),
                "millis", millis(System.nanoTime() - t0), "networkReadyAfterMillis", millis(networkNanos),
                "shimStartMillis", millis(shimNanos), "taskMillis", millis(taskNanos));
        return sandbox;
    }

    /** CNI ADD on a virtual thread; its undo waits for it, then runs DEL. */
    private CompletableFuture<List<String>> addNetwork(String id, PodSandboxConfig config, Path netns, Deque<Undo> undo) {
        var request = networkRequest(id, config, netns);
        var adding = new CompletableFuture<List<String>>();
        Thread.ofVirtual().name("cni-add-" + id.substring(0, 12)).start(() -> {
            try {
                var ips = cni.setUp(request).ips();
                CrashPoints.hit("RunPodSandbox.afterCniAdd");
                adding.complete(ips);
            } catch (Throwable e) {
                adding.completeExceptionally(e);
            }
        });
        undo.push(() -> {
            try {
                adding.join(); // let the ADD finish before DEL undoes it
            } catch (CompletionException ignored) {
                // a failed ADD already undid its plugins; DEL below is harmless
            }
            cni.tearDown(request);
        });
        return adding;
    }

    /** The pod's hostname, hosts and resolv.conf owned by the host IDs of the pod's root, so that root inside owns them. */
    private static void ownByPodRoot(PodFiles files, dev.bollard.daemon.oci.UserNamespaces.Mappings userns)
            throws IOException {
        for (Path f : List.of(files.hostname(), files.hosts(), files.resolvConf())) {
            Syscalls.lchown(f, (int) userns.hostRootUid(), (int) userns.hostRootGid());
        }
    }

    private static List<String> awaitNetwork(CompletableFuture<List<String>> network)
            throws IOException, InterruptedException {
        try {
            return network.get();
        } catch (ExecutionException e) {
            switch (e.getCause()) {
                case IOException io -> throw io;
                case RuntimeException re -> throw re;
                case InterruptedException ie -> throw ie;
                default -> throw new IOException("pod network setup failed: " + e.getCause(), e.getCause());
            }
        }
    }

    /** How the handler's shim runs; FAILED_PRECONDITION when the handler is not ready (a binary is missing). */
    private ShimOptions shimOptions(String handlerName) {
        var handler = handlers.get(handlerName).orElseThrow(() -> Status.FAILED_PRECONDITION.withDescription(
                "runtime handler \"" + handlerName + "\" is no longer configured").asRuntimeException());
        var check = handlers.check(handler);
        if (!check.ready()) {
            throw Status.FAILED_PRECONDITION.withDescription("runtime handler \"" + handlerName + "\" is not ready: "
                    + check.reason() + ": " + check.message()).asRuntimeException();
        }
        return new ShimOptions(check.shim().orElseThrow(), check.binary().orElseThrow().toString(),
                check.runtimeRoot(), handler.systemdCgroup());
    }

    /** How the default handler's shim runs (the leak scan's {@code shim delete} of bundles no record names). */
    public ShimOptions defaultShimOptions() {
        return shimOptions(handlers.defaultName());
    }

    // ---- restart ----

    /**
     * Loads every pod record after a daemon restart (before the CRI is served): the pod's name is reserved again,
     * a ready pod's shim reconnected (from its bundle's {@code address} file) and asked whether the infra task
     * still runs: then the pod stays READY and its infra exit is watched again; otherwise it becomes NOTREADY.
     * A shim that does not answer is cleaned up as dead ({@code shim delete}). The network stays as recorded, so
     * a later stop still runs CNI DEL and unpins the netns. Containers are recovered afterwards, by
     * {@link Members}.
     *
     * @throws IOException naming the file when a record is corrupt: the daemon then refuses to start rather than
     *                     forget a pod whose resources would leak
     */
    public void recover() throws IOException, InterruptedException {
        var loaded = new ArrayList<Sandbox>();
        for (var r : store.loadAll()) {
            PodSandboxConfig config;
            try {
                config = ProtoJson.fromJson(r.config(), PodSandboxConfig.newBuilder());
            } catch (InvalidProtocolBufferException e) {
                throw new IOException("record " + store.dir().resolve(r.id() + ".json")
                        + " is corrupt: its pod config does not parse: " + e.getMessage(), e);
            }
            var holder = names.reserve(r.name(), r.id());
            if (holder.isPresent()) {
                throw new IOException("records of pod sandboxes " + holder.get() + " and " + r.id()
                        + " both hold the name \"" + r.name() + "\" (in " + store.dir() + ")");
            }
            var sandbox = new Sandbox(r, config, null);
            sandbox.resources(r.podResources());
            sandboxes.put(r.id(), sandbox);
            loaded.add(sandbox);
        }
        // Each pod's reconciliation waits on its own shim (connect, a call or two) or CNI: pods in parallel, so
        // a node's recovery takes about as long as its slowest pod, not the sum.
        Parallel.each(loaded, sandbox -> {
            var r = sandbox.record();
            sandbox.lock().lock();
            try {
                if (r.unfinished()) {
                    rollBackUnfinished(sandbox);
                } else if (!Files.isDirectory(stateDir.resolve(r.id()))) {
                    // The bundle exists from before the record until RemovePodSandbox deletes it: a record without
                    // one is a removal the last daemon did not finish.
                    LOG.warn("completing the removal of a pod sandbox the daemon died removing", "id", r.id());
                    try {
                        removeLocked(sandbox);
                    } catch (IOException | RuntimeException e) {
                        // The record stays: RemovePodSandbox retries the rest.
                        LOG.warn("completing a pod sandbox's removal failed", "id", r.id(), "error", e.getMessage());
                    }
                } else {
                    reconnect(sandbox);
                }
            } finally {
                sandbox.lock().unlock();
            }
        });
    }

    /**
     * A pod whose RunPodSandbox the last daemon died in (its infra pid never recorded): kubelet saw the call fail
     * and will run the pod again under the same name, so everything it got so far goes: the shim and infra task
     * if they started, the CNI attachment (DEL releases the IP), the netns, /dev/shm, directories, cgroup parent,
     * record and name.
     */
    private void rollBackUnfinished(Sandbox sandbox) throws InterruptedException {
        var r = sandbox.record();
        LOG.warn("rolling back a pod sandbox whose RunPodSandbox the daemon died in", "id", r.id(), "pod",
                r.name());
        Path bundle = stateDir.resolve(r.id());
        if (Files.exists(bundle.resolve("address"))) {
            try {
                sandbox.shim(shims.connect(r.id(), bundle, shimOptions(r.runtimeHandler())));
            } catch (IOException | RuntimeException e) {
                LOG.warn("the shim of an unfinished pod did not answer; cleaning up its task", "id", r.id(),
                        "error", e.getMessage());
                cleanupDeadTask(sandbox, r.id(), bundle);
            }
        }
        if (!r.netns().isEmpty()) {
            // The ADD may have run (all or part): DEL is harmless when it did not.
            sandbox.record(r.withStarted(List.of(), 0, true));
        }
        try {
            removeLocked(sandbox);
        } catch (IOException | RuntimeException e) {
            // The record stays (NOTREADY): kubelet's StopPodSandbox / RemovePodSandbox retry the rest.
            LOG.warn("rolling back an unfinished pod sandbox failed; it stays listed as not ready", "id", r.id(),
                    "error", e.getMessage());
        }
    }

    private void reconnect(Sandbox sandbox) throws InterruptedException {
        var r = sandbox.record();
        Path bundle = stateDir.resolve(r.id());
        if (r.state() != SandboxState.READY) {
            // Stopped before the restart: its shim was shut down, nothing to reconnect.
            LOG.info("pod sandbox recovered", "id", r.id(), "state", r.state());
            return;
        }
        ShimOptions options;
        try {
            options = shimOptions(r.runtimeHandler());
        } catch (RuntimeException e) {
            LOG.warn("cannot reconnect a pod's shim: its runtime handler is unusable; the pod is not ready",
                    "id", r.id(), "handler", r.runtimeHandler(), "error", e.getMessage());
            persist(sandbox, r.with(SandboxState.NOTREADY));
            return;
        }
        Shim shim;
        TaskState infra;
        try {
            shim = shims.connect(r.id(), bundle, options);
        } catch (IOException e) {
            shimGone(sandbox, bundle, options, e);
            return;
        }
        try {
            infra = shim.state(r.id(), "");
        } catch (ShimNotFoundException e) {
            infra = null; // the shim runs but no longer knows the infra task
        } catch (IOException e) {
            shim.close();
            shimGone(sandbox, bundle, options, e);
            return;
        }
        sandbox.shim(shim);
        if (infra != null && infra.status() == TaskState.Status.RUNNING) {
            watchInfra(sandbox, shim);
            LOG.info("pod sandbox recovered", "id", r.id(), "state", SandboxState.READY, "pid", infra.pid());
        } else {
            persist(sandbox, r.with(SandboxState.NOTREADY));
            LOG.info("pod sandbox recovered; its infra process ended while the daemon was down", "id", r.id(),
                    "state", SandboxState.NOTREADY, "infra", infra == null ? "unknown to the shim" : infra.status());
        }
    }

    /** The pod's shim did not answer after a restart: clean up its infra task the way containerd does. */
    private void shimGone(Sandbox sandbox, Path bundle, ShimOptions options, IOException why)
            throws InterruptedException {
        var r = sandbox.record();
        LOG.warn("the shim of a pod was gone after a daemon restart; the pod is not ready", "id", r.id(),
                "error", why.getMessage());
        try {
            shims.cleanupDead(r.id(), bundle, options);
        } catch (IOException e) {
            LOG.warn("cleaning up a dead pod's infra task failed", "id", r.id(), "error", e.getMessage());
        }
        persist(sandbox, r.with(SandboxState.NOTREADY));
    }

    /**
     * After a restart, a container task of this pod whose shim is gone: {@code shim delete} on its bundle (kills
     * what is left, unmounts its rootfs). Failures are logged, not thrown: the container is reported exited anyway.
     */
    public void cleanupDeadTask(Sandbox sandbox, String taskId, Path taskBundle) throws InterruptedException {
        try {
            shims.cleanupDead(taskId, taskBundle, shimOptions(sandbox.record().runtimeHandler()));
        } catch (IOException | RuntimeException e) {
            LOG.warn("cleaning up a dead container task failed", "id", taskId, "pod", sandbox.id(),
                    "error", e.getMessage());
        }
    }

    /**
     * The daemon is shutting down and leaves its pods running: the shim connections closing from now on are not
     * infra exits.
     */
    public void detach() {
        detached = true;
    }

    private void watchInfra(Sandbox sandbox, Shim shim) {
        Thread.ofVirtual().name("infra-exit-" + sandbox.id().substring(0, 12)).start(() -> {
            try {
                var exit = shim.await(sandbox.id(), "");
                infraExited(sandbox, exit.exitStatus());
            } catch (IOException e) {
                if (detached) {
                    return; // the daemon is going away; the pod keeps running
                }
                if (shim.isAlive()) {
                    LOG.warn("lost track of a pod's infra process", "id", sandbox.id(), "error", e.getMessage());
                } else {
                    LOG.warn("the pod's shim died; cleaning up its infra task", "id", sandbox.id());
                    try {
                        cleanupDeadTask(sandbox, sandbox.id(), stateDir.resolve(sandbox.id()));
                    } catch (InterruptedException ie) {
                        Thread.currentThread().interrupt();
                    }
                }
                infraExited(sandbox, -1);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
    }

    /** The infra process ended (killed by stop, or died): the pod is no longer ready. */
    public void infraExited(Sandbox sandbox, int status) {
        if (!sandbox.ready() || !sandboxes.containsKey(sandbox.id())) {
            return;
        }
        sandbox.lock().lock();
        try {
            if (sandbox.ready()) {
                LOG.info("pod infra process exited", "id", sandbox.id(), "status", status);
                persist(sandbox, sandbox.record().with(SandboxState.NOTREADY));
                tell(sandbox, LifecycleEvent.STOPPED);
            }
        } finally {
            sandbox.lock().unlock();
        }
    }

    /**
     * Stops every container of the pod, the infra process and the shim, tears the network down and releases the
     * netns and /dev/shm. Idempotent; a missing sandbox is no error (all its resources are reclaimed already).
     */
    public void stop(String idOrPrefix) throws IOException, InterruptedException {
        var found = find(idOrPrefix);
        if (found.isEmpty()) {
            return;
        }
        var sandbox = found.get();
        sandbox.lock().lock();
        try {
            stopLocked(sandbox);
        } finally {
            sandbox.lock().unlock();
        }
    }

    private void stopLocked(Sandbox sandbox) throws IOException, InterruptedException {
        String id = sandbox.id();
        members.stopAll(sandbox);
        CrashPoints.hit("StopPodSandbox.afterContainers");
        Shim shim = sandbox.shim();
        if (shim != null) {
            if (shim.isAlive()) {
                try {
                    shim.kill(id, "", 9, true);
                    awaitStopped(shim, id);
                } catch (ShimNotFoundException ignored) {
                    // the infra task is gone already
                }
                deleteTask(shim, id);
                shim.shutdown();
                CrashPoints.hit("StopPodSandbox.afterShimShutdown");
            } else {
                cleanupDeadTask(sandbox, id, stateDir.resolve(id)); // the shim died: kill what is left, unmount
            }
            shim.close();
            sandbox.shim(null);
        }
        var r = sandbox.record();
        boolean wasReady = sandbox.ready(); // under the pod's lock: an infra exit cannot report it meanwhile
        if (wasReady) {
            r = r.with(SandboxState.NOTREADY);
        }
        if (r.networkUp()) {
            try {
                cni.tearDown(networkRequest(id, sandbox.config(), Path.of(r.netns())));
            } catch (IOException e) { // kubelet retries the stop: the netns and the record of the network stay for it
                persist(sandbox, r);
                if (wasReady) {
                    tell(sandbox, LifecycleEvent.STOPPED);
                }
                throw e;
            }
            CrashPoints.hit("StopPodSandbox.afterNetworkDown");
            r = r.withNetworkDown();
        }
        persist(sandbox, r);
        CrashPoints.hit("StopPodSandbox.afterRecord");
        if (!r.netns().isEmpty()) {
            NetNs.at(Path.of(r.netns())).remove();
        }
        unmountShm(id);
        LOG.info("pod sandbox stopped", "id", id);
        if (wasReady) {
            tell(sandbox, LifecycleEvent.STOPPED);
        }
    }

    /** Removes the pod and everything it owns: containers, directories, cgroup parent, record. Idempotent. */
    public void remove(String idOrPrefix) throws IOException, InterruptedException {
        var found = find(idOrPrefix);
        if (found.isEmpty()) {
            return;
        }
        var sandbox = found.get();
        sandbox.lock().lock();
        try {
            if (!sandboxes.containsKey(sandbox.id())) {
                return; // removed by a concurrent call
            }
            removeLocked(sandbox);
        } finally {
            sandbox.lock().unlock();
        }
    }

    private void removeLocked(Sandbox sandbox) throws IOException, InterruptedException {
        stopLocked(sandbox);
        members.removeAll(sandbox);
        CrashPoints.hit("RemovePodSandbox.afterContainers");
        var r = sandbox.record();
        var leftovers = MountInfo.unmountBelow(stateDir.resolve(r.id()));
        if (!leftovers.isEmpty()) {
            LOG.warn("unmounted what the pod's shim left mounted", "id", r.id(), "mounts", leftovers);
        }
        FileTrees.deleteTree(stateDir.resolve(r.id()));
        FileTrees.deleteTree(rootDir.resolve(r.id()));
        CrashPoints.hit("RemovePodSandbox.afterDirs");
        if (r.ownCgroupParent()) {
            var left = Cgroups.remove(r.cgroupParent());
            if (!left.isEmpty()) {
                LOG.warn("pod cgroup not removed (still in use?)", "id", r.id(), "dirs", left);
            }
            if (r.cgroupParent().startsWith(DEFAULT_CGROUP_PARENT + "/")) {
                Cgroups.removeIfEmpty(DEFAULT_CGROUP_PARENT); // the last pod takes the shared parent with it
            }
        }
        CrashPoints.hit("RemovePodSandbox.afterCgroup");
        store.delete(r.id());
        sandboxes.remove(r.id());
        names.release(r.name(), r.id());
        LOG.info("pod sandbox removed", "id", r.id());
        tell(sandbox, LifecycleEvent.DELETED);
    }

    /**
     * UpdatePodSandboxResources: the pod's total (containers' sum plus overhead, {@link PodResources#of}) written to
     * its cgroup parent and kept on the sandbox. NOT_FOUND for an unknown pod, FAILED_PRECONDITION for one that is
     * not ready, INVALID_ARGUMENT for a bad value.
     */
    public PodResources updateResources(String idOrPrefix, dev.bollard.api.cri.v1.LinuxContainerResources overhead,
                                        boolean hasOverhead, dev.bollard.api.cri.v1.LinuxContainerResources resources,
                                        boolean hasResources) throws IOException {
        var sandbox = get(idOrPrefix);
        var total = PodResources.of(overhead, hasOverhead, resources, hasResources);
        sandbox.lock().lock();
        try {
            if (!sandbox.ready()) {
                throw Status.FAILED_PRECONDITION.withDescription("pod sandbox " + sandbox.id()
                        + " is not ready; only a ready pod's resources can be updated").asRuntimeException();
            }
            var written = total.apply(sandbox.record().cgroupParent());
            sandbox.resources(total);
            persist(sandbox, sandbox.record().withResources(total)); // a restarted daemon reports it too
            LOG.info("pod sandbox resources updated", "id", sandbox.id(), "cgroupParent",
                    sandbox.record().cgroupParent(), "files", written.size());
            return total;
        } finally {
            sandbox.lock().unlock();
        }
    }

    /** What a container of this pod joins: its namespaces, files, /dev/shm and cgroup parent. */
    public PodContext context(Sandbox sandbox) {
        var r = sandbox.record();
        var files = PodFiles.in(rootDir.resolve(r.id()));
        boolean hostIpc = sandbox.config().getLinux().getSecurityContext().getNamespaceOptions().getIpc()
                == NamespaceMode.NODE;
        return new PodContext(r.id(), sandbox.config(),
                r.netns().isEmpty() ? Optional.empty() : Optional.of(Path.of(r.netns())), r.pid(), files.hostname(),
                files.hosts(), files.resolvConf(),
                hostIpc ? Optional.empty() : Optional.of(stateDir.resolve(r.id()).resolve("shm")), r.cgroupParent(),
                r.runtimeHandler(), sandboxImage.reference());
    }

    /** The infra container's bundle directory (config.json, the rootfs mount point, the shim's files). */
    public Path bundle(Sandbox sandbox) {
        return stateDir.resolve(sandbox.id());
    }

    /** Whether the pod's containers run as sandboxes of their own (runsc: see RuntimeHandlers.standaloneContainers). */
    public boolean standaloneContainers(Sandbox sandbox) {
        return handlers.standaloneContainers(sandbox.record().runtimeHandler());
    }

    /** What the pod's runtime handler supports (recursive read-only mounts, user namespaces). */
    public RuntimeHandlers.Features features(Sandbox sandbox) {
        return handlers.features(sandbox.record().runtimeHandler());
    }

    /** Whether the pod's handler keeps the host's devices out of privileged containers. */
    public boolean privilegedWithoutHostDevices(Sandbox sandbox) {
        return handlers.get(sandbox.record().runtimeHandler())
                .map(dev.bollard.daemon.config.BollardConfig.RuntimeHandler::privilegedWithoutHostDevices).orElse(false);
    }

    /** A sandbox by full ID or unique ID prefix. */
    public Optional<Sandbox> find(String idOrPrefix) {
        return sandboxes.find(idOrPrefix);
    }

    public Sandbox get(String idOrPrefix) {
        return sandboxes.require(idOrPrefix);
    }

    public List<Sandbox> list() {
        return List.copyOf(sandboxes.values());
    }

    private void persist(Sandbox sandbox, SandboxRecord r) {
        try {
            store.put(r.id(), r);
        } catch (IOException e) {
            LOG.error("cannot persist pod sandbox record", e, "id", r.id());
        }
        sandbox.record(r);
    }

    private void unmountShm(String id) throws IOException {
        Path shm = stateDir.resolve(id).resolve("shm");
        MountInfo.unmountBelow(shm);
    }

    /** The shim refuses to delete a running task: after SIGKILL, wait for the exit to be reaped. */
    private static void awaitStopped(Shim shim, String id) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + KILL_WAIT.toNanos();
        while (shim.state(id, "").status() != TaskState.Status.STOPPED) {
            if (System.nanoTime() > deadline) {
                throw new IOException("infra task " + id + " still runs " + KILL_WAIT.toSeconds() + " s after SIGKILL");
            }
            Thread.sleep(5);
        }
    }

    /** SIGKILL to the infra task (created or running), its exit awaited, then its delete (runc state, cgroup). */
    private static void killAndDeleteTask(Shim shim, String id) throws IOException, InterruptedException {
        try {
            shim.kill(id, "", 9, true);
            awaitStopped(shim, id);
        } catch (ShimNotFoundException ignored) {
            return; // never created, or deleted already
        }
        deleteTask(shim, id);
    }

    private static void deleteTask(Shim shim, String id) throws IOException {
        try {
            shim.delete(id, "");
        } catch (ShimNotFoundException ignored) {
            // already deleted
        }
    }

    private PodNetworkRequest networkRequest(String id, PodSandboxConfig config, Path netns) {
        var m = config.getMetadata();
        var ports = new ArrayList<PortMapping>();
        for (var pm : config.getPortMappingsList()) {
            if (pm.getHostPort() > 0) {
                ports.add(new PortMapping(pm.getProtocol().name().toLowerCase(Locale.ROOT), pm.getContainerPort(),
                        pm.getHostPort(), pm.getHostIp()));
            }
        }
        return new PodNetworkRequest(id, m.getName(), m.getNamespace(), m.getUid(), netns, "eth0", ports, Map.of());
    }

    /** The infra process: the image's entrypoint and command (the builtin image: catatonit in pause mode). */
    static List<String> infraArgs(ImageConfigs.Parsed image) {
        var args = new ArrayList<String>();
        var cfg = image.json().has("config") && image.json().get("config").isJsonObject()
                ? image.json().getAsJsonObject("config") : new JsonObject();
        for (String key : List.of("Entrypoint", "Cmd")) {
            if (cfg.has(key) && cfg.get(key).isJsonArray()) {
                cfg.getAsJsonArray(key).forEach(e -> args.add(e.getAsString()));
            }
        }
        if (args.isEmpty()) {
            throw new IllegalArgumentException("the sandbox image has neither Entrypoint nor Cmd");
        }
        return args;
    }

    private static long millis(long nanos) {
        return nanos / 1_000_000;
    }

    static long nanos(Clock clock) {
        var now = clock.instant();
        return now.getEpochSecond() * 1_000_000_000L + now.getNano();
    }

    private static String nodeHostname() {
        try {
            return Files.readString(Path.of("/proc/sys/kernel/hostname")).trim();
        } catch (IOException e) {
            return "localhost";
        }
    }

    @FunctionalInterface
    interface Undo {
        void run() throws Exception;
    }

    private static void rollback(Deque<Undo> undo) {
        while (!undo.isEmpty()) {
            try {
                undo.pop().run();
            } catch (Exception e) {
                LOG.error("rollback step failed", e);
            }
        }
    }
}
