package dev.bollard.daemon.container;

/** A container's state as the CRI defines it: created (not started), running, exited, or unknown. */
public enum ContainerState {
    CREATED, RUNNING, EXITED, UNKNOWN
}
