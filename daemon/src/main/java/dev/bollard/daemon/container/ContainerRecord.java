package dev.bollard.daemon.container;

import com.google.gson.JsonObject;

import java.util.List;

/**
 * What Bollard persists of one container ({@code <root>/store/containers/<id>.json}).
 *
 * @param name      the reserved name: {@code <name>_<pod name>_<pod namespace>_<pod uid>_<attempt>}
 * @param config    the ContainerConfig as protobuf JSON
 * @param image     the image as the user named it (ContainerConfig.image.image)
 * @param imageRef  the image's repo digest or, without one, its ID (what containerd reports as image_ref)
 * @param imageId   the image ID (config digest)
 * @param times     epoch nanoseconds; 0 when not reached
 * @param lowerDirs  the rootfs's overlay lower dirs (snapshot directories), top layer first: a restart rebuilds the
 *                   rootfs from them, and image GC keeps them, even once the image itself is gone
 * @param stopSignal the image's stop signal (e.g. SIGTERM), kept for the same reason
 * @param resources  the LinuxContainerResources (protobuf JSON) UpdateContainerResources last set; empty when
 *                   never called (the config's apply; a record written before this field reads as empty too, so
 *                   the schema stays 1)
 * @param volumeLowerDirs the snapshot directories the container's image volumes (Mount.image) stack: image GC
 *                   keeps them while the container exists
 */
public record ContainerRecord(String id, String sandboxId, String name, JsonObject config, String image,
                              String imageRef, String imageId, ContainerState state, int pid, long createdAt,
                              long startedAt, long finishedAt, int exitCode, String reason, String message,
                              String logPath, List<String> lowerDirs, String stopSignal,
                              JsonObject resources, List<String> volumeLowerDirs) {

    public static final int SCHEMA = 1;

    public ContainerRecord {
        lowerDirs = lowerDirs == null ? List.of() : List.copyOf(lowerDirs);
        resources = resources == null ? new JsonObject() : resources; // Gson cannot read a JsonObject back from null
        volumeLowerDirs = volumeLowerDirs == null ? List.of() : List.copyOf(volumeLowerDirs);
    }

    public ContainerRecord started(int newPid, long at) {
        return new ContainerRecord(id, sandboxId, name, config, image, imageRef, imageId, ContainerState.RUNNING,
                newPid, createdAt, at, finishedAt, exitCode, reason, message, logPath, lowerDirs, stopSignal, resources,
                volumeLowerDirs);
    }

    public ContainerRecord exited(long at, int code, String why, String text) {
        return new ContainerRecord(id, sandboxId, name, config, image, imageRef, imageId, ContainerState.EXITED,
                pid, createdAt, startedAt, at, code, why, text, logPath, lowerDirs, stopSignal, resources,
                volumeLowerDirs);
    }

    public ContainerRecord withResources(JsonObject updated) {
        return new ContainerRecord(id, sandboxId, name, config, image, imageRef, imageId, state, pid, createdAt,
                startedAt, finishedAt, exitCode, reason, message, logPath, lowerDirs, stopSignal, updated,
                volumeLowerDirs);
    }
}
