package dev.bollard.daemon.lifecycle;

import com.google.gson.JsonObject;
import dev.bollard.api.cri.v1.NamespaceMode;
import dev.bollard.api.cri.v1.PodSandboxConfig;
import dev.bollard.daemon.errors.AlreadyExistsException;
import dev.bollard.daemon.log.Log;
import dev.bollard.daemon.network.PodNetworkRequest;
import dev.bollard.daemon.network.PortMapping;
import dev.bollard.daemon.oci.PodContext;
import dev.bollard.daemon.oci.NodeHostname;
import dev.bollard.daemon.oci.RequestBounds;
import dev.bollard.daemon.store.Modes;
import dev.bollard.daemon.oci.SpecBuilder;
import dev.bollard.daemon.oci.SpecInputsResolver;
import dev.bollard.daemon.oci.UserNamespaces;
import dev.bollard.daemon.sandbox.LifecycleEvent;
import dev.bollard.daemon.sandbox.PodFiles;
import dev.bollard.daemon.sandbox.Sandbox;
import dev.bollard.daemon.sandbox.SandboxRecord;
import dev.bollard.daemon.sandbox.SandboxState;
import dev.bollard.daemon.sandbox.SandboxStore;
import dev.bollard.daemon.shim.ShimOptions;
import dev.bollard.daemon.shim.TaskIo;
import dev.bollard.daemon.shim.TaskService;
import dev.bollard.daemon.store.AtomicFiles;
import dev.bollard.daemon.store.CrashPoints;
import dev.bollard.daemon.store.FileTrees;
import dev.bollard.daemon.store.IdIndex;
import dev.bollard.daemon.store.ProtoJson;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
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
 * RunPodSandbox: a network namespace set up by CNI, the pod's files and /dev/shm, and an infra container run by the
 * pod's own shim, which every container of the pod then shares. Each step registers its undo, so a failure anywhere
 * leaves nothing behind.
 */
public final class RunPodSandbox {

    private static final Log LOG = Log.get("sandbox");
    /** The default pod cgroup parent when the config names none (crictl); pods then get a parent of their own. */
    public static final String DEFAULT_CGROUP_PARENT = "/bollard";
    static final long SHM_BYTES = 64L << 20;

    private final Layout layout;
    private final Handlers handlers;
    private final PodHost host;
    private final SpecBuilder specs;
    private final InfraImage infraImage;
    private final SandboxStore sandboxes;
    private final ExitWatch watch;
    private final Clock clock;

