package dev.bollard.daemon.lifecycle;

import dev.bollard.daemon.container.Container;
import dev.bollard.daemon.container.ContainerState;
import dev.bollard.daemon.container.ContainerStore;
import dev.bollard.daemon.log.Log;
import dev.bollard.daemon.sandbox.Sandbox;
import dev.bollard.daemon.sandbox.SandboxStore;
import dev.bollard.daemon.shim.TaskService;

import java.io.IOException;
import java.time.Clock;
import java.time.Instant;

/**
 * Waits on a running task (the shim's Wait) besides its TaskExit event, so an exit is seen even when the event is
 * lost; a shim that dies under its tasks is cleaned up ({@code shim delete}). Once the daemon detaches (shutdown with
 * pods left running) a closing connection is no exit, and an exit is not written either: the records belong to the
 * next daemon from then on (its recovery finds the task stopped), and a write racing it could bring back the record
 * of a pod it has removed.
 */
public final class ExitWatch {

    private static final Log LOG = Log.get("container");
    private static final Log SANDBOX_LOG = Log.get("sandbox");

    private final ContainerStore containers;
    private final SandboxStore sandboxes;
    private final ContainerExits exits;
    private final InfraExits infraExits;
    private final Handlers handlers;
    private final Layout layout;
    private final Clock clock;
    private volatile boolean detached;

    public ExitWatch(ContainerStore containers, SandboxStore sandboxes, ContainerExits exits, InfraExits infraExits,
                     Handlers handlers, Layout layout, Clock clock) {
        this.containers = containers;
        this.sandboxes = sandboxes;
        this.exits = exits;
        this.infraExits = infraExits;
        this.handlers = handlers;
        this.layout = layout;
        this.clock = clock;
    }

    public void container(Container c, TaskService shim) {
        Thread.ofVirtual().name("exit-" + c.id().substring(0, 12)).start(() -> {
            try {
                var exit = shim.await(c.id(), "");
                if (detached) {
                    return; // the next daemon's recovery finds the task stopped and records the exit
                }
                exits.exited(c, exit.exitStatus(), exit.exitedAt());
            } catch (IOException e) {
                if (detached) {
                    return; // the daemon is going away; the container keeps running
                }
                LOG.warn("lost track of a container's process", "id", c.id(), "error", e.getMessage());
                reapOrphan(c, shim);
                exits.exited(c, 255, Instant.now(clock));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
    }

    /**
     * The pod's shim died under a running container: {@code shim delete} on its bundle kills what is left of it and
     * unmounts its rootfs, instead of leaving a process no shim watches.
     */
    void reapOrphan(Container c, TaskService shim) {
        if (shim != null && shim.isAlive()) {
            return;
        }
        sandboxes.find(c.record().sandboxId()).ifPresent(sb -> {
            try {
                handlers.cleanupDeadTask(sb, c.id(), layout.containerBundle(c.id()));
                c.taskDeleted();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
    }

    public void infra(Sandbox sandbox, TaskService shim) {
        Thread.ofVirtual().name("infra-exit-" + sandbox.id().substring(0, 12)).start(() -> {
            try {
                var exit = shim.await(sandbox.id(), "");
                if (detached) {
                    return; // as for a container: the next daemon records it
                }
                infraExits.exited(sandbox, exit.exitStatus());
            } catch (IOException e) {
                if (detached) {
                    return; // the daemon is going away; the pod keeps running
                }
                if (shim.isAlive()) {
                    SANDBOX_LOG.warn("lost track of a pod's infra process", "id", sandbox.id(), "error", e.getMessage());
                } else {
                    SANDBOX_LOG.warn("the pod's shim died; cleaning up its infra task", "id", sandbox.id());
                    try {
                        handlers.cleanupDeadTask(sandbox, sandbox.id(), layout.podBundle(sandbox.id()));
                    } catch (InterruptedException ie) {
                        Thread.currentThread().interrupt();
                    }
                }
                infraExits.exited(sandbox, -1);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
    }

    /**
     * The daemon is shutting down and leaves its pods and containers running: the shim connections closing from now
     * on are not exits, and the log pumps stop after writing what they read (the rest waits in the pipes for the
     * next daemon).
     */
    public void detach() {
        detached = true;
        for (var c : containers.list()) {
            var logger = c.logger();
            if (logger != null && c.state() == ContainerState.RUNNING) {
                logger.close();
            }
        }
    }
}
