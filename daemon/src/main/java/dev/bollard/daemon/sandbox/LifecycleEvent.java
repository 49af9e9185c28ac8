package dev.bollard.daemon.sandbox;

/**
 * A pod's or a container's lifecycle step, as GetContainerEvents reports it (a pod's with the sandbox ID as the
 * container ID, as containerd does). One type for both, so the CRI mapping exists once.
 */
public enum LifecycleEvent { CREATED, STARTED, STOPPED, DELETED }
