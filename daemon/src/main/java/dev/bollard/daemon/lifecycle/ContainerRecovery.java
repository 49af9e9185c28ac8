package dev.bollard.daemon.lifecycle;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.protobuf.InvalidProtocolBufferException;
import dev.bollard.api.cri.v1.ContainerConfig;
import dev.bollard.api.cri.v1.LinuxContainerResources;
import dev.bollard.daemon.container.Container;
import dev.bollard.daemon.container.ContainerRecord;
import dev.bollard.daemon.container.ContainerState;
import dev.bollard.daemon.container.ContainerStore;
import dev.bollard.daemon.container.IdMappedMounts;
import dev.bollard.daemon.container.Rootfs;
import dev.bollard.daemon.container.io.ContainerLogger;
import dev.bollard.daemon.container.io.LogLocation;
import dev.bollard.daemon.container.io.StdioFifos;
import dev.bollard.daemon.linux.MountInfo;
import dev.bollard.daemon.log.Log;
import dev.bollard.daemon.sandbox.Sandbox;
import dev.bollard.daemon.sandbox.SandboxStore;
import dev.bollard.daemon.shim.ShimNotFoundException;
import dev.bollard.daemon.shim.TaskService;
import dev.bollard.daemon.shim.TaskState;
import dev.bollard.daemon.store.FileTrees;
import dev.bollard.daemon.store.ProtoJson;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Rebuilds the containers from their records after a daemon restart, each pod's on the pod's thread once
 * {@link SandboxRecovery} has reconciled that pod: config from the record, spec from the bundle's
 * {@code config.json}, the rootfs from the recorded lower dirs, the name reserved again. A running container whose task still runs gets its log pump back on its existing FIFOs (what the
 * pipe held while nobody read is logged, nothing lost) and its exit watched again; one whose task ended meanwhile is
 * recorded with the exit the shim reports, and its task deleted; one whose task the shim no longer knows, or whose
 * shim is gone, is recorded as exited 255 (reason Unknown). A record whose pod no longer exists is an orphan: its
 * directories and record are removed.
 */
public final class ContainerRecovery {

    private static final Log LOG = Log.get("container");

    private final Layout layout;
    private final Handlers handlers;
    private final ContainerStore containers;
    private final SandboxStore sandboxes;
    private final ExitWatch watch;
    private final int maxLogLineBytes;
    private final Clock clock;

    public ContainerRecovery(Layout layout, Handlers handlers, ContainerStore containers, SandboxStore sandboxes,
                             ExitWatch watch, int maxLogLineBytes, Clock clock) {
        this.layout = layout;
        this.handlers = handlers;
        this.containers = containers;
        this.sandboxes = sandboxes;
        this.watch = watch;
        this.maxLogLineBytes = maxLogLineBytes;
        this.clock = clock;
    }

    /**
     * Every container record, by the id of its pod, in record order: read before the pods are reconciled, so that
     * each pod's containers can be recovered right after it ({@link #recoverPod}).
     */
    public Map<String, List<ContainerRecord>> loadByPod() throws IOException {
        var byPod = new ConcurrentHashMap<String, List<ContainerRecord>>();
        for (var r : containers.loadAll()) {
            byPod.computeIfAbsent(r.sandboxId(), k -> new ArrayList<>()).add(r);
        }
        return byPod;
    }

    /**
     * Recovers the containers of one pod, once {@link SandboxRecovery} has reconciled it (taking them out of
     * {@code byPod}); a pod recovery removed (a rolled back or finished removal) leaves them orphans.
     *
     * @throws IOException naming the file when a record is corrupt (the daemon then refuses to start)
     */
    public void recoverPod(String podId, Map<String, List<ContainerRecord>> byPod)
            throws IOException, InterruptedException {
        var records = byPod.remove(podId);
        if (records == null) {
            return;
        }
        var loaded = new ArrayList<Map.Entry<Container, Sandbox>>();
        for (var r : records) {
            var c = load(r);
            if (c != null) {
                loaded.add(Map.entry(c, sandboxes.find(r.sandboxId()).orElseThrow()));
            }
        }
        // Each container waits on its pod's shim: in parallel, as the pods are.
        Parallel.each(loaded, e -> {
            var c = e.getKey();
            c.lock().lock();
            try {
                switch (c.state()) {
                    case CREATED -> reconcileCreated(c, e.getValue());
                    case EXITED, UNKNOWN -> deleteLeftoverTask(c, e.getValue());
                    case RUNNING -> resume(c, e.getValue());
                }
            } finally {
                c.lock().unlock();
            }
        });
    }

