package dev.bollard.daemon.lifecycle;

import com.google.protobuf.InvalidProtocolBufferException;
import dev.bollard.api.cri.v1.PodSandboxConfig;
import dev.bollard.daemon.log.Log;
import dev.bollard.daemon.sandbox.Sandbox;
import dev.bollard.daemon.sandbox.SandboxState;
import dev.bollard.daemon.sandbox.SandboxStore;
import dev.bollard.daemon.shim.ShimGroups;
import dev.bollard.daemon.shim.ShimNotFoundException;
import dev.bollard.daemon.shim.ShimOptions;
import dev.bollard.daemon.shim.TaskService;
import dev.bollard.daemon.shim.TaskState;
import dev.bollard.daemon.store.ProtoJson;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Loads every pod record after a daemon restart (before the CRI is served): the pod's name is reserved again, a
 * ready pod's shim reconnected (from its bundle's {@code address} file) and asked whether the infra task still
 * runs: then the pod stays READY and its infra exit is watched again; otherwise it becomes NOTREADY. A shim that
 * does not answer is cleaned up as dead ({@code shim delete}). The network stays as recorded, so a later stop still
 * runs CNI DEL and unpins the netns. Each pod's containers are recovered right after it ({@link ContainerRecovery}).
 */
public final class SandboxRecovery {

    private static final Log LOG = Log.get("sandbox");

    private final Layout layout;
    private final Handlers handlers;
    private final SandboxStore sandboxes;
    private final ExitWatch watch;
    private final RemovePodSandbox removePod;

    public SandboxRecovery(Layout layout, Handlers handlers, SandboxStore sandboxes, ExitWatch watch,
                           RemovePodSandbox removePod) {
        this.layout = layout;
        this.handlers = handlers;
        this.sandboxes = sandboxes;
        this.watch = watch;
        this.removePod = removePod;
    }

    /**
     * Every pod reconciled, each on its own thread; then, on that thread once its reconciliation is done (its lock
     * released), {@code afterPod} with the pod's id: its containers are recovered there, without waiting for the
     * slowest pod.
     *
     * @throws IOException naming the file when a record is corrupt: the daemon then refuses to start rather than
     *                     forget a pod whose resources would leak
     */
    public void recover(Parallel.Body<String> afterPod) throws IOException, InterruptedException {
        var loaded = new ArrayList<Sandbox>();
        for (var r : sandboxes.loadAll()) {
            PodSandboxConfig config;
            try {
                config = ProtoJson.fromJson(r.config(), PodSandboxConfig.newBuilder());
            } catch (InvalidProtocolBufferException e) {
                throw new IOException("record " + sandboxes.recordDir().resolve(r.id() + ".json")
                        + " is corrupt: its pod config does not parse: " + e.getMessage(), e);
            }
            var holder = sandboxes.reserveName(r.name(), r.id());
            if (holder.isPresent()) {
                throw new IOException("records of pod sandboxes " + holder.get() + " and " + r.id()
                        + " both hold the name \"" + r.name() + "\" (in " + sandboxes.recordDir() + ")");
            }
            var sandbox = new Sandbox(r, config, null);
            sandbox.resources(r.podResources());
            sandboxes.index(sandbox);
            loaded.add(sandbox);
        }
        // Each pod's reconciliation waits on its own shim (connect, a call or two) or CNI: pods in parallel, so
        // a node's recovery takes about as long as its slowest pod, not the sum.
        var shimOptions = new ShimOptionsOnce(handlers);
        Parallel.each(loaded, sandbox -> {
            var r = sandbox.record();
            sandbox.lock().lock();
            try {
                switch (decide(r.unfinished(), Files.isDirectory(layout.podBundle(r.id())))) {
                    case ROLL_BACK -> rollBackUnfinished(sandbox);
                    case FINISH_REMOVAL -> {
                        LOG.warn("completing the removal of a pod sandbox the daemon died removing", "id", r.id());
                        try {
                            removePod.removeLocked(sandbox);
                        } catch (IOException | RuntimeException e) {
                            // The record stays: RemovePodSandbox retries the rest.
                            LOG.warn("completing a pod sandbox's removal failed", "id", r.id(), "error", e.getMessage());
                        }
                    }
                    case RECONNECT -> reconnect(sandbox, shimOptions);
                }
            } finally {
                sandbox.lock().unlock();
            }
            afterPod.run(r.id());
        });
    }

    /** What recovery does with a loaded pod. */
    enum Decision { ROLL_BACK, FINISH_REMOVAL, RECONNECT }

