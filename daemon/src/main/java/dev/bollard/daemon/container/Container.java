package dev.bollard.daemon.container;

import com.google.gson.JsonObject;
import dev.bollard.api.cri.v1.ContainerConfig;
import dev.bollard.daemon.container.io.ContainerLogger;
import dev.bollard.daemon.container.io.StdioFifos;
import dev.bollard.daemon.image.ImageRecord;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.locks.ReentrantLock;

/**
 * One container in memory: its record, its OCI spec, and while it runs the log pump and a future that completes
 * once its exit has been recorded and its task deleted.
 */
public final class Container {

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
    /** A container runs at most once (the CRI has no restart), so one future serves its whole life. */
    private final CompletableFuture<Void> exited = new CompletableFuture<>();

    Container(ContainerRecord record, ContainerConfig config, JsonObject spec, Rootfs rootfs, String stopSignal) {
        this.record = record;
        this.config = config;
        this.spec = spec;
        this.rootfs = rootfs;
        this.stopSignal = stopSignal;
        this.resources = config.getLinux().getResources();
    }

    /** The resources as the CRI last set them (the config's, then each UpdateContainerResources). */
    public dev.bollard.api.cri.v1.LinuxContainerResources resources() {
        return resources;
    }

    void resources(dev.bollard.api.cri.v1.LinuxContainerResources r) {
        resources = r;
    }

    private record ImageRefMemo(ImageRecord image, String ref) {
    }

    /**
     * image_ref against {@code image} as it is now ({@link ContainerManager#imageRef(ImageRecord, String)}), worked
     * out once per image record: ListContainers asks it for every container on every call, and it parses references.
     */
    public String imageRef(ImageRecord image) {
        var memo = imageRefMemo;
        if (memo == null || memo.image() != image) {
            memo = new ImageRefMemo(image, ContainerManager.imageRef(image, ContainerManager.requestedImage(config)));
            imageRefMemo = memo;
        }
        return memo.ref();
    }

    public String id() {
        return record.id();
    }

    public ContainerRecord record() {
        return record;
    }

    void record(ContainerRecord r) {
        record = r;
    }

    public ContainerConfig config() {
        return config;
    }

    public JsonObject spec() {
        return spec;
    }

    void spec(JsonObject s) {
        spec = s;
    }

    Rootfs rootfs() {
        return rootfs;
    }

    String stopSignal() {
        return stopSignal;
    }

    ContainerLogger logger() {
        return logger;
    }

    void io(StdioFifos f, ContainerLogger l) {
        fifos = f;
        logger = l;
    }

    StdioFifos fifos() {
        return fifos;
    }

    boolean oomKilled() {
        return oomKilled;
    }

    void markOom() {
        oomKilled = true;
    }

    /** Whether the exit path already deleted the task (RemoveContainer then need not ask the shim again). */
    boolean isTaskDeleted() {
        return taskDeleted;
    }

    void taskDeleted() {
        taskDeleted = true;
    }

    /** Completes once the exit is recorded and the task deleted. */
    CompletableFuture<Void> exited() {
        return exited;
    }

    /** Completes once the exit is recorded and the task deleted (a copy: callers cannot complete it). */
    public CompletableFuture<Void> whenExited() {
        return exited.copy();
    }

    ReentrantLock lock() {
        return lock;
    }

    public ContainerState state() {
        return record.state();
    }
}
