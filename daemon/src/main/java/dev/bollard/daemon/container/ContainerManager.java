package dev.bollard.daemon.container;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.protobuf.InvalidProtocolBufferException;
import dev.bollard.api.cri.v1.ContainerConfig;
import dev.bollard.api.cri.v1.LinuxContainerResources;
import dev.bollard.api.cri.v1.NamespaceMode;
import dev.bollard.daemon.container.io.ContainerLogger;
import dev.bollard.daemon.container.io.OutputCapture;
import dev.bollard.daemon.container.io.StdioFifos;
import dev.bollard.daemon.content.Digest;
import dev.bollard.daemon.image.ImageConfigs;
import dev.bollard.daemon.image.ImageManager;
import dev.bollard.daemon.image.ImageRecord;
import dev.bollard.daemon.linux.MountInfo;
import dev.bollard.daemon.log.Log;
import dev.bollard.daemon.oci.SpecBuilder;
import dev.bollard.daemon.sandbox.LifecycleEvent;
import dev.bollard.daemon.sandbox.Sandbox;
import dev.bollard.daemon.sandbox.SandboxManager;
import dev.bollard.daemon.shim.Shim;
import dev.bollard.daemon.shim.ShimEvents;
import dev.bollard.daemon.shim.ShimNotFoundException;
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
import java.time.Instant;
import java.util.HashSet;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Containers: CreateContainer prepares the bundle (OCI spec, writable layer) and the record; StartContainer
 * creates the task in the pod's shim with the container's stdio FIFOs pumped into its CRI log, and starts it.
 * An exit (the shim's TaskExit event, or its Wait answering) is recorded once, then the task is deleted so the
 * shim unmounts the rootfs and the OCI runtime forgets the container.
 */
public final class ContainerManager implements SandboxManager.Members, ShimEvents {

    private static final Log LOG = Log.get("container");
    static final int EXEC_OUTPUT_CAP = 16 << 20;
    public static final Duration KILL_WAIT = Duration.ofSeconds(30);
    /** After the process exits, how long its output may still take to drain into the log. */
    static final Duration LOG_DRAIN = Duration.ofSeconds(2);

    private final Path stateDir;
    private final Path rootDir;
    private final SandboxManager sandboxes;
    private final ImageManager images;
    private final SpecBuilder specs;
    private final RecordStore<ContainerRecord> store;
    private final Clock clock;
    private final int maxLogLineBytes;
    private final NameRegistry names = new NameRegistry();
    private final IdIndex<Container> containers = new IdIndex<>("container");
    private volatile boolean detached;
    private volatile Listener listener = (c, e) -> { };

    /** Told after each lifecycle step, on the thread that made it; must not block. */
    @FunctionalInterface
    public interface Listener {
        void changed(Container c, LifecycleEvent event);
    }

    public void listener(Listener l) {
        listener = l;
    }

    private void tell(Container c, LifecycleEvent event) {
        try {
            listener.changed(c, event);
        } catch (RuntimeException e) {
            LOG.warn("container event listener failed", "id", c.id(), "event", event, "error", e.getMessage());
        }
    }

    public ContainerManager(Path root, Path state, SandboxManager sandboxes, ImageManager images, SpecBuilder specs,
                            int maxLogLineBytes, Clock clock) throws IOException {
        this.stateDir = state.resolve("containers");
        this.rootDir = root.resolve("containers");
        this.sandboxes = sandboxes;
        this.images = images;
        this.specs = specs;
        this.clock = clock;
        this.maxLogLineBytes = maxLogLineBytes;
        this.store = new RecordStore<>(root.resolve("store").resolve("containers"), ContainerRecord.class,
                ContainerRecord.SCHEMA);
        Files.createDirectories(stateDir);
        Files.createDirectories(rootDir);
        sandboxes.members(this);
        images.snapshotsInUse(this::snapshotsInUse);
    }

    // ---- create / start / stop / remove ----

    public Container create(String podId, ContainerConfig config) throws IOException {
        if (podId.isEmpty()) {
            throw new IllegalArgumentException("pod_sandbox_id is required");
        }
        if (!config.hasMetadata() || config.getMetadata().getName().isEmpty()) {
            throw new IllegalArgumentException("config.metadata.name is required");
        }
        if (config.getImage().getImage().isEmpty()) {
            throw new IllegalArgumentException("config.image.image is required (container "
                    + config.getMetadata().getName() + ")");
        }
        Sandbox sandbox = sandboxes.get(podId);
        if (!sandbox.ready()) {
            throw Status.FAILED_PRECONDITION.withDescription("pod sandbox " + sandbox.id()
                    + " is not ready; a container can only be created in a ready pod").asRuntimeException();
        }
        // CRI-O style restore: the image is a checkpoint archive, the container the checkpointed one run again
        Path restoreFrom = CheckpointArchive.isArchivePath(config.getImage().getImage())
                ? Path.of(config.getImage().getImage()) : null;
        CheckpointArchive.Metadata checkpoint = null;
        if (restoreFrom != null) {
            checkpoint = CheckpointArchive.readMetadata(restoreFrom);
            requireCriu(sandbox, "restore a container from checkpoint archive " + restoreFrom);
            config = restoredConfig(config, checkpoint);
        }
        String imageName = checkpoint == null ? config.getImage().getImage() : checkpoint.imageId();
        String notFound = checkpoint == null ? "image \"" + imageName + "\" not found; pull it first"
                : "image \"" + checkpoint.imageName() + "\" (" + imageName + "), which checkpoint archive " + restoreFrom
                + " was taken from, not found; pull it first";
        ImageRecord image = images.resolve(imageName).orElseThrow(() -> new NoSuchElementException(notFound));
        var pm = sandbox.config().getMetadata();
        String name = String.join("_", config.getMetadata().getName(), pm.getName(), pm.getNamespace(), pm.getUid(),
                Integer.toString(config.getMetadata().getAttempt()));
        String id = IdIndex.newId();
        var holder = names.reserve(name, id);
        if (holder.isPresent()) {
            throw Status.ALREADY_EXISTS.withDescription("container name \"" + name + "\" is reserved for container "
                    + holder.get()).asRuntimeException();
        }
        Path bundle = stateDir.resolve(id);
        Path dir = rootDir.resolve(id);
        try {
            var parsed = ImageConfigs.parse(images.config(image));
            var rootfs = Rootfs.of(images.snapshots(), image, dir.resolve("rootfs"));
            rootfs.prepare();
            Files.createDirectories(bundle.resolve("rootfs"));
            if (restoreFrom != null) {
                CheckpointArchive.extract(restoreFrom, bundle.resolve(RESTORE_IMAGES), rootfs.upper());
            }
            var pod = sandboxes.context(sandbox);
            int targetPid = targetPid(config, sandbox);
            checkRecursiveReadOnly(config, sandbox);
            // image volumes are mounted in the bundle now, so the spec binds them like host paths
            var volumes = ImageVolumes.mount(config, images, bundle);
            JsonObject spec = specs.containerSpec(pod, id, volumes.config(), parsed, rootfs.files(), targetPid,
                    sandboxes.privilegedWithoutHostDevices(sandbox));
            dev.bollard.daemon.cdi.CdiDevices.inject(spec, config); // CDI devices by name: device nodes, mounts, env, hooks
            if (sandboxes.standaloneContainers(sandbox)) {
                standalone(spec);
            }
            var userns = SpecBuilder.podUserNamespace(sandbox.config());
            if (userns.isPresent()) {
                // the infra process lives in the pod's user namespace: its ns file is what the idmapped mounts take
                Path usernsFile = Path.of("/proc/" + sandbox.record().pid() + "/ns/user");
                rootfs = IdMappedMounts.rootfs(rootfs, bundle, usernsFile, userns.get());
                IdMappedMounts.volumes(spec, volumes.config(), bundle, usernsFile);
            }
            AtomicFiles.write(bundle.resolve("config.json"), spec.toString().getBytes(StandardCharsets.UTF_8));
            // A crash before the record leaves directories no record owns: the start-up scan removes them.
            CrashPoints.hit("CreateContainer.afterBundle");
            String logPath = "";
            String logDir = sandbox.config().getLogDirectory();
            if (!logDir.isEmpty() && !config.getLogPath().isEmpty()) {
                logPath = Path.of(logDir).resolve(config.getLogPath()).toString();
            }
            String stopSignal = SpecBuilder.stopSignal(parsed);
            var record = new ContainerRecord(id, sandbox.id(), name, ProtoJson.toJson(config), config.getImage().getImage(),
                    imageRef(image, requestedImage(config)), image.id(), ContainerState.CREATED, 0, nanos(), 0, 0, 0, "", "", logPath,
                    rootfs.lowers().stream().map(Path::toString).toList(), stopSignal, null,
                    volumes.mounts().stream().flatMap(v -> v.lowers().stream()).map(Path::toString).toList());
            store.put(id, record);
            CrashPoints.hit("CreateContainer.afterRecord");
            var c = new Container(record, config, spec, rootfs, stopSignal);
            containers.put(id, c);
            LOG.info("container created", "id", id, "pod", sandbox.id(), "name", config.getMetadata().getName(),
                    "image", image.id());
            tell(c, LifecycleEvent.CREATED);
            return c;
        } catch (IOException | RuntimeException e) {
            names.release(name, id);
            try {
                unmountLeftovers(bundle); // image volumes, and the idmapped mounts of a pod with a user namespace
            } catch (IOException ue) {
                LOG.warn("cannot unmount a failed container's mounts", "id", id, "error", ue.getMessage());
            }
            cleanupQuietly(bundle, dir);
            store.delete(id);
            throw e;
        }
    }

    /**
     * A container that runs as a sandbox of its own (gVisor): without the annotations that would make the runtime
     * join it to the pod's sandbox, and joining only the pod's network namespace (the infra's PID, IPC and UTS
     * namespaces are those of another gVisor kernel, which cannot be entered).
     */
    static void standalone(JsonObject spec) {
        if (spec.has("annotations")) {
            var annotations = spec.getAsJsonObject("annotations");
            annotations.remove(SpecBuilder.ANNOTATION_CONTAINER_TYPE);
            annotations.remove(SpecBuilder.ANNOTATION_SANDBOX_ID);
        }
        if (spec.has("linux") && spec.getAsJsonObject("linux").has("namespaces")) {
            for (var ns : spec.getAsJsonObject("linux").getAsJsonArray("namespaces")) {
                var o = ns.getAsJsonObject();
                if (!"network".equals(o.get("type").getAsString())) {
                    o.remove("path");
                }
            }
        }
    }

    /** A recursive read-only mount on a handler that cannot make one would be read-only on top only: refused. */
    private void checkRecursiveReadOnly(ContainerConfig config, Sandbox sandbox) {
        for (int i = 0; i < config.getMountsCount(); i++) {
            var m = config.getMounts(i);
            if (m.getRecursiveReadOnly() && !sandboxes.features(sandbox).recursiveReadOnlyMounts()) {
                throw new IllegalArgumentException("mounts[" + i + "] (" + m.getContainerPath() + "): recursive_read_only "
                        + "is not supported by runtime handler \"" + sandbox.record().runtimeHandler() + "\"");
            }
        }
    }

    private int targetPid(ContainerConfig config, Sandbox sandbox) {
        var ns = config.getLinux().getSecurityContext().getNamespaceOptions();
        if (ns.getPid() != NamespaceMode.TARGET) {
            return 0;
        }
        var target = find(ns.getTargetId()).orElseThrow(() -> new NoSuchElementException(
                "target container \"" + ns.getTargetId() + "\" of the PID namespace not found"));
        if (!target.record().sandboxId().equals(sandbox.id()) || target.state() != ContainerState.RUNNING) {
            throw new IllegalArgumentException("target container " + ns.getTargetId()
                    + " must be a running container of the same pod");
        }
        return target.record().pid();
    }

    public void start(String idOrPrefix) throws IOException {
        var c = get(idOrPrefix);
        c.lock().lock();
        try {
            if (c.state() != ContainerState.CREATED) {
                throw Status.FAILED_PRECONDITION.withDescription("container " + c.id() + " is " + describe(c.state())
                        + "; only a created container can be started").asRuntimeException();
            }
            Sandbox sandbox = sandboxes.get(c.record().sandboxId());
            Shim shim = sandbox.shim();
            if (!sandbox.ready() || shim == null) {
                throw Status.FAILED_PRECONDITION.withDescription("pod sandbox " + sandbox.id() + " is not ready")
                        .asRuntimeException();
            }
            Path bundle = stateDir.resolve(c.id());
            boolean tty = c.config().getTty();
            StdioFifos fifos = null;
            ContainerLogger logger = null;
            boolean taskCreated = false;
            try {
                fifos = StdioFifos.create(bundle, "init", c.config().getStdin(), tty);
                logger = ContainerLogger.start(fifos, c.record().logPath().isEmpty() ? null : Path.of(c.record().logPath()),
                        maxLogLineBytes);
                c.io(fifos, logger);
                CrashPoints.hit("StartContainer.afterFifos");
                Path restore = bundle.resolve(RESTORE_IMAGES);
                shim.create(c.id(), bundle, List.of(c.rootfs().mount()), io(fifos, tty),
                        Files.isDirectory(restore) ? restore : null);
                taskCreated = true;
                CrashPoints.hit("StartContainer.afterTaskCreate");
                int pid = shim.start(c.id(), "");
                CrashPoints.hit("StartContainer.afterTaskStart");
                if (Files.isDirectory(restore)) {
                    cleanupQuietly(restore); // restored: the CRIU images have served
                }
                persist(c, c.record().started(pid, nanos()));
                CrashPoints.hit("StartContainer.afterRecord");
                watch(c, shim);
                LOG.info("container started", "id", c.id(), "pid", pid);
                tell(c, LifecycleEvent.STARTED);
            } catch (IOException | RuntimeException e) {
                if (taskCreated) {
                    deleteTaskQuietly(shim, c.id());
                }
                if (logger != null) {
                    logger.close();
                }
                if (fifos != null) {
                    fifos.remove();
                }
                persist(c, c.record().exited(nanos(), 128, "StartError", e.getMessage() == null ? e.toString() : e.getMessage()));
                c.exited().complete(null);
                throw e;
            }
        } finally {
            c.lock().unlock();
        }
    }

    private static TaskIo io(StdioFifos f, boolean tty) {
        return new TaskIo(f.stdin() == null ? "" : f.stdin().toString(), f.stdout().toString(),
                f.stderr() == null ? "" : f.stderr().toString(), tty);
    }

    private void watch(Container c, Shim shim) {
        Thread.ofVirtual().name("exit-" + c.id().substring(0, 12)).start(() -> {
            try {
                var exit = shim.await(c.id(), "");
                exited(c, exit.exitStatus(), exit.exitedAt());
            } catch (IOException e) {
                if (detached) {
                    return; // the daemon is going away; the container keeps running
                }
                LOG.warn("lost track of a container's process", "id", c.id(), "error", e.getMessage());
                reapOrphan(c, shim);
                exited(c, 255, Instant.now(clock));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
    }

    /**
     * The pod's shim died under a running container: {@code shim delete} on its bundle kills what is left of it and
     * unmounts its rootfs, instead of leaving a process no shim watches.
     */
    private void reapOrphan(Container c, Shim shim) {
        if (shim != null && shim.isAlive()) {
            return;
        }
        sandboxes.find(c.record().sandboxId()).ifPresent(sb -> {
            try {
                sandboxes.cleanupDeadTask(sb, c.id(), stateDir.resolve(c.id()));
                c.taskDeleted();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
    }

    @Override
    public void taskExit(String containerId, String execId, int pid, int exitStatus, Instant exitedAt) {
        if (!execId.isEmpty()) {
            return; // execs are awaited by their caller
        }
        var c = containers.get(containerId);
        if (c != null) {
            exited(c, exitStatus, exitedAt);
        } else {
            sandboxes.find(containerId).ifPresent(s -> sandboxes.infraExited(s, exitStatus));
        }
    }

    @Override
    public void taskOom(String containerId) {
        var c = containers.get(containerId);
        if (c != null) {
            LOG.info("container hit its memory limit", "id", containerId);
            c.markOom();
        }
    }

    /** Records an exit once: exit code, time and reason, the log drained, the task deleted. */
    private void exited(Container c, int status, Instant at) {
        if (c.state() != ContainerState.RUNNING || c.exited().isDone()) {
            return;
        }
        c.lock().lock();
        try {
            if (c.state() != ContainerState.RUNNING) {
                return;
            }
            var logger = c.logger();
            if (logger != null) {
                try {
                    logger.done().get(LOG_DRAIN.toMillis(), TimeUnit.MILLISECONDS);
                } catch (TimeoutException e) {
                    LOG.warn("container output still open after exit (a child holds it?); closing the log", "id", c.id());
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                } catch (ExecutionException e) {
                    LOG.warn("container log pump failed", "id", c.id(), "error", e.getCause().getMessage());
                }
            }
            String reason = c.oomKilled() ? "OOMKilled" : status == 0 ? "Completed" : "Error";
            persist(c, c.record().exited(epochNanos(at), status, reason, ""));
            CrashPoints.hit("ContainerExit.afterRecord");
            LOG.info("container exited", "id", c.id(), "exitCode", status, "reason", reason);
            tell(c, LifecycleEvent.STOPPED);
            sandboxes.find(c.record().sandboxId()).map(Sandbox::shim).ifPresent(shim -> {
                if (deleteTaskQuietly(shim, c.id())) {
                    c.taskDeleted();
                }
            });
            if (logger != null) {
                logger.close();
            }
            if (c.fifos() != null) {
                try {
                    c.fifos().remove();
                } catch (IOException e) {
                    LOG.warn("cannot remove stdio FIFOs", "id", c.id(), "error", e.getMessage());
                }
            }
        } finally {
            c.lock().unlock();
            c.exited().complete(null);
        }
    }

    /**
     * Stops a running container: its stop signal, then SIGKILL after {@code timeoutSeconds}. A container that is not
     * running, or that does not exist, is no error.
     */
    public void stop(String idOrPrefix, long timeoutSeconds) throws IOException, InterruptedException {
        var found = find(idOrPrefix);
        if (found.isEmpty()) {
            return;
        }
        stop(found.get(), timeoutSeconds);
    }

    private void stop(Container c, long timeoutSeconds) throws IOException, InterruptedException {
        if (c.state() != ContainerState.RUNNING) {
            return;
        }
        Shim shim = sandboxes.find(c.record().sandboxId()).map(Sandbox::shim).orElse(null);
        if (shim == null || !shim.isAlive()) {
            reapOrphan(c, shim);
            exited(c, 255, Instant.now(clock));
            return;
        }
        if (timeoutSeconds > 0) {
            signal(shim, c, SpecBuilder.signalNumber(c.stopSignal()));
            CrashPoints.hit("StopContainer.afterSignal");
            if (awaitExit(c, Duration.ofSeconds(timeoutSeconds))) {
                return;
            }
            LOG.info("container ignored its stop signal; killing it", "id", c.id(), "signal", c.stopSignal(),
                    "timeoutSeconds", timeoutSeconds);
        }
        signal(shim, c, 9);
        if (timeoutSeconds <= 0) {
            CrashPoints.hit("StopContainer.afterSignal");
        }
        if (!awaitExit(c, KILL_WAIT)) {
            throw Status.DEADLINE_EXCEEDED.withDescription("container " + c.id() + " did not exit "
                    + KILL_WAIT.toSeconds() + " s after SIGKILL").asRuntimeException();
        }
    }

    private void signal(Shim shim, Container c, int signal) throws IOException {
        try {
            shim.kill(c.id(), "", signal, signal == 9);
        } catch (ShimNotFoundException e) {
            // exited meanwhile: the exit path records it
        }
    }

    private static boolean awaitExit(Container c, Duration d) throws InterruptedException {
        try {
            c.exited().get(d.toMillis(), TimeUnit.MILLISECONDS);
            return true;
        } catch (TimeoutException e) {
            return false;
        } catch (ExecutionException e) {
            return true;
        }
    }

    /** Removes a container, killing it first if it runs. Idempotent. */
    public void remove(String idOrPrefix) throws IOException, InterruptedException {
        var found = find(idOrPrefix);
        if (found.isEmpty()) {
            return;
        }
        var c = found.get();
        stop(c, 0);
        c.lock().lock();
        try {
            if (!containers.containsKey(c.id())) {
                return;
            }
            // A task left behind (an exit whose delete failed) would keep the rootfs mounted.
            if (c.state() != ContainerState.CREATED && !c.isTaskDeleted()) {
                sandboxes.find(c.record().sandboxId()).map(Sandbox::shim).ifPresent(shim -> deleteTaskQuietly(shim, c.id()));
            }
            // A shim that died (or was killed) before deleting the task leaves the rootfs mounted: unmount it here
            // rather than leak it (FileTrees refuses to delete through a mount).
            unmountLeftovers(stateDir.resolve(c.id()));
            CrashPoints.hit("RemoveContainer.afterTaskDelete");
            // The root dir first: the bundle (state dir) going is what tells a restart the removal had begun.
            FileTrees.deleteTree(rootDir.resolve(c.id()));
            FileTrees.deleteTree(stateDir.resolve(c.id()));
            CrashPoints.hit("RemoveContainer.afterDirs");
            store.delete(c.id());
            containers.remove(c.id());
            names.release(c.record().name(), c.id());
            LOG.info("container removed", "id", c.id());
            tell(c, LifecycleEvent.DELETED);
        } finally {
            c.lock().unlock();
        }
    }

    @Override
    public void stopAll(Sandbox sandbox) throws IOException, InterruptedException {
        for (var c : inPod(sandbox.id())) {
            stop(c, 0);
        }
    }

    @Override
    public void removeAll(Sandbox sandbox) throws IOException, InterruptedException {
        for (var c : inPod(sandbox.id())) {
            remove(c.id());
        }
    }

    private List<Container> inPod(String podId) {
        return containers.values().stream().filter(c -> c.record().sandboxId().equals(podId)).toList();
    }

    // ---- restart ----

    /**
     * Rebuilds the containers from their records after a daemon restart, once {@link SandboxManager#recover} has
     * run: config from the record, spec from the bundle's {@code config.json}, the rootfs from the recorded lower
     * dirs, the name reserved again. A running container whose task still runs gets its log pump back on its
     * existing FIFOs (what the pipe held while nobody read is logged, nothing lost) and its exit watched again; one
     * whose task ended meanwhile is recorded with the exit the shim reports, and its task deleted; one whose task
     * the shim no longer knows, or whose shim is gone, is recorded as exited 255 (reason Unknown). A record whose
     * pod no longer exists is an orphan: its directories and record are removed.
     *
     * @throws IOException naming the file when a record is corrupt (the daemon then refuses to start)
     */
    public void recover() throws IOException, InterruptedException {
        var loaded = new java.util.ArrayList<java.util.Map.Entry<Container, Sandbox>>();
        for (var r : store.loadAll()) {
            var sandbox = sandboxes.find(r.sandboxId());
            if (sandbox.isEmpty()) {
                removeOrphan(r);
                continue;
            }
            if (!Files.isDirectory(stateDir.resolve(r.id()))) {
                // The bundle exists from before the record until RemoveContainer deletes it: the last daemon died
                // removing this container, after its task was gone.
                LOG.warn("completing the removal of a container the daemon died removing", "id", r.id());
                removeOrphan(r);
                continue;
            }
            Path recordFile = store.dir().resolve(r.id() + ".json");
            ContainerConfig config;
            try {
                config = ProtoJson.fromJson(r.config(), ContainerConfig.newBuilder());
            } catch (InvalidProtocolBufferException e) {
                throw new IOException("record " + recordFile + " is corrupt: its container config does not parse: "
                        + e.getMessage(), e);
            }
            Rootfs rootfs;
            try {
                rootfs = new Rootfs(r.lowerDirs().stream().map(Path::of).toList(), rootDir.resolve(r.id()).resolve("rootfs"));
                Path view = IdMappedMounts.layersView(stateDir.resolve(r.id()));
                if (MountInfo.fsTypeAt(view).isPresent()) {
                    rootfs = rootfs.viewedThrough(view); // a container of a pod with a user namespace
                }
            } catch (IllegalArgumentException e) {
                throw new IOException("record " + recordFile + " is corrupt: it names no rootfs lower dirs", e);
            }
            var holder = names.reserve(r.name(), r.id());
            if (holder.isPresent()) {
                throw new IOException("records of containers " + holder.get() + " and " + r.id()
                        + " both hold the name \"" + r.name() + "\" (in " + store.dir() + ")");
            }
            var c = new Container(r, config, readSpec(r), rootfs, r.stopSignal());
            if (!r.resources().isEmpty()) {
                c.resources(ProtoJson.fromJson(r.resources(), LinuxContainerResources.newBuilder()));
            }
            containers.put(r.id(), c);
            loaded.add(java.util.Map.entry(c, sandbox.get()));
        }
        // Each container waits on its pod's shim: in parallel, as the pods are.
        dev.bollard.daemon.sandbox.Parallel.each(loaded, e -> {
            var c = e.getKey();
            c.lock().lock();
            try {
                switch (c.state()) {
                    case CREATED -> reconcileCreated(c, e.getValue());
                    case EXITED, UNKNOWN -> {
                        deleteLeftoverTask(c, e.getValue());
                        c.exited().complete(null);
                    }
                    case RUNNING -> resume(c, e.getValue());
                }
            } finally {
                c.lock().unlock();
            }
        });
        unmountIdmapLeftovers();
    }

    /**
     * A crash during CreateContainer after the idmapped mounts of a user-namespaced pod's container were made but
     * before its record was written leaves a bundle no record names, with mounts in it: unmounted and removed.
     */
    private void unmountIdmapLeftovers() {
        try (var bundles = Files.list(stateDir)) {
            for (Path bundle : bundles.toList()) {
                String id = bundle.getFileName().toString();
                if (containers.containsKey(id) || !Files.isDirectory(bundle.resolve(IdMappedMounts.DIR))) {
                    continue;
                }
                LOG.warn("removing the idmapped mounts of a container whose create was cut short", "id", id);
                unmountLeftovers(bundle);
                FileTrees.deleteTree(bundle);
                FileTrees.deleteTree(rootDir.resolve(id));
            }
        } catch (IOException e) {
            LOG.warn("cannot sweep the idmapped mounts of unfinished creates", "error", e.getMessage());
        }
    }

    private JsonObject readSpec(ContainerRecord r) throws IOException {
        Path file = stateDir.resolve(r.id()).resolve("config.json");
        try {
            return JsonParser.parseString(Files.readString(file)).getAsJsonObject();
        } catch (java.nio.file.NoSuchFileException e) {
            if (r.state() == ContainerState.EXITED) {
                LOG.warn("an exited container's spec is missing", "id", r.id(), "path", file);
                return new JsonObject();
            }
            throw new IOException("container " + r.id() + " (" + r.state() + "): its OCI spec " + file
                    + " is missing", e);
        } catch (com.google.gson.JsonParseException | IllegalStateException e) {
            throw new IOException("container " + r.id() + ": its OCI spec " + file + " is not a JSON object: "
                    + e.getMessage(), e);
        }
    }

    /**
     * A CREATED record whose StartContainer the last daemon may have died in. No task: only FIFOs to remove, and
     * StartContainer works as before. A task that was created but not started is deleted (rolled back: kubelet
     * retries StartContainer). A task that runs is the container started: the record catches up (RUNNING, its
     * pid) and its log and exit are followed as for any running container; one that ran and ended is recorded as
     * started and exited.
     */
    private void reconcileCreated(Container c, Sandbox sandbox) throws InterruptedException {
        Shim shim = sandbox.shim();
        TaskState task = null;
        if (shim != null) {
            try {
                task = shim.state(c.id(), "");
            } catch (ShimNotFoundException e) {
                task = null;
            } catch (IOException e) {
                LOG.warn("the shim did not answer for a created container after a daemon restart", "id", c.id(),
                        "error", e.getMessage());
            }
        }
        if (task == null || task.status() == TaskState.Status.CREATED || task.status() == TaskState.Status.UNKNOWN) {
            if (task != null) {
                LOG.warn("rolling back a StartContainer the daemon died in: its task was created, never started",
                        "id", c.id());
                deleteTaskQuietly(shim, c.id());
            }
            removeFifosQuietly(c, c.config().getTty());
            return;
        }
        LOG.warn("completing a StartContainer the daemon died in: its task was started", "id", c.id(),
                "pid", task.pid(), "task", task.status());
        persist(c, c.record().started(task.pid(), nanos()));
        resume(c, sandbox);
    }

    /** An exited container whose task the last daemon died before deleting (it would keep the rootfs mounted). */
    private void deleteLeftoverTask(Container c, Sandbox sandbox) {
        Shim shim = sandbox.shim();
        if (shim != null && !c.isTaskDeleted()) {
            try {
                shim.delete(c.id(), "");
                LOG.info("deleted the task of an exited container the daemon died before deleting", "id", c.id());
            } catch (ShimNotFoundException e) {
                // deleted already: the usual case
            } catch (IOException e) {
                LOG.warn("cannot delete an exited container's task", "id", c.id(), "error", e.getMessage());
                return;
            }
            c.taskDeleted();
        }
        removeFifosQuietly(c, c.config().getTty());
    }

    /** A container that was running when the daemon went down; called with its lock held. */
    private void resume(Container c, Sandbox sandbox) throws InterruptedException {
        Path bundle = stateDir.resolve(c.id());
        Shim shim = sandbox.shim();
        if (shim == null) {
            sandboxes.cleanupDeadTask(sandbox, c.id(), bundle);
            lost(c, "the shim was gone after a daemon restart");
            return;
        }
        TaskState task;
        try {
            task = shim.state(c.id(), "");
        } catch (ShimNotFoundException e) {
            lost(c, "the shim no longer knew the task after a daemon restart");
            return;
        } catch (IOException e) {
            LOG.warn("the shim did not answer for a container after a daemon restart", "id", c.id(),
                    "error", e.getMessage());
            sandboxes.cleanupDeadTask(sandbox, c.id(), bundle);
            lost(c, "the shim was gone after a daemon restart");
            return;
        }
        boolean tty = c.config().getTty();
        if (task.status() == TaskState.Status.STOPPED) {
            int code = task.exitStatus();
            Instant at = task.exitedAt();
            try {
                var deleted = shim.delete(c.id(), "");
                code = deleted.exitStatus();
                if (deleted.exitedAt().getEpochSecond() > 0) {
                    at = deleted.exitedAt();
                }
            } catch (IOException e) {
                LOG.warn("cannot delete the task of a container that exited while the daemon was down", "id", c.id(),
                        "error", e.getMessage());
            }
            String reason = code == 0 ? "Completed" : "Error";
            persist(c, c.record().exited(epochNanos(at), code, reason, ""));
            removeFifosQuietly(c, tty);
            c.exited().complete(null);
            LOG.info("container recovered: it exited while the daemon was down", "id", c.id(), "exitCode", code,
                    "reason", reason);
            return;
        }
        try {
            var fifos = StdioFifos.existing(bundle, "init", c.config().getStdin(), tty);
            var logger = ContainerLogger.start(fifos, c.record().logPath().isEmpty() ? null
                    : Path.of(c.record().logPath()), maxLogLineBytes);
            c.io(fifos, logger);
        } catch (IOException e) {
            LOG.warn("cannot resume a running container's log; its output is not read", "id", c.id(),
                    "error", e.getMessage());
        }
        watch(c, shim);
        LOG.info("container recovered", "id", c.id(), "state", ContainerState.RUNNING, "pid", task.pid());
    }

    /** The task is beyond reach: reported exited with 255, as containerd reports a task it lost. */
    private void lost(Container c, String message) {
        persist(c, c.record().exited(nanos(), 255, "Unknown", message));
        removeFifosQuietly(c, c.config().getTty());
        c.exited().complete(null);
        LOG.warn("container recovered as exited", "id", c.id(), "exitCode", 255, "message", message);
    }

    private void removeFifosQuietly(Container c, boolean tty) {
        try {
            new StdioFifos(c.config().getStdin() ? stateDir.resolve(c.id()).resolve("init-stdin") : null,
                    stateDir.resolve(c.id()).resolve("init-stdout"),
                    tty ? null : stateDir.resolve(c.id()).resolve("init-stderr")).remove();
        } catch (IOException e) {
            LOG.warn("cannot remove stdio FIFOs", "id", c.id(), "error", e.getMessage());
        }
    }

    /** A record whose pod is gone: nothing can run it again, so its directories and the record go. */
    private void removeOrphan(ContainerRecord r) {
        LOG.warn("removing an orphaned container: its pod sandbox is gone", "id", r.id(), "pod", r.sandboxId(),
                "state", r.state());
        try {
            unmountLeftovers(stateDir.resolve(r.id()));
            FileTrees.deleteTree(rootDir.resolve(r.id()));
            FileTrees.deleteTree(stateDir.resolve(r.id()));
            store.delete(r.id());
        } catch (IOException e) {
            // The record stays, so the next start tries again.
            LOG.warn("cannot remove an orphaned container", "id", r.id(), "error", e.getMessage());
        }
    }

    /**
     * The daemon is shutting down and leaves its containers running: the shim connections closing from now on are
     * not exits, and the log pumps stop after writing what they read (the rest waits in the pipes for the next
     * daemon).
     */
    public void detach() {
        detached = true;
        for (var c : containers.values()) {
            var logger = c.logger();
            if (logger != null && c.state() == ContainerState.RUNNING) {
                logger.close();
            }
        }
    }

    // ---- exec, update, logs ----

    public record ExecResult(byte[] stdout, byte[] stderr, int exitCode) {
    }

    /** Runs a command in a running container and returns its output (each stream capped at 16 MiB). */
    public ExecResult execSync(String idOrPrefix, List<String> cmd, long timeoutSeconds)
            throws IOException, InterruptedException {
        try (var exec = exec(idOrPrefix, cmd, false, false, f -> OutputCapture.start(f, EXEC_OUTPUT_CAP))) {
            int code;
            try {
                code = exec.awaitExit(timeoutSeconds > 0 ? Duration.ofSeconds(timeoutSeconds) : null).exitStatus();
            } catch (TimeoutException e) {
                exec.kill();
                // Gone before we answer: a caller's next exec (critest checks) must not still see it, and the
                // exec can only be deleted once it has exited.
                try {
                    exec.awaitExit(KILL_WAIT);
                } catch (TimeoutException | IOException ignored) {
                    LOG.warn("a timed-out exec did not exit after SIGKILL", "exec", exec.execId());
                }
                throw Status.DEADLINE_EXCEEDED.withDescription("command " + cmd + " in container " + get(idOrPrefix).id()
                        + " timed out after " + timeoutSeconds + " s").asRuntimeException();
            }
            try {
                var out = exec.output().await(LOG_DRAIN);
                return new ExecResult(out.stdout(), out.stderr(), code);
            } catch (TimeoutException e) {
                throw new IOException("exec output did not close after the command exited", e);
            }
        }
    }

    /**
     * Starts {@code cmd} as an exec process in a running container (its user, env and cwd from the container's
     * spec), with a terminal or not and with a stdin FIFO or not; {@code output} opens the readers of its output.
     * Closing the result kills the process if it still runs and removes all of it.
     */
    public <T extends AutoCloseable> ExecProcess<T> exec(String idOrPrefix, List<String> cmd, boolean tty,
                                                        boolean stdin, ExecProcess.Output<T> output) throws IOException {
        if (cmd.isEmpty()) {
            throw new IllegalArgumentException("cmd is empty");
        }
        var c = get(idOrPrefix);
        Shim shim = runningShim(c);
        byte[] process = SpecBuilder.execProcess(c.spec(), cmd, tty).toString().getBytes(StandardCharsets.UTF_8);
        return ExecProcess.start(shim, c.id(), stateDir.resolve(c.id()), process, tty, stdin, output);
    }

    /** A running container's primary process as attach sees it: its shim, its log pump and its stdio FIFOs. */
    public record PrimaryProcess(Container container, Shim shim, ContainerLogger logger, StdioFifos fifos) {
    }

    /** The primary process of a running container whose output is being read; FAILED_PRECONDITION otherwise. */
    public PrimaryProcess primaryProcess(String idOrPrefix) {
        var c = get(idOrPrefix);
        Shim shim = runningShim(c);
        var logger = c.logger();
        var fifos = c.fifos();
        if (logger == null || fifos == null) {
            throw Status.FAILED_PRECONDITION.withDescription("the output of container " + c.id()
                    + " is not being read (its log could not be resumed after a restart)").asRuntimeException();
        }
        return new PrimaryProcess(c, shim, logger, fifos);
    }

    private Shim runningShim(Container c) {
        if (c.state() != ContainerState.RUNNING) {
            throw Status.FAILED_PRECONDITION.withDescription("container " + c.id() + " is " + describe(c.state())
                    + ", not running").asRuntimeException();
        }
        Shim shim = sandboxes.find(c.record().sandboxId()).map(Sandbox::shim).orElse(null);
        if (shim == null) {
            throw Status.FAILED_PRECONDITION.withDescription("the pod of container " + c.id() + " has no shim")
                    .asRuntimeException();
        }
        return shim;
    }

    public void updateResources(String idOrPrefix, LinuxContainerResources resources) throws IOException {
        var c = get(idOrPrefix);
        c.lock().lock();
        try {
            if (c.state() != ContainerState.CREATED && c.state() != ContainerState.RUNNING) {
                throw Status.FAILED_PRECONDITION.withDescription("container " + c.id() + " is " + describe(c.state())
                        + "; only created or running containers can be updated").asRuntimeException();
            }
            JsonObject updated = specs.resources(resources);
            if (c.state() == ContainerState.RUNNING) {
                runningShim(c).update(c.id(), updated.toString().getBytes(StandardCharsets.UTF_8));
            }
            JsonObject spec = c.spec().deepCopy();
            var linux = spec.has("linux") ? spec.getAsJsonObject("linux") : new JsonObject();
            var merged = linux.has("resources") ? linux.getAsJsonObject("resources") : new JsonObject();
            updated.entrySet().forEach(e -> merged.add(e.getKey(), e.getValue()));
            linux.add("resources", merged);
            spec.add("linux", linux);
            AtomicFiles.write(stateDir.resolve(c.id()).resolve("config.json"), spec.toString().getBytes(StandardCharsets.UTF_8));
            c.spec(spec);
            c.resources(resources);
            persist(c, c.record().withResources(ProtoJson.toJson(resources))); // a restarted daemon reports them
        } finally {
            c.lock().unlock();
        }
    }

    // ---- checkpoint ----

    /** How long CRIU may take to dump a container when the request gives no timeout. */
    static final Duration CHECKPOINT_TIMEOUT = Duration.ofMinutes(5);

    /**
     * CheckpointContainer (KEP-2008, forensic): dumps the running container with CRIU through the pod's shim
     * ({@code runc checkpoint --leave-running}), then writes {@link CheckpointArchive} at {@code location}. The
     * container keeps running. A failure leaves nothing at {@code location}, and the work directory goes whatever
     * the outcome (only the log CRIU writes through the shim, {@code criu-dump.log}, stays in the bundle).
     */
    public void checkpoint(String idOrPrefix, String location, long timeoutSeconds) throws IOException {
        if (location.isEmpty()) {
            throw new IllegalArgumentException("location is required: the path of the checkpoint archive to write");
        }
        Path archive = Path.of(location);
        if (!archive.isAbsolute()) {
            throw new IllegalArgumentException("location must be an absolute path, got \"" + location + "\"");
        }
        if (Files.isDirectory(archive)) {
            throw new IllegalArgumentException("location " + location + " is a directory; name the archive file");
        }
        if (archive.getParent() == null || !Files.isDirectory(archive.getParent())) {
            throw new IllegalArgumentException("location's directory " + archive.getParent() + " does not exist");
        }
        if (timeoutSeconds < 0) {
            throw new IllegalArgumentException("timeout must not be negative (got " + timeoutSeconds + ")");
        }
        var c = get(idOrPrefix);
        Shim shim = runningShim(c);
        Sandbox sandbox = sandboxes.get(c.record().sandboxId());
        requireCriu(sandbox, "checkpoint container " + c.id());
        Path work = stateDir.resolve(c.id()).resolve("checkpoint-" + IdIndex.newId().substring(0, 8));
        try {
            Path images = Files.createDirectories(work.resolve("images"));
            Path criuWork = Files.createDirectories(work.resolve("work"));
            var timeout = timeoutSeconds == 0 ? CHECKPOINT_TIMEOUT : Duration.ofSeconds(timeoutSeconds);
            try {
                shim.checkpoint(c.id(), images, criuWork, timeout);
            } catch (dev.bollard.daemon.shim.ShimException e) {
                throw Status.INTERNAL.withDescription("checkpoint of container " + c.id() + " failed: "
                        + e.getMessage() + criuErrors(stateDir.resolve(c.id()).resolve("criu-dump.log")))
                        .asRuntimeException();
            }
            CheckpointArchive.write(archive, images, checkpointConfig(c, sandbox), c.spec(), c.rootfs().upper());
            LOG.info("container checkpointed", "id", c.id(), "location", archive);
        } finally {
            cleanupQuietly(work);
        }
    }

    /** Where a restored container's bundle keeps the CRIU images from its archive until StartContainer restores them. */
    static final String RESTORE_IMAGES = "restore-checkpoint";

    /** CRIU must work here, and the pod's handler must be one that checkpoints through it (not gVisor). */
    private void requireCriu(Sandbox sandbox, String what) {
        if (sandboxes.standaloneContainers(sandbox)) {
            throw Status.FAILED_PRECONDITION.withDescription("cannot " + what + ": runtime handler \""
                    + sandbox.record().runtimeHandler() + "\" (gVisor) does not checkpoint or restore with CRIU")
                    .asRuntimeException();
        }
        var problem = dev.bollard.daemon.runtime.Criu.problem();
        if (problem.isPresent()) {
            throw Status.FAILED_PRECONDITION.withDescription("cannot " + what + ": " + problem.get())
                    .asRuntimeException();
        }
    }

    /**
     * The config a restored container is created with: the request's, with the process side (command, args, env,
     * working dir, mounts, tty/stdin) taken from the checkpointed container's CRI config where the request leaves it
     * empty, since CRIU brings back that process with those files and mounts; the image stays the archive.
     */
    static ContainerConfig restoredConfig(ContainerConfig requested, CheckpointArchive.Metadata checkpoint) {
        var original = checkpoint.containerConfig();
        if (original.isEmpty()) {
            return requested;
        }
        var was = ContainerConfig.newBuilder();
        try {
            com.google.protobuf.util.JsonFormat.parser().ignoringUnknownFields().merge(original.get().toString(), was);
        } catch (InvalidProtocolBufferException e) {
            throw new IllegalArgumentException("checkpoint archive: config.dump's containerConfig is not a CRI "
                    + "ContainerConfig: " + e.getMessage(), e);
        }
        var out = requested.toBuilder();
        if (requested.getCommandCount() == 0 && requested.getArgsCount() == 0) {
            out.addAllCommand(was.getCommandList()).addAllArgs(was.getArgsList());
        }
        if (requested.getEnvsCount() == 0) {
            out.addAllEnvs(was.getEnvsList());
        }
        if (requested.getWorkingDir().isEmpty()) {
            out.setWorkingDir(was.getWorkingDir());
        }
        if (requested.getMountsCount() == 0) {
            out.addAllMounts(was.getMountsList());
        }
        if (!requested.hasLinux() && was.hasLinux()) {
            out.setLinux(was.getLinux());
        }
        out.setTty(was.getTty()).setStdin(was.getStdin()).setStdinOnce(was.getStdinOnce());
        return out.build();
    }

    /** CRIU's error lines from the dump log the runc shim leaves in the bundle, for the status message. */
    private static String criuErrors(Path dumpLog) {
        try {
            var errors = Files.readAllLines(dumpLog).stream().filter(l -> l.contains("Error")).map(String::strip)
                    .toList();
            return errors.isEmpty() ? "" : "; criu: " + String.join("; ", errors.subList(0, Math.min(5, errors.size())));
        } catch (IOException e) {
            return "";
        }
    }

    /** config.dump: what Bollard knows of the container, under the names CRI-O's archives use where they exist. */
    private JsonObject checkpointConfig(Container c, Sandbox sandbox) {
        var r = c.record();
        var o = new JsonObject();
        o.addProperty("id", c.id());
        o.addProperty("name", c.config().getMetadata().getName());
        o.addProperty("rootfsImage", r.imageId());
        o.addProperty("rootfsImageRef", r.imageRef());
        o.addProperty("rootfsImageName", r.image());
        o.addProperty("runtime", sandbox.record().runtimeHandler());
        o.addProperty("createdTime", Instant.ofEpochSecond(0, r.createdAt()).toString());
        o.addProperty("checkpointedTime", clock.instant().toString());
        o.addProperty("podSandboxId", r.sandboxId());
        o.add("containerConfig", r.config());
        return o;
    }

    public void reopenLog(String idOrPrefix) throws IOException {
        var c = get(idOrPrefix);
        var logger = c.logger();
        if (c.state() != ContainerState.RUNNING || logger == null) {
            throw Status.FAILED_PRECONDITION.withDescription("container " + c.id() + " is " + describe(c.state())
                    + "; only a running container's log can be reopened").asRuntimeException();
        }
        try {
            logger.reopen();
        } catch (IllegalStateException e) {
            // the output ended between the check above and now: the container is exiting
            throw Status.FAILED_PRECONDITION.withDescription("container " + c.id() + " log cannot be reopened: "
                    + e.getMessage()).asRuntimeException();
        }
    }

    // ---- lookups ----

    public Optional<Container> find(String idOrPrefix) {
        return containers.find(idOrPrefix);
    }

    public Container get(String idOrPrefix) {
        return containers.require(idOrPrefix);
    }

    public List<Container> list() {
        return List.copyOf(containers.values());
    }

    public List<Container> ofPod(String podId) {
        return inPod(podId);
    }

    /** The snapshots containers' root filesystems stack, from their records (the image may be gone). */
    private Set<Digest> snapshotsInUse() {
        var out = new HashSet<Digest>();
        for (var c : containers.values()) {
            var lowers = new java.util.ArrayList<>(c.record().lowerDirs());
            lowers.addAll(c.record().volumeLowerDirs());
            for (String lower : lowers) {
                // SnapshotStore names a snapshot directory <algorithm>-<hex> after its chain ID.
                String name = Path.of(lower).getFileName().toString();
                try {
                    out.add(Digest.parse(name.replaceFirst("-", ":")));
                } catch (IllegalArgumentException ignored) {
                    // not a snapshot directory
                }
            }
        }
        return out;
    }

    // ---- helpers ----

    private void persist(Container c, ContainerRecord r) {
        try {
            store.put(r.id(), r);
        } catch (IOException e) {
            LOG.error("cannot persist container record", e, "id", r.id());
        }
        c.record(r);
    }

    /** @return whether the task is gone now (deleted here, or already) */
    private static boolean deleteTaskQuietly(Shim shim, String id) {
        try {
            shim.delete(id, "");
            return true;
        } catch (ShimNotFoundException ignored) {
            return true;
        } catch (IOException e) {
            LOG.warn("cannot delete task", "id", id, "error", e.getMessage());
            return false;
        }
    }

    static void unmountLeftovers(Path dir) throws IOException {
        var unmounted = MountInfo.unmountBelow(dir);
        if (!unmounted.isEmpty()) {
            LOG.warn("unmounted what a shim left mounted", "mounts", unmounted);
        }
    }

    private static void cleanupQuietly(Path... dirs) {
        for (Path d : dirs) {
            try {
                FileTrees.deleteTree(d);
            } catch (IOException e) {
                LOG.warn("cannot remove directory", "path", d, "error", e.getMessage());
            }
        }
    }

    static String describe(ContainerState s) {
        return s.name().toLowerCase(java.util.Locale.ROOT);
    }

    /** The reference containerd reports as image_ref: the repo digest when there is one, else the image ID. */
    static String imageRef(ImageRecord image) {
        return imageRef(image, "");
    }

    /**
     * image_ref for a container created from {@code requested}: the repo digest it names when it is a digest
     * reference of this image, else a repo digest in the repository it names, else the image's first repo digest
     * (as containerd and CRI-O report), else, for an image pulled by no digest (imported, built), its ID.
     */
    public static String imageRef(ImageRecord image, String requested) {
        if (image.repoDigests().isEmpty()) {
            return image.id();
        }
        try {
            var ref = dev.bollard.daemon.image.ref.ImageReference.parse(requested);
            String byDigest = ref.withoutTag().toString();
            if (ref.digest().isPresent() && image.repoDigests().contains(byDigest)) {
                return byDigest;
            }
            for (String d : image.repoDigests()) {
                if (d.startsWith(ref.name() + "@")) {
                    return d;
                }
            }
        } catch (IllegalArgumentException e) {
            // an image ID or an empty name: no repository to prefer
        }
        return image.repoDigests().getFirst();
    }

    /** The image as the user named it: ImageSpec.user_specified_image when kubelet sets it, else ImageSpec.image. */
    public static String requestedImage(ContainerConfig config) {
        var spec = config.getImage();
        return spec.getUserSpecifiedImage().isEmpty() ? spec.getImage() : spec.getUserSpecifiedImage();
    }

    /** A shim's exit time in epoch nanoseconds; now when it did not say. */
    private long epochNanos(Instant at) {
        return at == null || at.getEpochSecond() <= 0 ? nanos() : at.getEpochSecond() * 1_000_000_000L + at.getNano();
    }

    private long nanos() {
        var now = clock.instant();
        return now.getEpochSecond() * 1_000_000_000L + now.getNano();
    }

}