    /** After every pod's {@link #recoverPod}: the records whose pod no longer exists, and unfinished creates. */
    public void finish(Map<String, List<ContainerRecord>> byPod) {
        for (var records : byPod.values()) {
            records.forEach(this::removeOrphan);
        }
        byPod.clear();
        unmountIdmapLeftovers();
    }

    /** The container of a record indexed (its name reserved again); null for an orphan, which is removed. */
    private Container load(ContainerRecord r) throws IOException {
        var sandbox = sandboxes.find(r.sandboxId());
        if (sandbox.isEmpty()) {
            removeOrphan(r);
            return null;
        }
        if (!Files.isDirectory(layout.containerBundle(r.id()))) {
            // The bundle exists from before the record until RemoveContainer deletes it: the last daemon died
            // removing this container, after its task was gone.
            LOG.warn("completing the removal of a container the daemon died removing", "id", r.id());
            removeOrphan(r);
            return null;
        }
        Path recordFile = containers.recordDir().resolve(r.id() + ".json");
        ContainerConfig config;
        try {
            config = ProtoJson.fromJson(r.config(), ContainerConfig.newBuilder());
        } catch (InvalidProtocolBufferException e) {
            throw new IOException("record " + recordFile + " is corrupt: its container config does not parse: "
                    + e.getMessage(), e);
        }
        Rootfs rootfs;
        try {
            rootfs = new Rootfs(r.lowerDirs().stream().map(Path::of).toList(),
                    layout.containerDir(r.id()).resolve("rootfs"));
            Path view = IdMappedMounts.layersView(layout.containerBundle(r.id()));
            // only a pod with a user namespace has the view's directory; asking mountinfo (every line of it)
            // for each of a node's containers made recovery quadratic in the pods
            if (Files.isDirectory(view) && MountInfo.fsTypeAt(view).isPresent()) {
                rootfs = rootfs.viewedThrough(view); // a container of a pod with a user namespace
            }
        } catch (IllegalArgumentException e) {
            throw new IOException("record " + recordFile + " is corrupt: it names no rootfs lower dirs", e);
        }
        var holder = containers.reserveName(r.name(), r.id());
        if (holder.isPresent()) {
            throw new IOException("records of containers " + holder.get() + " and " + r.id()
                    + " both hold the name \"" + r.name() + "\" (in " + containers.recordDir() + ")");
        }
        var c = new Container(r, config, readSpec(r), rootfs, r.stopSignal());
        if (!r.resources().isEmpty()) {
            c.resources(ProtoJson.fromJson(r.resources(), LinuxContainerResources.newBuilder()));
        }
        containers.index(c);
        return c;
    }

    /**
     * A crash during CreateContainer after the idmapped mounts of a user-namespaced pod's container were made but
     * before its record was written leaves a bundle no record names, with mounts in it: unmounted and removed.
     */
    private void unmountIdmapLeftovers() {
        try (var bundles = Files.list(layout.containerBundles())) {
            for (Path bundle : bundles.toList()) {
                String id = bundle.getFileName().toString();
                if (containers.contains(id) || !Files.isDirectory(bundle.resolve(IdMappedMounts.DIR))) {
                    continue;
                }
                LOG.warn("removing the idmapped mounts of a container whose create was cut short", "id", id);
                Tasks.unmountLeftovers(bundle);
                FileTrees.deleteTree(bundle);
                FileTrees.deleteTree(layout.containerDir(id));
            }
        } catch (IOException e) {
            LOG.warn("cannot sweep the idmapped mounts of unfinished creates", "error", e.getMessage());
        }
    }

