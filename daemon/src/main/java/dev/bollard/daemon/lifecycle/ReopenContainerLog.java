package dev.bollard.daemon.lifecycle;

import dev.bollard.daemon.container.ContainerState;
import dev.bollard.daemon.container.ContainerStore;
import dev.bollard.daemon.errors.FailedPreconditionException;

import java.io.IOException;

/** ReopenContainerLog: a running container's log file closed and opened again (after kubelet rotated it). */
public final class ReopenContainerLog {

    private final ContainerStore containers;

    public ReopenContainerLog(ContainerStore containers) {
        this.containers = containers;
    }

    public void reopen(String idOrPrefix) throws IOException {
        var c = containers.get(idOrPrefix);
        var logger = c.logger();
        if (c.state() != ContainerState.RUNNING || logger == null) {
            throw new FailedPreconditionException("container " + c.id() + " is " + Tasks.describe(c.state())
                    + "; only a running container's log can be reopened");
        }
        try {
            logger.reopen();
        } catch (IllegalStateException e) {
            // the output ended between the check above and now: the container is exiting
            throw new FailedPreconditionException("container " + c.id() + " log cannot be reopened: "
                    + e.getMessage());
        }
    }
}
