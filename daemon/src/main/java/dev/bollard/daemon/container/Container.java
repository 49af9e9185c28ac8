package dev.bollard.daemon.container;

import com.google.gson.JsonObject;
import dev.bollard.api.cri.v1.ContainerConfig;
import dev.bollard.daemon.container.io.ContainerLogger;
import dev.bollard.daemon.container.io.StdioFifos;
import dev.bollard.daemon.image.ImageRecord;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.locks.ReentrantLock;

/**
 * One container in memory: its record (the one source of its state, changed only through
 * {@link ContainerStore#update}), its OCI spec, and while it runs the log pump. Its lock orders the operations on
 * it; the exit path holds it from recording the exit until the task is deleted, so waiting for the EXITED record and
 * then for the lock is waiting for the whole exit.
 */
public final class Container {

    /** How long a container or exec may take to exit after SIGKILL. */
    public static final java.time.Duration KILL_WAIT = java.time.Duration.ofSeconds(30);

    private final ReentrantLock lock = new ReentrantLock();
    private final ContainerConfig config;
    private final Rootfs rootfs;
    private final String stopSignal;
    private volatile ContainerRecord record;
    private volatile JsonObject spec;
    private volatile ContainerLogger logger;
    private volatile StdioFifos fifos;
    private volatile boolean oomKilled;
    private volatile boolean taskDeleted;
    private volatile dev.bollard.api.cri.v1.LinuxContainerResources resources;
    /** The last image_ref computed, and for which image record (records are immutable: a changed image is a new one). */
    private volatile ImageRefMemo imageRefMemo;
    /** Completed by the store when the record becomes EXITED (a container runs at most once). */
    private final CompletableFuture<Void> exitRecorded = new CompletableFuture<>();

    public Container(ContainerRecord record, ContainerConfig config, JsonObject spec, Rootfs rootfs, String stopSignal) {
        this.record = record;
        this.config = config;
        this.spec = spec;
        this.rootfs = rootfs;
        this.stopSignal = stopSignal;
        this.resources = config.getLinux().getResources();
        if (record.state() == ContainerState.EXITED) {
            exitRecorded.complete(null);
        }
    }

    /** The resources as the CRI last set them (the config's, then each UpdateContainerResources). */
    public dev.bollard.api.cri.v1.LinuxContainerResources resources() {
        return resources;
    }

    public void resources(dev.bollard.api.cri.v1.LinuxContainerResources r) {
        resources = r;
    }

    private record ImageRefMemo(ImageRecord image, String ref) {
    }

    /**
     * image_ref against {@code image} as it is now ({@link ImageRefs#imageRef(ImageRecord, String)}), worked
     * out once per image record: ListContainers asks it for every container on every call, and it parses references.
     */
    public String imageRef(ImageRecord image) {
        var memo = imageRefMemo;
        if (memo == null || memo.image() != image) {
            memo = new ImageRefMemo(image, ImageRefs.imageRef(image, ImageRefs.requestedImage(config)));
            imageRefMemo = memo;
        }
        return memo.ref();
    }

    /**
     * A message built from this container's state for the CRI (ContainerStatus), kept with the inputs it was built
     * from; whoever reads it checks those against the current ones. Null until the first status call.
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

    public ContainerRecord record() {
        return record;
    }

    /** Set by {@link ContainerStore#remove} under the lock: a late update must not write the record back. */
    private volatile boolean removed;

    /** Whether the store removed this container (its record deleted, its ID forgotten). */
    public boolean removed() {
        return removed;
    }

    /** Only {@link ContainerStore#remove}, under the lock. */
    void markRemoved() {
        removed = true;
    }

    /** Only {@link ContainerStore#update}, under the lock, after the transition was checked and persisted. */
    void record(ContainerRecord r) {
        record = r;
        if (r.state() == ContainerState.EXITED) {
            exitRecorded.complete(null);
        }
    }

    public ContainerConfig config() {
        return config;
    }

    public JsonObject spec() {
        return spec;
    }

    public void spec(JsonObject s) {
        spec = s;
    }

    public Rootfs rootfs() {
        return rootfs;
    }

    public String stopSignal() {
        return stopSignal;
    }

    public ContainerLogger logger() {
        return logger;
    }

    public void io(StdioFifos f, ContainerLogger l) {
        fifos = f;
        logger = l;
    }

    public StdioFifos fifos() {
        return fifos;
    }

    public boolean oomKilled() {
        return oomKilled;
    }

    public void markOom() {
        oomKilled = true;
    }

    /** Whether the exit path already deleted the task (RemoveContainer then need not ask the shim again). */
    public boolean isTaskDeleted() {
        return taskDeleted;
    }

    public void taskDeleted() {
        taskDeleted = true;
    }

    /**
     * Waits up to {@code timeout} for the exit to be recorded and handled (log drained, task deleted).
     *
     * @return whether it was
     */
    public boolean awaitExit(java.time.Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        try {
            exitRecorded.get(timeout.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
        } catch (java.util.concurrent.TimeoutException e) {
            return false;
        } catch (java.util.concurrent.ExecutionException e) {
            // never completed exceptionally
        }
        if (lock.isHeldByCurrentThread()) {
            return true;
        }
        if (!lock.tryLock(Math.max(0, deadline - System.nanoTime()), java.util.concurrent.TimeUnit.NANOSECONDS)) {
            return false;
        }
        lock.unlock();
        return true;
    }

    /** Completes once the exit is recorded and handled (its lock free again); callers cannot complete it. */
    public CompletableFuture<Void> whenExited() {
        return exitRecorded.thenRunAsync(() -> {
            lock.lock();
            lock.unlock();
        }, command -> Thread.ofVirtual().start(command));
    }

    /** Whether the record says EXITED. */
    public boolean exitRecorded() {
        return exitRecorded.isDone();
    }

    public ReentrantLock lock() {
        return lock;
    }

    public ContainerState state() {
        return record.state();
    }
}
