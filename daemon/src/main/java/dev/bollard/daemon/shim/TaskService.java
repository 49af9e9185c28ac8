package dev.bollard.daemon.shim;

import dev.bollard.api.containerd.types.Mount;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * What the pod and container lifecycle needs of the shim that runs a pod's tasks (containerd's Task API): one per
 * pod. {@link Shim} is the real one (a containerd shim v2 over ttrpc); a VM shim or a shared shim plugs in here too.
 * A task or exec the shim does not know is a {@link ShimNotFoundException}; any other failure an IOException.
 */
public interface TaskService extends AutoCloseable {

    /** Creates a task on {@code bundle} with {@code rootfs} mounted (from CRIU images when {@code checkpoint} is set). */
    int create(String id, Path bundle, List<Mount> rootfs, TaskIo io, Path checkpoint) throws IOException;

    default int create(String id, Path bundle, List<Mount> rootfs, TaskIo io) throws IOException {
        return create(id, bundle, rootfs, io, null);
    }

    /** Starts the task's init process ({@code execId} "") or a created exec; returns its pid. */
    int start(String id, String execId) throws IOException;

    void kill(String id, String execId, int signal, boolean all) throws IOException;

    /** Deletes a stopped task or exec; returns how it ended. */
    ExitInfo delete(String id, String execId) throws IOException;

    /** Waits without a timeout until the process exits. */
    ExitInfo await(String id, String execId) throws IOException, InterruptedException;

    TaskState state(String id, String execId) throws IOException;

    /** Adds an exec process (OCI runtime-spec {@code Process} as JSON) to a running task. */
    void exec(String id, String execId, TaskIo io, byte[] ociProcessJson) throws IOException;

    void resizePty(String id, String execId, int width, int height) throws IOException;

    void closeStdin(String id, String execId) throws IOException;

    /** Applies OCI runtime-spec {@code LinuxResources} (JSON) to the running task. */
    void update(String id, byte[] ociLinuxResourcesJson) throws IOException;

    /** Checkpoints the task with CRIU, leaving it running. */
    void checkpoint(String id, Path imagePath, Path workPath, Duration timeout) throws IOException;

    /** Host pids of every process in the task's container. */
    List<Integer> pids(String id) throws IOException;

    /**
     * The task's cgroup metrics as the shim reports them (its Stats call: a typed {@code Any}, e.g.
     * {@code io.containerd.cgroups.v2.Metrics}). Only asked of shims whose tasks have no host cgroup (the VM shim).
     */
    default com.google.protobuf.Any stats(String id) throws IOException {
        throw new IOException("the shim of task " + id + " reports no stats");
    }

    /** Whether the shim is reachable. */
    boolean isAlive();

    /** Asks the shim to exit once its tasks are gone, and closes the connection. */
    void shutdown() throws IOException;

    /** Closes the connection only (the shim and its tasks keep running). */
    @Override
    void close();
}
