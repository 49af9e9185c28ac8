package dev.bollard.daemon.shim;

import com.google.protobuf.Any;
import com.google.protobuf.ByteString;
import com.google.protobuf.MessageLite;
import com.google.protobuf.Parser;
import com.google.protobuf.Timestamp;
import dev.bollard.api.containerd.task.v2.CloseIORequest;
import dev.bollard.api.containerd.task.v2.ConnectRequest;
import dev.bollard.api.containerd.task.v2.ConnectResponse;
import dev.bollard.api.containerd.task.v2.CreateTaskRequest;
import dev.bollard.api.containerd.task.v2.CreateTaskResponse;
import dev.bollard.api.containerd.task.v2.DeleteRequest;
import dev.bollard.api.containerd.task.v2.DeleteResponse;
import dev.bollard.api.containerd.task.v2.ExecProcessRequest;
import dev.bollard.api.containerd.task.v2.KillRequest;
import dev.bollard.api.containerd.task.v2.PidsRequest;
import dev.bollard.api.containerd.task.v2.PidsResponse;
import dev.bollard.api.containerd.task.v2.ResizePtyRequest;
import dev.bollard.api.containerd.task.v2.ShutdownRequest;
import dev.bollard.api.containerd.task.v2.StartRequest;
import dev.bollard.api.containerd.task.v2.StartResponse;
import dev.bollard.api.containerd.task.v2.StateRequest;
import dev.bollard.api.containerd.task.v2.StateResponse;
import dev.bollard.api.containerd.task.v2.UpdateTaskRequest;
import dev.bollard.api.containerd.task.v2.WaitRequest;
import dev.bollard.api.containerd.task.v2.WaitResponse;
import dev.bollard.api.containerd.types.Mount;
import dev.bollard.api.containerd.types.task.ProcessInfo;
import dev.bollard.api.ttrpc.KeyValue;
import dev.bollard.daemon.log.Log;
import dev.bollard.daemon.shim.ttrpc.TtrpcClient;
import dev.bollard.daemon.shim.ttrpc.TtrpcException;
import io.grpc.Status.Code;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A connection to one pod's shim and its task API (v2, or v3, which has the same messages on the wire: the v2
 * classes are used for both, only the service name differs). Every call carries the containerd namespace in the
 * {@code containerd-namespace-ttrpc} metadata key and has a timeout; {@link #await} alone waits without one.
 *
 * <p>Failures: {@link ShimException} with the shim's code (NOT_FOUND as {@link ShimNotFoundException});
 * DEADLINE_EXCEEDED for a timeout; UNAVAILABLE once the shim is gone. An interrupt abandons the call and surfaces as
 * {@link InterruptedIOException} with the thread's interrupt flag set again.
 */
public final class Shim implements TaskService {

    public static final Duration CALL_TIMEOUT = Duration.ofSeconds(10);
    /** Create and Start run the OCI runtime (mounts, cgroups, hooks), which can take a while on a busy node. */
    public static final Duration CREATE_START_TIMEOUT = Duration.ofSeconds(60);
    /** How long {@link #shutdown()} lets the shim exit by itself before it is killed. */
    public static final Duration SHUTDOWN_GRACE = Duration.ofSeconds(5);

    static final String NAMESPACE_KEY = "containerd-namespace-ttrpc";
    static final String PROCESS_SPEC_TYPE = "types.containerd.io/opencontainers/runtime-spec/1/Process";
    static final String CHECKPOINT_OPTIONS_TYPE = "containerd.runc.v1.CheckpointOptions";
    static final String RESOURCES_TYPE = "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources";
    /** Go's zero time.Time as a protobuf Timestamp: what the shim sends for "not exited". */
    private static final long GO_ZERO_TIME_SECONDS = -62135596800L;

    private static final Log LOG = Log.get("shim");

    private final String podId;
    private final Path socket;
    private final int apiVersion;
    private final String service;
    private final ShimOptions options;
    private final TtrpcClient client;
    private final List<KeyValue> metadata;
    private final ShimLogPump logPump;
    private final int shimPid;

    private Shim(String podId, ShimAddress address, String namespace, ShimOptions options, TtrpcClient client,
                 ShimLogPump logPump, int shimPid) {
        this.podId = podId;
        this.socket = address.socket();
        this.apiVersion = address.apiVersion();
        this.service = address.taskService();
        this.options = options;
        this.client = client;
        this.metadata = List.of(KeyValue.newBuilder().setKey(NAMESPACE_KEY).setValue(namespace).build());
        this.logPump = logPump;
        this.shimPid = shimPid;
    }

    /** Wraps the connection to a shim whose pid is known already (its {@code shim.pid} file), asking nothing. */
    static Shim reconnected(String podId, ShimAddress address, String namespace, ShimOptions options,
                            TtrpcClient client, ShimLogPump logPump, int shimPid) {
        return new Shim(podId, address, namespace, options, client, logPump, shimPid);
    }

    /** Asks the connected shim its pid (Connect) and wraps the connection. */
    static Shim connected(String podId, ShimAddress address, String namespace, ShimOptions options,
                          TtrpcClient client, ShimLogPump logPump) throws IOException {
        var probe = new Shim(podId, address, namespace, options, client, logPump, 0);
        ConnectResponse connect = probe.call("Connect", ConnectRequest.newBuilder().setId(podId).build(),
                ConnectResponse.parser(), CALL_TIMEOUT, "connect to the shim of pod " + podId);
        return new Shim(podId, address, namespace, options, client, logPump, connect.getShimPid());
    }

    public String podId() {
        return podId;
    }

    public Path socket() {
        return socket;
    }

    /** 2 or 3. */
    public int apiVersion() {
        return apiVersion;
    }

    public int shimPid() {
        return shimPid;
    }

    public ShimOptions options() {
        return options;
    }

    /** The shim's last log lines (from the pod bundle's {@code log} FIFO), oldest first; for diagnostics. */
    public List<String> recentLog() {
        return logPump == null ? List.of() : logPump.recentLines();
    }

    /**
     * Creates a task: {@code bundle} holds its {@code config.json} and, at {@code bundle/rootfs}, the root the
     * shim mounts {@code rootfs} onto (an empty list: the directory is already the root). The runc Options
     * (binary name, root, systemd cgroups) go along. Returns the init pid.
     */
    public int create(String id, Path bundle, List<Mount> rootfs, TaskIo io) throws IOException {
        return create(id, bundle, rootfs, io, null);
    }

    /**
     * {@link #create(String, Path, List, TaskIo)} that restores the task from the CRIU images in {@code checkpoint}
     * (when not null): the runc shim then runs {@code runc restore} at Start instead of starting the process anew.
     */
    public int create(String id, Path bundle, List<Mount> rootfs, TaskIo io, Path checkpoint) throws IOException {
        var request = CreateTaskRequest.newBuilder()
                .setCheckpoint(checkpoint == null ? "" : checkpoint.toAbsolutePath().toString())
                .setId(id)
                .setBundle(bundle.toAbsolutePath().toString())
                .addAllRootfs(rootfs)
                .setTerminal(io.terminal())
                .setStdin(io.stdin())
                .setStdout(io.stdout())
                .setStderr(io.stderr())
                .setOptions(ShimManager.runcOptions(options))
                .build();
        return call("Create", request, CreateTaskResponse.parser(), CREATE_START_TIMEOUT, "create task " + id)
                .getPid();
    }

    /** Starts the task's init process ({@code execId} "") or a created exec; returns its pid. */
    public int start(String id, String execId) throws IOException {
        var request = StartRequest.newBuilder().setId(id).setExecId(execId).build();
        return call("Start", request, StartResponse.parser(), CREATE_START_TIMEOUT, "start " + name(id, execId))
                .getPid();
    }

    /**
     * Signals the process ({@code all}: every process of the container). A process that already exited is not an
     * error (the shim answers NOT_FOUND "process already finished"); an unknown task or exec is a
     * {@link ShimNotFoundException}.
     */
    public void kill(String id, String execId, int signal, boolean all) throws IOException {
        var request = KillRequest.newBuilder().setId(id).setExecId(execId).setSignal(signal).setAll(all).build();
        try {
            call("Kill", request, com.google.protobuf.Empty.parser(), CALL_TIMEOUT,
                    "kill " + name(id, execId) + " with signal " + signal);
        } catch (ShimNotFoundException e) {
            if (!e.statusMessage().contains("process already finished")) {
                throw e;
            }
        }
    }

    /** Deletes a stopped task or exec (the runc container, its rootfs mounts); returns how it ended. */
    public ExitInfo delete(String id, String execId) throws IOException {
        var request = DeleteRequest.newBuilder().setId(id).setExecId(execId).build();
        DeleteResponse response = call("Delete", request, DeleteResponse.parser(), CALL_TIMEOUT,
                "delete " + name(id, execId));
        return new ExitInfo(response.getPid(), response.getExitStatus(), instant(response.getExitedAt()));
    }

    /** Waits, without a timeout, until the process exits; the pid comes from a State call after it. */
    public ExitInfo await(String id, String execId) throws IOException, InterruptedException {
        var request = WaitRequest.newBuilder().setId(id).setExecId(execId).build();
        String what = "wait for " + name(id, execId);
        WaitResponse response;
        try {
            response = client.invoke(service, "Wait", request, WaitResponse.parser(), null, metadata);
        } catch (TtrpcException e) {
            throw shimException(what, e);
        }
        int pid = 0;
        try {
            pid = state(id, execId).pid();
        } catch (IOException e) {
            LOG.debug("no pid after wait", "id", id, "exec", execId, "error", e.getMessage());
        }
        return new ExitInfo(pid, response.getExitStatus(), instant(response.getExitedAt()));
    }

    public TaskState state(String id, String execId) throws IOException {
        var request = StateRequest.newBuilder().setId(id).setExecId(execId).build();
        StateResponse response = call("State", request, StateResponse.parser(), CALL_TIMEOUT,
                "state of " + name(id, execId));
        TaskState.Status status = switch (response.getStatus()) {
            case CREATED -> TaskState.Status.CREATED;
            case RUNNING -> TaskState.Status.RUNNING;
            case STOPPED -> TaskState.Status.STOPPED;
            case PAUSED, PAUSING -> TaskState.Status.PAUSED;
            default -> TaskState.Status.UNKNOWN;
        };
        return new TaskState(response.getId(), status, response.getPid(), response.getExitStatus(),
                instant(response.getExitedAt()));
    }

    /**
     * Adds an exec process (OCI runtime-spec {@code Process} as JSON) to a running task; {@link #start} runs it.
     */
    public void exec(String id, String execId, TaskIo io, byte[] ociProcessJson) throws IOException {
        var request = ExecProcessRequest.newBuilder()
                .setId(id)
                .setExecId(execId)
                .setTerminal(io.terminal())
                .setStdin(io.stdin())
                .setStdout(io.stdout())
                .setStderr(io.stderr())
                .setSpec(Any.newBuilder().setTypeUrl(PROCESS_SPEC_TYPE).setValue(ByteString.copyFrom(ociProcessJson)))
                .build();
        call("Exec", request, com.google.protobuf.Empty.parser(), CALL_TIMEOUT, "exec " + name(id, execId));
    }

    public void resizePty(String id, String execId, int width, int height) throws IOException {
        var request = ResizePtyRequest.newBuilder().setId(id).setExecId(execId).setWidth(width).setHeight(height)
                .build();
        call("ResizePty", request, com.google.protobuf.Empty.parser(), CALL_TIMEOUT,
                "resize the pty of " + name(id, execId));
    }

    public void closeStdin(String id, String execId) throws IOException {
        var request = CloseIORequest.newBuilder().setId(id).setExecId(execId).setStdin(true).build();
        call("CloseIO", request, com.google.protobuf.Empty.parser(), CALL_TIMEOUT,
                "close stdin of " + name(id, execId));
    }

    /** Applies OCI runtime-spec {@code LinuxResources} (JSON) to the running task's cgroup. */
    public void update(String id, byte[] ociLinuxResourcesJson) throws IOException {
        var request = UpdateTaskRequest.newBuilder()
                .setId(id)
                .setResources(Any.newBuilder().setTypeUrl(RESOURCES_TYPE)
                        .setValue(ByteString.copyFrom(ociLinuxResourcesJson)))
                .build();
        call("Update", request, com.google.protobuf.Empty.parser(), CALL_TIMEOUT, "update resources of task " + id);
    }

    /**
     * Checkpoints the task's container with CRIU through the OCI runtime ({@code runc checkpoint}), leaving it
     * running: the CRIU images go to {@code imagePath}, CRIU's work files and log to {@code workPath}.
     */
    public void checkpoint(String id, Path imagePath, Path workPath, Duration timeout) throws IOException {
        var options = dev.bollard.api.containerd.runc.v1.CheckpointOptions.newBuilder()
                .setExit(false)
                .setImagePath(imagePath.toString())
                .setWorkPath(workPath.toString())
                .build();
        var request = dev.bollard.api.containerd.task.v2.CheckpointTaskRequest.newBuilder()
                .setId(id)
                .setPath(imagePath.toString())
                .setOptions(Any.newBuilder().setTypeUrl(CHECKPOINT_OPTIONS_TYPE).setValue(options.toByteString()))
                .build();
        call("Checkpoint", request, com.google.protobuf.Empty.parser(), timeout, "checkpoint task " + id);
    }

    /** Host pids of every process in the task's container. */
    public List<Integer> pids(String id) throws IOException {
        PidsResponse response = call("Pids", PidsRequest.newBuilder().setId(id).build(), PidsResponse.parser(),
                CALL_TIMEOUT, "pids of task " + id);
        return response.getProcessesList().stream().map(ProcessInfo::getPid).toList();
    }

    @Override
    public Any stats(String id) throws IOException {
        var response = call("Stats", dev.bollard.api.containerd.task.v2.StatsRequest.newBuilder().setId(id).build(),
                dev.bollard.api.containerd.task.v2.StatsResponse.parser(), CALL_TIMEOUT, "stats of task " + id);
        return response.getStats();
    }

    /** Whether the connection is up and the shim process exists. */
    public boolean isAlive() {
        return client.isOpen() && (shimPid <= 0 || ProcessHandle.of(shimPid).map(ProcessHandle::isAlive).orElse(false));
    }

    /**
     * Asks the shim to exit (it does so only once it holds no tasks: delete them first), waits up to
     * {@link #SHUTDOWN_GRACE} for the process to go, kills it otherwise, removes its socket and closes the
     * connection and the log reader.
     */
    public void shutdown() throws IOException {
        try {
            call("Shutdown", ShutdownRequest.newBuilder().setId(podId).build(), com.google.protobuf.Empty.parser(),
                    CALL_TIMEOUT, "shut down the shim of pod " + podId);
        } catch (ShimException e) {
            // The shim exits while answering, so the connection dropping is the usual outcome.
            if (e.code() != Code.UNAVAILABLE) {
                LOG.warn("shim shutdown call failed", "pod", podId, "error", e.getMessage());
            }
        }
        Optional<ProcessHandle> process = shimPid > 0 ? ProcessHandle.of(shimPid) : Optional.empty();
        if (process.isPresent()) {
            var handle = process.get();
            if (!exited(handle, SHUTDOWN_GRACE)) {
                LOG.warn("shim did not exit after Shutdown: killing it", "pod", podId, "pid", shimPid);
                handle.destroyForcibly();
                if (!exited(handle, Duration.ofSeconds(5))) {
                    close();
                    throw new IOException("the shim of pod " + podId + " (pid " + shimPid
                            + ") survived SIGKILL for 5 s");
                }
            }
        }
        close();
        Files.deleteIfExists(socket);
        LOG.info("shim shut down", "pod", podId, "pid", shimPid);
    }

    /**
     * Whether the shim process is gone within the timeout. The shim is not our child (it daemonizes and is
     * re-parented to init), so its exit is only reaped when init gets to it: a zombie counts as exited here,
     * instead of waiting for a slow init (seen: 1.5 s) as ProcessHandle.onExit would.
     */
    private static boolean exited(ProcessHandle handle, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            if (gone(handle.pid())) {
                return true;
            }
            if (System.nanoTime() > deadline) {
                return false;
            }
            try {
                Thread.sleep(5);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return gone(handle.pid());
            }
        }
    }

    /** A process that no longer exists, or only as a zombie (state Z or X in /proc/<pid>/stat). */
    static boolean gone(long pid) {
        try {
            String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
            int paren = stat.lastIndexOf(')');
            char state = paren > 0 && paren + 2 < stat.length() ? stat.charAt(paren + 2) : '?';
            return state == 'Z' || state == 'X';
        } catch (IOException e) {
            return true;
        }
    }

    /** Closes the connection and stops following the shim's log; the shim keeps running. Idempotent. */
    @Override
    public void close() {
        client.close();
        if (logPump != null) {
            logPump.close();
        }
    }

    @Override
    public String toString() {
        return "Shim[pod=" + podId + ", socket=" + socket + ", pid=" + shimPid + ", v" + apiVersion + "]";
    }

    private <T> T call(String method, MessageLite request, Parser<T> parser, Duration timeout, String what)
            throws IOException {
        try {
            return client.invoke(service, method, request, parser, timeout, metadata);
        } catch (TtrpcException e) {
            throw shimException(what, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            var interrupted = new InterruptedIOException("interrupted: " + what + " (pod " + podId + ")");
            interrupted.initCause(e);
            throw interrupted;
        }
    }

    private ShimException shimException(String what, TtrpcException e) {
        String context = what + " (shim of pod " + podId + ")";
        return e.code() == Code.NOT_FOUND
                ? new ShimNotFoundException(context, e.statusMessage(), e)
                : new ShimException(e.code(), context, e.statusMessage(), e);
    }

    private static String name(String id, String execId) {
        return execId.isEmpty() ? "task " + id : "exec " + execId + " of task " + id;
    }

    /** A shim timestamp; unset or Go's zero time (not exited) is {@link Instant#EPOCH}. */
    static Instant instant(Timestamp timestamp) {
        if (timestamp.getSeconds() <= GO_ZERO_TIME_SECONDS || (timestamp.getSeconds() == 0 && timestamp.getNanos() == 0)) {
            return Instant.EPOCH;
        }
        return Instant.ofEpochSecond(timestamp.getSeconds(), timestamp.getNanos());
    }
}
