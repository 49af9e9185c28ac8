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

    /** Started: RUNNING with its pid and start time. */
    public ContainerRecord started(int newPid, long at) {
        return toBuilder().state(ContainerState.RUNNING).pid(newPid).startedAt(at).build();
    }

    /** Exited: EXITED with its finish time, exit code, reason and message. */
    public ContainerRecord exited(long at, int code, String why, String text) {
        return toBuilder().state(ContainerState.EXITED).finishedAt(at).exitCode(code).reason(why).message(text).build();
    }

    public ContainerRecord withResources(JsonObject updated) {
        return toBuilder().resources(updated).build();
    }

    public static Builder builder() {
        return new Builder();
    }

    public Builder toBuilder() {
        var b = new Builder();
        b.id = id;
        b.sandboxId = sandboxId;
        b.name = name;
        b.config = config;
        b.image = image;
        b.imageRef = imageRef;
        b.imageId = imageId;
        b.state = state;
        b.pid = pid;
        b.createdAt = createdAt;
        b.startedAt = startedAt;
        b.finishedAt = finishedAt;
        b.exitCode = exitCode;
        b.reason = reason;
        b.message = message;
        b.logPath = logPath;
        b.lowerDirs = lowerDirs;
        b.stopSignal = stopSignal;
        b.resources = resources;
        b.volumeLowerDirs = volumeLowerDirs;
        return b;
    }

    /** Named fields instead of twenty positional ones; unset strings are empty, unset numbers 0. */
    public static final class Builder {
        private String id = "";
        private String sandboxId = "";
        private String name = "";
        private JsonObject config;
        private String image = "";
        private String imageRef = "";
        private String imageId = "";
        private ContainerState state = ContainerState.CREATED;
        private int pid;
        private long createdAt;
        private long startedAt;
        private long finishedAt;
        private int exitCode;
        private String reason = "";
        private String message = "";
        private String logPath = "";
        private List<String> lowerDirs = List.of();
        private String stopSignal = "";
        private JsonObject resources;
        private List<String> volumeLowerDirs = List.of();

        private Builder() {
        }

        public Builder id(String value) {
            this.id = value;
            return this;
        }

        public Builder sandboxId(String value) {
            this.sandboxId = value;
            return this;
        }

        public Builder name(String value) {
            this.name = value;
            return this;
        }

        public Builder config(JsonObject value) {
            this.config = value;
            return this;
        }

        public Builder image(String value) {
            this.image = value;
            return this;
        }

        public Builder imageRef(String value) {
            this.imageRef = value;
            return this;
        }

        public Builder imageId(String value) {
            this.imageId = value;
            return this;
        }

        public Builder state(ContainerState value) {
            this.state = value;
            return this;
        }

        public Builder pid(int value) {
            this.pid = value;
            return this;
        }

        public Builder createdAt(long value) {
            this.createdAt = value;
            return this;
        }

        public Builder startedAt(long value) {
            this.startedAt = value;
            return this;
        }

        public Builder finishedAt(long value) {
            this.finishedAt = value;
            return this;
        }

        public Builder exitCode(int value) {
            this.exitCode = value;
            return this;
        }

        public Builder reason(String value) {
            this.reason = value;
            return this;
        }

        public Builder message(String value) {
            this.message = value;
            return this;
        }

        public Builder logPath(String value) {
            this.logPath = value;
            return this;
        }

        public Builder lowerDirs(List<String> value) {
            this.lowerDirs = value;
            return this;
        }

        public Builder stopSignal(String value) {
            this.stopSignal = value;
            return this;
        }

        public Builder resources(JsonObject value) {
            this.resources = value;
            return this;
        }

        public Builder volumeLowerDirs(List<String> value) {
            this.volumeLowerDirs = value;
            return this;
        }

        public ContainerRecord build() {
            return new ContainerRecord(id, sandboxId, name, config, image, imageRef, imageId, state, pid, createdAt,
                    startedAt, finishedAt, exitCode, reason, message, logPath, lowerDirs, stopSignal, resources,
                    volumeLowerDirs);
        }
    }
}
