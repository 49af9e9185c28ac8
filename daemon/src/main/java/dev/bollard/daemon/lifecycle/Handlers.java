package dev.bollard.daemon.lifecycle;

import dev.bollard.daemon.config.BollardConfig;
import dev.bollard.daemon.errors.FailedPreconditionException;
import dev.bollard.daemon.log.Log;
import dev.bollard.daemon.runtime.RuntimeHandlers;
import dev.bollard.daemon.sandbox.Sandbox;
import dev.bollard.daemon.shim.ShimGroup;
import dev.bollard.daemon.shim.ShimOptions;
import dev.bollard.daemon.shim.TaskServices;

import java.io.IOException;
import java.nio.file.Path;

/** A pod's runtime handler as the lifecycle needs it: how its shim runs, what it supports, cleaning up dead tasks. */
public final class Handlers {

    private static final Log LOG = Log.get("sandbox");

    private final RuntimeHandlers handlers;
    private final TaskServices tasks;

    public Handlers(RuntimeHandlers handlers, TaskServices tasks) {
        this.handlers = handlers;
        this.tasks = tasks;
    }

    public RuntimeHandlers runtimeHandlers() {
        return handlers;
    }

    public TaskServices tasks() {
        return tasks;
    }

    /** How the handler's shim runs; FAILED_PRECONDITION when the handler is not ready (a binary is missing). */
    public ShimOptions shimOptions(String handlerName) {
        var handler = handlers.get(handlerName).orElseThrow(() -> new FailedPreconditionException(
                "runtime handler \"" + handlerName + "\" is no longer configured"));
        var check = handlers.check(handler);
        if (!check.ready()) {
            throw new FailedPreconditionException("runtime handler \"" + handlerName + "\" is not ready: "
                    + check.reason() + ": " + check.message());
        }
        return new ShimOptions(check.shim().orElseThrow(), check.binary().orElseThrow().toString(),
                check.runtimeRoot(), handler.systemdCgroup(), handlers.vmEnvironment(handler, check.shim().get()));
    }

    /**
     * Which shim the pod runs in: its own, or its group's when the handler shares shims ({@code pods_per_shim}).
     */
    public ShimGroup shimGroup(String handlerName, dev.bollard.api.cri.v1.PodSandboxConfig config) {
        return handlers.get(handlerName)
                .map(h -> ShimGroup.of(h.name(), h.podsPerShim(), h.shimGrouping(),
                        config.getMetadata().getNamespace(), config.getAnnotationsMap()))
                .orElse(ShimGroup.OWN);
    }

    /** How the default handler's shim runs (the leak scan's {@code shim delete} of bundles no record names). */
    public ShimOptions defaultShimOptions() {
        return shimOptions(handlers.defaultName());
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
                .map(BollardConfig.RuntimeHandler::privilegedWithoutHostDevices).orElse(false);
    }

    /**
     * A task of this pod whose shim is gone: {@code shim delete} on its bundle (kills what is left, unmounts its
     * rootfs). Failures are logged, not thrown: the container is reported exited anyway.
     */
    public void cleanupDeadTask(Sandbox sandbox, String taskId, Path taskBundle) throws InterruptedException {
        try {
            tasks.cleanupDead(taskId, taskBundle, shimOptions(sandbox.record().runtimeHandler()));
        } catch (IOException | RuntimeException e) {
            LOG.warn("cleaning up a dead container task failed", "id", taskId, "pod", sandbox.id(),
                    "error", e.getMessage());
        }
    }
}
