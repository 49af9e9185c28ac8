package dev.bollard.daemon.lifecycle;

import dev.bollard.daemon.container.Container;
import dev.bollard.daemon.container.ContainerState;
import dev.bollard.daemon.container.ContainerStore;
import dev.bollard.daemon.log.Log;
import dev.bollard.daemon.sandbox.LifecycleEvent;
import dev.bollard.daemon.sandbox.Sandbox;
import dev.bollard.daemon.sandbox.SandboxStore;
import dev.bollard.daemon.shim.ShimEvents;
import dev.bollard.daemon.store.CrashPoints;

import java.io.IOException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Exits, as the shims report them (TaskExit events) or a waiter sees them: a container's exit is recorded once
 * (exit code, time, reason), its log drained, its task deleted so the shim unmounts the rootfs; an infra exit goes
 * to {@link InfraExits}. Needs nothing of the shims but the pod's task service, so it exists before them.
 */
public final class ContainerExits implements ShimEvents {

    private static final Log LOG = Log.get("container");
    /** After the process exits, how long its output may still take to drain into the log. */
    static final Duration LOG_DRAIN = Duration.ofSeconds(2);

    private final ContainerStore containers;
    private final SandboxStore sandboxes;
    private final InfraExits infra;
    private final Clock clock;

    public ContainerExits(ContainerStore containers, SandboxStore sandboxes, InfraExits infra, Clock clock) {
        this.containers = containers;
        this.sandboxes = sandboxes;
        this.infra = infra;
        this.clock = clock;
    }

    @Override
    public void taskExit(String containerId, String execId, int pid, int exitStatus, Instant exitedAt) {
        if (!execId.isEmpty()) {
            return; // execs are awaited by their caller
        }
        var c = containers.byFullId(containerId);
        if (c != null) {
            exited(c, exitStatus, exitedAt);
        } else {
            sandboxes.find(containerId).ifPresent(s -> infra.exited(s, exitStatus));
        }
    }

    @Override
    public void taskOom(String containerId) {
        var c = containers.byFullId(containerId);
        if (c != null) {
            LOG.info("container hit its memory limit", "id", containerId);
            c.markOom();
        }
    }

    /** Records an exit once: exit code, time and reason, the log drained, the task deleted. */
    public void exited(Container c, int status, Instant at) {
        if (c.state() != ContainerState.RUNNING) {
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
            containers.update(c, r -> r.exited(Tasks.epochNanos(clock, at), status, reason, ""));
            CrashPoints.hit("ContainerExit.afterRecord");
            LOG.info("container exited", "id", c.id(), "exitCode", status, "reason", reason);
            containers.tell(c, LifecycleEvent.STOPPED);
            sandboxes.find(c.record().sandboxId())
                    .ifPresent(pod -> dev.bollard.daemon.nri.NriHooks.current().containerEvent(dev.bollard.api.nri.v1alpha1.Event.STOP_CONTAINER, pod, c));
            sandboxes.find(c.record().sandboxId()).map(Sandbox::shim).ifPresent(shim -> {
                if (Tasks.deleteQuietly(shim, c.id())) {
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
        }
    }
}