    private JsonObject readSpec(ContainerRecord r) throws IOException {
        Path file = layout.containerBundle(r.id()).resolve("config.json");
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

    /** What recovery does with a CREATED container, by what its pod's shim says of its task (null: none). */
    enum CreatedDecision { KEEP_CREATED, ROLL_BACK_TASK, COMPLETE_START }

    static CreatedDecision decideCreated(TaskState task) {
        if (task == null) {
            return CreatedDecision.KEEP_CREATED;
        }
        return task.status() == TaskState.Status.CREATED || task.status() == TaskState.Status.UNKNOWN
                ? CreatedDecision.ROLL_BACK_TASK : CreatedDecision.COMPLETE_START;
    }

    /**
     * A CREATED record whose StartContainer the last daemon may have died in. No task: only FIFOs to remove, and
     * StartContainer works as before. A task that was created but not started is deleted (rolled back: kubelet
     * retries StartContainer). A task that runs is the container started: the record catches up (RUNNING, its
     * pid) and its log and exit are followed as for any running container; one that ran and ended is recorded as
     * started and exited.
     */
    private void reconcileCreated(Container c, Sandbox sandbox) throws InterruptedException {
        TaskService shim = sandbox.shim();
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
        switch (decideCreated(task)) {
            case KEEP_CREATED -> removeFifosQuietly(c);
            case ROLL_BACK_TASK -> {
                LOG.warn("rolling back a StartContainer the daemon died in: its task was created, never started",
                        "id", c.id());
                Tasks.deleteQuietly(shim, c.id());
                removeFifosQuietly(c);
            }
            case COMPLETE_START -> {
                LOG.warn("completing a StartContainer the daemon died in: its task was started", "id", c.id(),
                        "pid", task.pid(), "task", task.status());
                int pid = task.pid();
                containers.update(c, r -> r.started(pid, Tasks.nanos(clock)));
                resume(c, sandbox);
            }
        }
    }

    /** An exited container whose task the last daemon died before deleting (it would keep the rootfs mounted). */
    private void deleteLeftoverTask(Container c, Sandbox sandbox) {
        TaskService shim = sandbox.shim();
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
        removeFifosQuietly(c);
    }

    /** A container that was running when the daemon went down; called with its lock held. */
    private void resume(Container c, Sandbox sandbox) throws InterruptedException {
        Path bundle = layout.containerBundle(c.id());
        TaskService shim = sandbox.shim();
        if (shim == null) {
            handlers.cleanupDeadTask(sandbox, c.id(), bundle);
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
            handlers.cleanupDeadTask(sandbox, c.id(), bundle);
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
            int exitCode = code;
            long finishedAt = Tasks.epochNanos(clock, at);
            containers.update(c, r -> r.exited(finishedAt, exitCode, reason, ""));
            removeFifosQuietly(c);
            LOG.info("container recovered: it exited while the daemon was down", "id", c.id(), "exitCode", code,
                    "reason", reason);
            return;
        }
        try {
            var fifos = StdioFifos.existing(bundle, "init", c.config().getStdin(), tty);
            var logger = ContainerLogger.start(fifos, c.record().logPath().isEmpty() ? null
                    : LogLocation.of(c.record().logPath(), c.config().getLogPath()), maxLogLineBytes);
            c.io(fifos, logger);
        } catch (IOException | IllegalArgumentException e) { // IAE: something else than a file at the log path
            LOG.warn("cannot resume a running container's log; its output is not read", "id", c.id(),
                    "error", e.getMessage());
        }
        watch.container(c, shim);
        LOG.info("container recovered", "id", c.id(), "state", ContainerState.RUNNING, "pid", task.pid());
    }

    /** The task is beyond reach: reported exited with 255, as containerd reports a task it lost. */
    private void lost(Container c, String message) {
        containers.update(c, r -> r.exited(Tasks.nanos(clock), 255, "Unknown", message));
        removeFifosQuietly(c);
        LOG.warn("container recovered as exited", "id", c.id(), "exitCode", 255, "message", message);
    }

    private void removeFifosQuietly(Container c) {
        Path bundle = layout.containerBundle(c.id());
        try {
            new StdioFifos(c.config().getStdin() ? bundle.resolve("init-stdin") : null, bundle.resolve("init-stdout"),
                    c.config().getTty() ? null : bundle.resolve("init-stderr")).remove();
        } catch (IOException e) {
            LOG.warn("cannot remove stdio FIFOs", "id", c.id(), "error", e.getMessage());
        }
    }

    /** A record whose pod is gone: nothing can run it again, so its directories and the record go. */
    private void removeOrphan(ContainerRecord r) {
        LOG.warn("removing an orphaned container: its pod sandbox is gone", "id", r.id(), "pod", r.sandboxId(),
                "state", r.state());
        try {
            Tasks.unmountLeftovers(layout.containerBundle(r.id()));
            FileTrees.deleteTree(layout.containerDir(r.id()));
            FileTrees.deleteTree(layout.containerBundle(r.id()));
            containers.deleteRecord(r.id());
        } catch (IOException e) {
            // The record stays, so the next start tries again.
            LOG.warn("cannot remove an orphaned container", "id", r.id(), "error", e.getMessage());
        }
    }
}
