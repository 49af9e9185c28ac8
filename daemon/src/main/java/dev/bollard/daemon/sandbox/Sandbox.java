package dev.bollard.daemon.sandbox;

import dev.bollard.api.cri.v1.PodSandboxConfig;
import dev.bollard.daemon.shim.TaskService;

import java.util.concurrent.locks.ReentrantLock;

/**
 * One pod sandbox in memory: its persisted record (changed only through {@link SandboxStore#update}), the connection
 * to its task service (the pod's shim), and the lock that orders the
 * operations on it (virtual-thread friendly: a ReentrantLock, never synchronized around blocking calls).
 */
public final class Sandbox {

    private final ReentrantLock lock = new ReentrantLock();
    private final PodSandboxConfig config;
    private volatile SandboxRecord record;
    private volatile TaskService shim;
    private volatile PodResources resources;
    /** Set by {@link SandboxStore#remove} under the lock: a late update must not write the record back. */
    private volatile boolean removed;

    public Sandbox(SandboxRecord record, PodSandboxConfig config, TaskService shim) {
        this.record = record;
        this.config = config;
        this.shim = shim;
    }

    /**
     * A message built from this pod's state for the CRI (PodSandboxStatus), kept with the record it was built from;
     * whoever reads it checks that against the current one. Null until the first status call.
     */
    private volatile Object criMemo;

    public Object criMemo() {
        return criMemo;
    }

    /** As {@link #criMemo()}, for this one's item of a List answer. */
    private volatile Object criListMemo;

    public Object criListMemo() {
        return criListMemo;
    }

    public void criListMemo(Object memo) {
        criListMemo = memo;
    }

    public void criMemo(Object memo) {
        criMemo = memo;
    }

    public String id() {
        return record.id();
    }

    public SandboxRecord record() {
        return record;
    }

    /** Only {@link SandboxStore}, under the lock, after the transition was checked. */
    void record(SandboxRecord r) {
        this.record = r;
    }

    /** Whether the store removed this pod (its record deleted, its ID forgotten). */
    public boolean removed() {
        return removed;
    }

    /** Only {@link SandboxStore#remove}, under the lock. */
    void markRemoved() {
        this.removed = true;
    }

    public PodSandboxConfig config() {
        return config;
    }

    /** The pod's shim, or null once it was shut down. */
    public TaskService shim() {
        return shim;
    }

    public void shim(TaskService s) {
        this.shim = s;
    }

    /** What UpdatePodSandboxResources last applied to the pod's cgroup parent, or null when never called. */
    public PodResources resources() {
        return resources;
    }

    public void resources(PodResources r) {
        this.resources = r;
    }

    public boolean ready() {
        return record.state() == SandboxState.READY;
    }

    public ReentrantLock lock() {
        return lock;
    }
}
