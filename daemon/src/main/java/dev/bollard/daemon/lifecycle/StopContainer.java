package dev.bollard.daemon.lifecycle;

import dev.bollard.daemon.container.Container;
import dev.bollard.daemon.container.ContainerState;
import dev.bollard.daemon.container.ContainerStore;
import dev.bollard.daemon.errors.DeadlineExceededException;
import dev.bollard.daemon.log.Log;
import dev.bollard.daemon.oci.SpecBuilder;
import dev.bollard.daemon.sandbox.Sandbox;
import dev.bollard.daemon.sandbox.SandboxStore;
import dev.bollard.daemon.shim.ShimNotFoundException;
import dev.bollard.daemon.shim.TaskService;
import dev.bollard.daemon.store.CrashPoints;

import java.io.IOException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;

/**
 * StopContainer: the container's stop signal, then SIGKILL after the timeout; returns once the exit is recorded and
 * handled ({@link ContainerExits}). A container that is not running, or that does not exist, is no error.
 */
public final class StopContainer {

    private static final Log LOG = Log.get("container");

    private final ContainerStore containers;
    private final SandboxStore sandboxes;
    private final ContainerExits exits;
    private final ExitWatch watch;
    private final Clock clock;

    public StopContainer(ContainerStore containers, SandboxStore sandboxes, ContainerExits exits, ExitWatch watch,
                         Clock clock) {
        this.containers = containers;
        this.sandboxes = sandboxes;
        this.exits = exits;
        this.watch = watch;
        this.clock = clock;
    }

    public void stop(String idOrPrefix, long timeoutSeconds) throws IOException, InterruptedException {
        var found = containers.find(idOrPrefix);
        if (found.isEmpty()) {
            return;
        }
        stop(found.get(), timeoutSeconds);
    }

    public void stop(Container c, long timeoutSeconds) throws IOException, InterruptedException {
        if (c.state() != ContainerState.RUNNING) {
            return;
        }
        TaskService shim = sandboxes.find(c.record().sandboxId()).map(Sandbox::shim).orElse(null);
        if (shim == null || !shim.isAlive()) {
            watch.reapOrphan(c, shim);
            exits.exited(c, 255, Instant.now(clock));
            return;
        }
        if (timeoutSeconds > 0) {
            signal(shim, c, SpecBuilder.signalNumber(c.stopSignal()));
            CrashPoints.hit("StopContainer.afterSignal");
            if (c.awaitExit(Duration.ofSeconds(timeoutSeconds))) {
                return;
            }
            LOG.info("container ignored its stop signal; killing it", "id", c.id(), "signal", c.stopSignal(),
                    "timeoutSeconds", timeoutSeconds);
        }
        signal(shim, c, 9);
        if (timeoutSeconds <= 0) {
            CrashPoints.hit("StopContainer.afterSignal");
        }
        if (!c.awaitExit(Container.KILL_WAIT)) {
            throw new DeadlineExceededException("container " + c.id() + " did not exit "
                    + Container.KILL_WAIT.toSeconds() + " s after SIGKILL");
        }
    }

    private static void signal(TaskService shim, Container c, int signal) throws IOException {
        try {
            shim.kill(c.id(), "", signal, signal == 9);
        } catch (ShimNotFoundException e) {
            // exited meanwhile: the exit path records it
        }
    }
}