    /**
     * An unfinished run (infra pid never recorded) is rolled back; a record without its bundle is a removal the
     * last daemon did not finish (the bundle exists from before the record until RemovePodSandbox deletes it);
     * anything else is reconnected.
     */
    static Decision decide(boolean unfinished, boolean bundleExists) {
        if (unfinished) {
            return Decision.ROLL_BACK;
        }
        return bundleExists ? Decision.RECONNECT : Decision.FINISH_REMOVAL;
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
        Path bundle = layout.podBundle(r.id());
        if (Files.exists(bundle.resolve("address"))) {
            try {
                sandbox.shim(handlers.tasks().connect(r.id(), bundle, handlers.shimOptions(r.runtimeHandler())));
            } catch (IOException | RuntimeException e) {
                LOG.warn("the shim of an unfinished pod did not answer; cleaning up its task", "id", r.id(),
                        "error", e.getMessage());
                handlers.cleanupDeadTask(sandbox, r.id(), bundle);
            }
        }
        if (!r.netns().isEmpty()) {
            // The ADD may have run (all or part): DEL is harmless when it did not.
            sandboxes.updateInMemory(sandbox, old -> old.withStarted(List.of(), 0, true));
        }
        try {
            removePod.removeLocked(sandbox);
        } catch (IOException | RuntimeException e) {
            // The record stays (NOTREADY): kubelet's StopPodSandbox / RemovePodSandbox retry the rest.
            LOG.warn("rolling back an unfinished pod sandbox failed; it stays listed as not ready", "id", r.id(),
                    "error", e.getMessage());
        }
    }

    /**
     * Each runtime handler's shim options, checked once for all the pods recovered instead of once per pod (the
     * check searches PATH for the shim and the runtime and makes sure the runtime's root exists). A handler that
     * is unusable is so for every pod of it.
     */
    private static final class ShimOptionsOnce {
        private final Handlers handlers;
        private final java.util.concurrent.ConcurrentHashMap<String, Object> byHandler =
                new java.util.concurrent.ConcurrentHashMap<>();

        ShimOptionsOnce(Handlers handlers) {
            this.handlers = handlers;
        }

        ShimOptions of(String handler) {
            Object found = byHandler.computeIfAbsent(handler, h -> {
                try {
                    return handlers.shimOptions(h);
                } catch (RuntimeException e) {
                    return e;
                }
            });
            if (found instanceof RuntimeException e) {
                throw e;
            }
            return (ShimOptions) found;
        }
    }

    private void reconnect(Sandbox sandbox, ShimOptionsOnce shimOptions) throws InterruptedException {
        var r = sandbox.record();
        Path bundle = layout.podBundle(r.id());
        if (r.state() != SandboxState.READY) {
            // Stopped before the restart: its shim was shut down, nothing to reconnect.
            LOG.info("pod sandbox recovered", "id", r.id(), "state", r.state());
            return;
        }
        ShimOptions options;
        try {
            options = shimOptions.of(r.runtimeHandler());
        } catch (RuntimeException e) {
            LOG.warn("cannot reconnect a pod's shim: its runtime handler is unusable; the pod is not ready",
                    "id", r.id(), "handler", r.runtimeHandler(), "error", e.getMessage());
            sandboxes.update(sandbox, old -> old.with(SandboxState.NOTREADY));
            return;
        }
        TaskService shim;
        TaskState infra;
        try {
            shim = handlers.tasks().connectToAsk(r.id(), bundle, options); // the State call below is the probe
        } catch (IOException e) {
            shimGone(sandbox, bundle, options, e);
            return;
        }
        try {
            infra = shim.state(r.id(), "");
        } catch (ShimNotFoundException e) {
            infra = null; // the shim runs but no longer knows the infra task
        } catch (IOException e) {
            if (shim instanceof ShimGroups.Member member) {
                // close() keeps a live shared shim's member: the pod would hold its place (and the shim) forever
                member.abandon();
            } else {
                shim.close();
            }
            shimGone(sandbox, bundle, options, e);
            return;
        }
        sandbox.shim(shim);
        if (infra != null && infra.status() == TaskState.Status.RUNNING) {
            watch.infra(sandbox, shim);
            LOG.info("pod sandbox recovered", "id", r.id(), "state", SandboxState.READY, "pid", infra.pid());
        } else {
            sandboxes.update(sandbox, old -> old.with(SandboxState.NOTREADY));
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
            handlers.tasks().cleanupDead(r.id(), bundle, options);
        } catch (IOException e) {
            LOG.warn("cleaning up a dead pod's infra task failed", "id", r.id(), "error", e.getMessage());
        }
        sandboxes.update(sandbox, old -> old.with(SandboxState.NOTREADY));
    }
}
