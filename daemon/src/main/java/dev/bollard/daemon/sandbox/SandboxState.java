package dev.bollard.daemon.sandbox;

/** A pod sandbox's state as the CRI sees it: READY while its infra process runs, NOTREADY once it stopped. */
public enum SandboxState {
    READY, NOTREADY
}
