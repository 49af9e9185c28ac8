package dev.bollard.daemon.shim;

import java.time.Instant;

/**
 * Task events the shims publish to Bollard. Called on virtual threads; the events of one container arrive in the
 * order its shim sent them (events of different containers may be delivered concurrently). A slow listener delays
 * only the later events of the same container.
 */
public interface ShimEvents {

    /**
     * A process ended.
     *
     * @param execId "" for the container's init process, otherwise the exec id
     */
    void taskExit(String containerId, String execId, int pid, int exitStatus, Instant exitedAt);

    /** The kernel's OOM killer hit the container's cgroup. */
    void taskOom(String containerId);
}