    public RunPodSandbox(Layout layout, Handlers handlers, PodHost host, SpecBuilder specs, InfraImage infraImage,
                         SandboxStore sandboxes, ExitWatch watch, Clock clock) {
        this.layout = layout;
        this.handlers = handlers;
        this.host = host;
        this.specs = specs;
        this.infraImage = infraImage;
        this.sandboxes = sandboxes;
        this.watch = watch;
        this.clock = clock;
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
        RequestBounds.checkPodSandbox(config);
        var runtimeHandlers = handlers.runtimeHandlers();
        String handlerName = runtimeHandler.isEmpty() ? runtimeHandlers.defaultName() : runtimeHandler;
        if (runtimeHandlers.get(handlerName).isEmpty()) {
            throw new IllegalArgumentException("runtime handler \"" + runtimeHandler + "\" is not configured (configured: "
                    + String.join(", ", runtimeHandlers.names()) + ")");
        }
        var shimOptions = handlers.shimOptions(handlerName);
        if (SpecBuilder.podUserNamespace(config).isPresent() && !runtimeHandlers.features(handlerName).userNamespaces()) {
            throw new IllegalArgumentException("linux.security_context.namespace_options.userns_options: runtime "
                    + "handler \"" + handlerName + "\" does not support user namespaces");
        }

        String id = IdIndex.newId();
        String name = reservedName(config);
        var holder = sandboxes.reserveName(name, id);
        if (holder.isPresent()) {
            throw new AlreadyExistsException("pod sandbox name \"" + name + "\" is reserved for sandbox "
                    + holder.get());
        }
        Deque<Undo> undo = new ArrayDeque<>();
        undo.push(() -> sandboxes.releaseName(name, id));
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
        var image = infraImage.resolve();

        Path bundle = layout.podBundle(id);
        Path podDir = layout.podDir(id);
        Modes.traversableDirectory(bundle);
        undo.push(() -> {
            host.unmountBelow(bundle); // a rootfs a failed task create left mounted
            FileTrees.deleteTree(bundle);
        });
        Files.createDirectories(podDir);
        undo.push(() -> FileTrees.deleteTree(podDir));

        String cgroupParent = config.getLinux().getCgroupParent();
        if (cgroupParent.isEmpty()) {
            cgroupParent = DEFAULT_CGROUP_PARENT + "/" + id;
        }
        boolean ownCgroupParent = !host.cgroupExists(cgroupParent);
        if (ownCgroupParent) {
            String parent = cgroupParent;
            undo.push(() -> {
                host.removeCgroup(parent);
                if (parent.startsWith(DEFAULT_CGROUP_PARENT + "/")) {
                    host.removeCgroupIfEmpty(DEFAULT_CGROUP_PARENT); // as RemovePodSandbox does
                }
            });
        }

        Path netns = hostNetwork ? null : layout.netns(id);
        var draft = SandboxRecord.builder().id(id).name(name).config(ProtoJson.toJson(config))
                .runtimeHandler(handlerName).image(image.imageId()).state(SandboxState.NOTREADY)
                .netns(netns == null ? "" : netns.toString()).cgroupParent(cgroupParent)
                .ownCgroupParent(ownCgroupParent).createdAt(Tasks.nanos(clock)).build();
        // Recorded before anything outlives a crash: a restart then knows what to reconcile (and, finding the
        // infra pid still 0, rolls the pod back: see SandboxRecovery).
        sandboxes.writeDraft(draft);
        undo.push(() -> sandboxes.deleteRecord(id));
        CrashPoints.hit("RunPodSandbox.afterRecord");

        // CNI ADD needs only the netns: it runs while the infra task is set up and started, and is awaited before
        // the pod is ready (no container of the pod can exist before then, so none sees a half-made network).
        CompletableFuture<List<String>> network = CompletableFuture.completedFuture(List.of());
        long tn = System.nanoTime();
        if (netns != null && userns.isEmpty()) {
            host.createNetns(netns);
            undo.push(() -> host.removeNetns(netns));
            CrashPoints.hit("RunPodSandbox.afterNetns");
            network = addNetwork(id, config, netns, undo);
        }

        var files = PodFiles.in(podDir);
        // No hostname in the config: the node's, as containerd does (the pod's UTS namespace starts as a copy of it).
        String hostname = config.getHostname().isEmpty() ? NodeHostname.current() : config.getHostname();
        files.write(hostname, hostNetwork, List.of(), config.getDnsConfig());
        if (userns.isPresent()) {
            ownByPodRoot(files, userns.get());
        }

        Path shm = null;
        if (!hostIpc) {
            shm = Files.createDirectories(bundle.resolve("shm"));
            // in a user namespace of the pod's own, the pod's root owns its /dev/shm
            String owner = userns.map(u -> ",uid=" + u.hostRootUid() + ",gid=" + u.hostRootGid()).orElse("");
            host.mountShm(shm, "mode=1777,size=" + SHM_BYTES + owner);
            Path mounted = shm;
            undo.push(() -> host.unmount(mounted));
            CrashPoints.hit("RunPodSandbox.afterShm");
        }

        var rootfs = image.prepareRootfs(podDir.resolve("rootfs"));
        Files.createDirectories(bundle.resolve("rootfs"));
        var pod = new PodContext(id, config, Optional.ofNullable(netns), 0, files.hostname(), files.hosts(),
                files.resolvConf(), Optional.ofNullable(shm), cgroupParent, handlerName, infraImage.reference());
        JsonObject spec = specs.sandboxSpec(pod, id, image.args(), SpecInputsResolver.sandbox(pod));
        AtomicFiles.write(bundle.resolve("config.json"), spec.toString().getBytes(StandardCharsets.UTF_8));

        long ts = System.nanoTime();
        TaskService shim = handlers.tasks().start(id, bundle, shimOptions, handlers.shimGroup(handlerName, config));
        long shimNanos = System.nanoTime() - ts;
        undo.push(shim::shutdown);
        CrashPoints.hit("RunPodSandbox.afterShimStart");
        // Before Create: a shim dying during Create can leave runc's init behind. Kill and delete (once started,
        // the shim would refuse a bare delete), or without the shim when it is gone.
        undo.push(() -> Tasks.killAndDeleteOrCleanUp(shim, id, handlers.tasks(), bundle, shimOptions));
        int createdPid = shim.create(id, bundle, rootfs, new TaskIo("", "", "", false));
        CrashPoints.hit("RunPodSandbox.afterTaskCreate");
        if (netns != null && userns.isPresent()) {
            // the infra process made the netns inside the pod's user namespace; pinned, CNI sets it up as usual
            host.pinNetns(netns, Path.of("/proc/" + createdPid + "/ns/net"));
            undo.push(() -> host.removeNetns(netns));
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
        var ready = draft.withStarted(ips, pid, netns != null).with(SandboxState.READY);
        var sandbox = new Sandbox(ready, config, shim);
        sandboxes.publish(draft, sandbox);
        CrashPoints.hit("RunPodSandbox.afterReady");
        // Before the exit watch starts, so that a STOPPED can never come first.
        sandboxes.tell(sandbox, LifecycleEvent.CREATED);
        sandboxes.tell(sandbox, LifecycleEvent.STARTED);
        dev.bollard.daemon.nri.NriHooks.current().podEvent(dev.bollard.api.nri.v1alpha1.Event.RUN_POD_SANDBOX, sandbox);
        watch.infra(sandbox, shim);
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
                var ips = host.networkUp(request);
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
            host.networkDown(request);
        });
        return adding;
    }

    /** The pod's hostname, hosts and resolv.conf owned by the host IDs of the pod's root, so that root inside owns them. */
    private void ownByPodRoot(PodFiles files, UserNamespaces.Mappings userns) throws IOException {
        for (Path f : List.of(files.hostname(), files.hosts(), files.resolvConf())) {
            host.chown(f, (int) userns.hostRootUid(), (int) userns.hostRootGid());
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

    /** The CNI request of a pod: its identity, netns and host ports. */
    static PodNetworkRequest networkRequest(String id, PodSandboxConfig config, Path netns) {
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

    private static long millis(long nanos) {
        return nanos / 1_000_000;
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
