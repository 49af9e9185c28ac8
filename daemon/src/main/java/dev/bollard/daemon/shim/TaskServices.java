package dev.bollard.daemon.shim;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Optional;

/** Where a pod's {@link TaskService} comes from: started for a new pod, reconnected after a restart, or cleaned up dead. */
public interface TaskServices {

    /** Starts the pod's task service on its bundle. */
    TaskService start(String podId, Path bundle, ShimOptions options) throws IOException, InterruptedException;

    /**
     * Starts the pod's task service in its {@code group}'s shim: a shared one when the group is, else one of its
     * own (the default: services that cannot share).
     */
    default TaskService start(String podId, Path bundle, ShimOptions options, ShimGroup group)
            throws IOException, InterruptedException {
        return start(podId, bundle, options);
    }

    /** Reconnects to the task service a previous daemon started for the pod. */
    TaskService connect(String podId, Path bundle, ShimOptions options) throws IOException;

    /**
     * As {@link #connect}, for a caller whose next call asks the service about a task (a restart's recovery asks
     * the infra task's state at once): a service that connects but does not answer fails that call as it would
     * have failed a first probe, so an implementation may skip its own probe round trip.
     */
    default TaskService connectToAsk(String podId, Path bundle, ShimOptions options) throws IOException {
        return connect(podId, bundle, options);
    }

    /** Kills what is left of a task whose service is gone and unmounts its rootfs; returns how it ended if known. */
    Optional<ExitInfo> cleanupDead(String id, Path bundle, ShimOptions options) throws IOException, InterruptedException;
}
