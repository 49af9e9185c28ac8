package dev.bollard.daemon.shim;

import java.time.Instant;

/**
 * A task's or exec's state as the shim reports it.
 *
 * @param pid        0 before the process started
 * @param exitStatus meaningful once {@link Status#STOPPED}
 * @param exitedAt   {@link Instant#EPOCH} while the process has not exited
 */
public record TaskState(String id, Status status, int pid, int exitStatus, Instant exitedAt) {

    /** containerd's task status; the shim's transient PAUSING is reported as {@link #PAUSED}. */
    public enum Status {
        UNKNOWN, CREATED, RUNNING, STOPPED, PAUSED
    }
}
