package dev.bollard.vm;

import com.google.gson.Gson;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import com.google.protobuf.Empty;
import com.google.protobuf.MessageLite;
import com.google.protobuf.Parser;
import dev.bollard.api.containerd.events.TaskCreate;
import dev.bollard.api.containerd.events.TaskDelete;
import dev.bollard.api.containerd.events.TaskExecAdded;
import dev.bollard.api.containerd.events.TaskExecStarted;
import dev.bollard.api.containerd.events.TaskExit;
import dev.bollard.api.containerd.events.TaskOOM;
import dev.bollard.api.containerd.events.TaskIO;
import dev.bollard.api.containerd.events.TaskStart;
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
import dev.bollard.api.containerd.task.v2.StatsRequest;
import dev.bollard.api.containerd.task.v2.StatsResponse;
import dev.bollard.api.containerd.task.v2.UpdateTaskRequest;
import dev.bollard.api.containerd.task.v2.WaitRequest;
import dev.bollard.api.containerd.task.v2.WaitResponse;
import dev.bollard.api.containerd.types.Mount;
import dev.bollard.api.containerd.types.task.ProcessInfo;
import dev.bollard.api.containerd.types.task.Status;
import dev.bollard.daemon.linux.MountInfo;
import dev.bollard.daemon.linux.Syscalls;
import dev.bollard.daemon.log.Log;
import dev.bollard.daemon.shim.ttrpc.TtrpcException;
import dev.bollard.daemon.shim.ttrpc.TtrpcHandler;
import io.grpc.Status.Code;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * containerd's shim v2 Task service for one pod in one VM. The first Create boots the VM; each container's rootfs
 * (mounted on the host, as the runc shim does) and bind-mount sources are bind-mounted under the pod's share,
 * which virtiofsd serves to the guest, and the agent runs the container there with crun. Process ids in answers
 * and events are guest pids.
 */
final class TaskService implements AgentChannel.Listener {

    static final String SERVICE = "containerd.task.v2.Task";
    static final String VERSION = "bollard-vm 1";

    private static final Log LOG = Log.get("vm-task");
    private static final Pattern ID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_.-]{0,127}");
    private static final Duration AGENT_TIMEOUT = Duration.ofSeconds(60);
    private static final long MS_REC = 16384;
    private static final long MS_REMOUNT = 32;
    private static final Gson GSON = new Gson();

    /** Exit status reported for every process still running when the VM dies under it. */
    static final int VM_DIED_STATUS = 255;

    private final VmConfig config;
    private final Path stateDir;
    private final EventPublisher events;
    private final Runnable exit;
    private final Object bootLock = new Object();
    private volatile Vm vm;
    private volatile String vmFailure;
    private volatile java.util.Optional<PodNetwork> network = java.util.Optional.empty();
    private final Map<String, Container> containers = new ConcurrentHashMap<>();
    private final Map<Integer, Proc> byHandle = new ConcurrentHashMap<>();
    private final AtomicInteger handles = new AtomicInteger(1);
    private volatile GuestPortForwards portForwards;
    /** Numbers the resources files of updates (see {@link #update}). */
    private final AtomicLong updates = new AtomicLong();

    private final class Container {
        final String id;
        final Path bundle;
        final Path share;
        final boolean mountedRootfs;
        final List<Path> mounts = new ArrayList<>();
        final Proc init;
        final Map<String, Proc> execs = new ConcurrentHashMap<>();

        Container(String id, Path bundle, Path share, boolean mountedRootfs, Proc init) {
            this.id = id;
            this.bundle = bundle;
            this.share = share;
            this.mountedRootfs = mountedRootfs;
            this.init = init;
        }
    }

    /** A container's init process or one of its exec processes. Mutable state is guarded by the instance. */
    private final class Proc {
        final String containerId;
        final String execId;
        final int handle;
        final String stdin;
        final String stdout;
        final String stderr;
        final boolean terminal;
        final ProcessStdio stdio;
        final CompletableFuture<Void> exited = new CompletableFuture<>();
        int pid;
        Status status = Status.CREATED;
        int exitStatus;
        Instant exitedAt;
        boolean starting;
        boolean exitPending;

        Proc(String containerId, String execId, String stdin, String stdout, String stderr, boolean terminal) {
            this.containerId = containerId;
            this.execId = execId;
            this.handle = handles.getAndIncrement();
            this.stdin = stdin;
            this.stdout = stdout;
            this.stderr = stderr;
            this.terminal = terminal;
            this.stdio = new ProcessStdio(containerId, stdout, stderr);
        }

        /** Copies the held stdin FIFO (if any) to the process in the guest, through the agent. */
        void startStdin(AgentChannel agent) {
            stdio.startStdin((data, length) -> agent.stdin(handle, data, length), eventId());
        }

        String eventId() {
            return execId.isEmpty() ? containerId : execId;
        }

        synchronized void exit(int status) {
            if (this.status == Status.STOPPED) {
                return;
            }
            this.status = Status.STOPPED;
            this.exitStatus = status;
            this.exitedAt = Instant.now();
            if (starting) {
                exitPending = true; // published after TaskStart, so subscribers see start before exit
            } else {
                publishExit();
            }
            exited.complete(null);
        }

        void publishExit() {
            events.publish("/tasks/exit", TaskExit.newBuilder().setContainerId(containerId).setId(eventId())
                    .setPid(pid).setExitStatus(exitStatus).setExitedAt(EventPublisher.timestamp(exitedAt)).build());
        }
    }

    TaskService(VmConfig config, Path stateDir, EventPublisher events, Runnable exit) {
        this.config = config;
        this.stateDir = stateDir;
        this.events = events;
        this.exit = exit;
    }

    Map<String, Map<String, TtrpcHandler>> services() {
        var methods = new LinkedHashMap<String, TtrpcHandler>();
        method(methods, "Create", CreateTaskRequest.parser(), this::create);
        method(methods, "Start", StartRequest.parser(), this::start);
        method(methods, "State", StateRequest.parser(), this::state);
        method(methods, "Kill", KillRequest.parser(), this::kill);
        method(methods, "Delete", DeleteRequest.parser(), this::delete);
        method(methods, "Wait", WaitRequest.parser(), this::await);
        method(methods, "Exec", ExecProcessRequest.parser(), this::exec);
        method(methods, "ResizePty", ResizePtyRequest.parser(), this::resizePty);
        method(methods, "CloseIO", CloseIORequest.parser(), this::closeIo);
        method(methods, "Pids", PidsRequest.parser(), this::pids);
        method(methods, "Stats", StatsRequest.parser(), this::stats);
        method(methods, "Update", UpdateTaskRequest.parser(), this::update);
        method(methods, "Connect", ConnectRequest.parser(), this::connect);
        method(methods, "Shutdown", ShutdownRequest.parser(), this::shutdown);
        return Map.of(SERVICE, methods);
    }

    private interface Body<Q> {
        MessageLite handle(Q request) throws TtrpcException, IOException;
    }

    private static <Q> void method(Map<String, TtrpcHandler> methods, String name, Parser<Q> parser, Body<Q> body) {
        methods.put(name, TtrpcHandler.of(parser, request -> {
            try {
                return body.handle(request);
            } catch (AgentChannel.AgentException e) {
                throw new TtrpcException(Code.UNKNOWN, e.getMessage(), e);
            } catch (IOException e) {
                throw new TtrpcException(Code.UNKNOWN, name + ": " + e.getMessage(), e);
            }
        }));
    }

    // --- the VM -------------------------------------------------------------------------------------------------

    private Vm vm() throws TtrpcException {
        return vm(java.util.Optional.empty(), new JsonObject());
    }

    /**
     * The pod's VM, booted on first use; {@code netns} (the pod's network namespace) is joined at that boot, and
     * the VM is sized by the first container's (the sandbox's) {@code annotations} ({@link VmSizing}).
     */
    private Vm vm(java.util.Optional<String> netns, JsonObject annotations) throws TtrpcException {
        synchronized (bootLock) {
            if (vm != null) {
                if (!vm.isAlive()) {
                    throw new TtrpcException(Code.FAILED_PRECONDITION, "the pod's VM is not running: "
                            + (vmFailure == null ? "qemu exited" : vmFailure));
                }
                return vm;
            }
            var problem = config.problem();
            if (problem.isPresent()) {
                throw new TtrpcException(Code.FAILED_PRECONDITION, "the vm runtime is not ready: " + problem.get());
            }
            java.util.Optional<PodNetwork> joined = java.util.Optional.empty();
            try {
                if (netns.isPresent()) {
                    if (!Files.exists(Path.of(netns.get()))) {
                        throw new TtrpcException(Code.FAILED_PRECONDITION, "the pod's network namespace "
                                + netns.get() + " does not exist");
                    }
                    joined = PodNetwork.join(Path.of(netns.get()));
                }
                var size = VmSizing.of(config.cpus(), config.memoryMb(), annotations,
                        Runtime.getRuntime().availableProcessors());
                vm = Vm.boot(config.resolved().withSize(size.cpus(), size.memoryMb()), stateDir, joined, this);
                network = joined;
            } catch (IOException | RuntimeException e) {
                joined.ifPresent(PodNetwork::disconnect);
                throw new TtrpcException(Code.UNAVAILABLE, e.getMessage(), e);
            }
            return vm;
        }
    }

    @Override
    public void output(int handle, boolean stderr, byte[] data) {
        Proc proc = byHandle.get(handle);
        if (proc != null) {
            proc.stdio.output(stderr, data);
        }
    }

    @Override
    public void exited(int handle, int status) {
        Proc proc = byHandle.get(handle);
        if (proc != null) {
            proc.exit(status);
        }
    }

    /** As containerd's shims: a TaskOOM per kill, before the exit it caused (the agent sends them in that order). */
    @Override
    public void oomKilled(int handle) {
        Proc proc = byHandle.get(handle);
        if (proc != null) {
            LOG.info("container OOM-killed in the guest", "id", proc.containerId);
            events.publish("/tasks/oom", TaskOOM.newBuilder().setContainerId(proc.containerId).build());
        }
    }

    /** Serves CRI port-forwards into the guest on {@code socket} ({@link GuestPortForwards}). */
    void servePortForwards(Path socket) throws IOException {
        portForwards = GuestPortForwards.listen(socket, () -> {
            Vm running = vm;
            if (running == null || !running.isAlive()) {
                throw new IOException("the pod's VM is not running");
            }
            return running.agent();
        });
    }

    @Override
    public void forwardData(int handle, byte[] data) {
        var forwards = portForwards;
        if (forwards != null) {
            forwards.data(handle, data);
        }
    }

    @Override
    public void forwardAcked(int handle, long bytes) {
        var forwards = portForwards;
        if (forwards != null) {
            forwards.acked(handle, bytes);
        }
    }

    @Override
    public void forwardClosed(int handle, String reason) {
        var forwards = portForwards;
        if (forwards != null) {
            forwards.closedByAgent(handle, reason);
        }
    }

    @Override
    public void closed(boolean expected, String reason) {
        var forwards = portForwards;
        if (forwards != null) {
            forwards.closeAll();
        }
        if (expected) {
            return;
        }
        vmFailure = reason;
        LOG.warn("the VM stopped under the pod; its processes are reported exited", "reason", reason,
                "status", VM_DIED_STATUS);
        for (Proc proc : byHandle.values()) {
            proc.exit(VM_DIED_STATUS);
            proc.stdio.close();
        }
    }

    /** Whether {@code pid} is the guest pid of a running container's init here (the pids Create/Start reported). */
    private boolean isGuestPid(int pid) {
        return pid > 0 && containers.values().stream().anyMatch(c -> runningPid(c.init) == pid);
    }

    private static int runningPid(Proc p) {
        synchronized (p) {
            return p.status == Status.STOPPED ? 0 : p.pid;
        }
    }

    /** The guest pid of the pod sandbox's init (the container the spec's sandbox-id names), when it runs here. */
    private java.util.OptionalInt sandboxPid(JsonObject hostSpec, String id) {
        if (!hostSpec.has("annotations")) {
            return java.util.OptionalInt.empty();
        }
        var annotations = hostSpec.getAsJsonObject("annotations");
        if (!annotations.has(Main.SANDBOX_ID_ANNOTATION)) {
            return java.util.OptionalInt.empty();
        }
        String sandbox = annotations.get(Main.SANDBOX_ID_ANNOTATION).getAsString();
        Container c = sandbox.equals(id) ? null : containers.get(sandbox);
        int pid = c == null ? 0 : runningPid(c.init);
        return pid > 0 ? java.util.OptionalInt.of(pid) : java.util.OptionalInt.empty();
    }

    // --- Task methods -------------------------------------------------------------------------------------------

    private CreateTaskResponse create(CreateTaskRequest request) throws TtrpcException, IOException {
        String id = validId(request.getId(), "container id");
        if (request.getTerminal() && !request.getStderr().isEmpty()) {
            throw new TtrpcException(Code.INVALID_ARGUMENT, "create " + id + ": a terminal has no separate stderr");
        }
        if (!request.getCheckpoint().isEmpty()) {
            throw new TtrpcException(Code.UNIMPLEMENTED, "the vm runtime cannot restore checkpoints");
        }
        if (request.getBundle().isEmpty()) {
            throw new TtrpcException(Code.INVALID_ARGUMENT, "create " + id + ": no bundle given");
        }
        Path bundle = Path.of(request.getBundle());
        JsonObject hostSpec = readSpec(bundle.resolve("config.json"));
        if (containers.containsKey(id)) {
            throw new TtrpcException(Code.ALREADY_EXISTS, "container " + id + " already exists");
        }
        Path share = Vm.shareDir(stateDir).resolve(id);
        String guestBundle = Vm.GUEST_SHARE + "/" + id;
        var rewritten = GuestSpec.rewrite(hostSpec, id, guestBundle, this::isGuestPid, sandboxPid(hostSpec, id));
        Vm vm = vm(rewritten.networkNamespace(),
                hostSpec.has("annotations") ? hostSpec.getAsJsonObject("annotations") : new JsonObject());
        // crun asks for a console socket exactly when the spec says terminal: keep the two in step.
        if (rewritten.spec().has("process")) {
            rewritten.spec().getAsJsonObject("process").addProperty("terminal", request.getTerminal());
        }
        var proc = new Proc(id, "", request.getStdin(), request.getStdout(), request.getStderr(), request.getTerminal());
        Container container = null;
        boolean mountedRootfs = false;
        var mounted = new ArrayList<Path>();
        try {
            Files.createDirectories(share.resolve("rootfs"));
            Path rootfs = bundle.resolve("rootfs");
            if (request.getRootfsCount() > 0) {
                Files.createDirectories(rootfs);
                for (Mount m : request.getRootfsList()) {
                    mountRootfs(m, rootfs);
                }
                mountedRootfs = true;
            } else {
                JsonObject root = hostSpec.has("root") ? hostSpec.getAsJsonObject("root") : new JsonObject();
                if (root.has("path")) {
                    rootfs = bundle.resolve(root.get("path").getAsString());
                }
            }
            if (!Files.isDirectory(rootfs)) {
                throw new TtrpcException(Code.INVALID_ARGUMENT, "create " + id + ": rootfs " + rootfs + " is not a directory");
            }
            bind(rootfs.toString(), share.resolve("rootfs"), false);
            mounted.add(share.resolve("rootfs"));
            for (GuestSpec.HostBind b : rewritten.binds()) {
                Path source = Path.of(b.source());
                if (!Files.exists(source)) {
                    throw new TtrpcException(Code.INVALID_ARGUMENT, "create " + id + ": bind mount source "
                            + source + " does not exist");
                }
                Path target = share.resolve("mounts").resolve(b.name());
                Files.createDirectories(target.getParent());
                if (Files.isDirectory(source)) {
                    Files.createDirectories(target);
                } else if (!Files.exists(target)) {
                    Files.createFile(target);
                }
                bind(b.source(), target, b.readOnly());
                mounted.add(target);
            }
            if (rewritten.shmSource().isPresent()) {
                ensureGuestShm(vm, Path.of(rewritten.shmSource().get()));
            }
            Files.writeString(share.resolve("config.json"), GSON.toJson(rewritten.spec()));
            container = new Container(id, bundle, share, mountedRootfs, proc);
            container.mounts.addAll(mounted);
            byHandle.put(proc.handle, proc);
            proc.stdio.holdStdin(request.getStdin());
            List<String> answer = vm.agent().call(AGENT_TIMEOUT, "create", Integer.toString(proc.handle), id,
                    guestBundle, request.getStdin().isEmpty() ? "0" : "1", request.getTerminal() ? "1" : "0");
            synchronized (proc) {
                proc.pid = Integer.parseInt(answer.getFirst());
            }
            proc.startStdin(vm.agent());
            containers.put(id, container);
        } catch (TtrpcException | IOException | RuntimeException e) {
            byHandle.remove(proc.handle);
            proc.stdio.close();
            unmountAll(mounted);
            if (mountedRootfs) {
                unmount(bundle.resolve("rootfs"));
            }
            deleteTree(share);
            if (e instanceof IOException io && !(e instanceof AgentChannel.AgentException)) {
                throw new TtrpcException(Code.UNKNOWN, "create " + id + ": " + io.getMessage(), io);
            }
            throw e;
        }
        events.publish("/tasks/create", TaskCreate.newBuilder().setContainerId(id).setBundle(request.getBundle())
                .addAllRootfs(request.getRootfsList())
                .setIo(TaskIO.newBuilder().setStdin(request.getStdin()).setStdout(request.getStdout())
                        .setStderr(request.getStderr()).setTerminal(request.getTerminal()))
                .setPid(proc.pid).build());
        LOG.info("container created", "id", id, "pid", proc.pid);
        return CreateTaskResponse.newBuilder().setPid(proc.pid).build();
    }

    private StartResponse start(StartRequest request) throws TtrpcException, IOException {
        Container c = container(request.getId());
        Proc proc = process(c, request.getExecId());
        synchronized (proc) {
            if (proc.status != Status.CREATED || proc.starting) {
                throw new TtrpcException(Code.FAILED_PRECONDITION, describe(proc) + " is " + proc.status
                        + ", not created");
            }
            proc.starting = true;
        }
        try {
            List<String> answer = vm().agent().call(AGENT_TIMEOUT, "start", Integer.toString(proc.handle));
            synchronized (proc) {
                proc.pid = Integer.parseInt(answer.getFirst());
                if (proc.status == Status.CREATED) {
                    proc.status = Status.RUNNING;
                }
                if (proc.execId.isEmpty()) {
                    events.publish("/tasks/start", TaskStart.newBuilder().setContainerId(c.id).setPid(proc.pid).build());
                } else {
                    events.publish("/tasks/exec-started", TaskExecStarted.newBuilder().setContainerId(c.id)
                            .setExecId(proc.execId).setPid(proc.pid).build());
                }
                return StartResponse.newBuilder().setPid(proc.pid).build();
            }
        } finally {
            synchronized (proc) {
                proc.starting = false;
                if (proc.exitPending) {
                    proc.exitPending = false;
                    proc.publishExit();
                }
            }
        }
    }

    private StateResponse state(StateRequest request) throws TtrpcException {
        Container c = container(request.getId());
        Proc proc = process(c, request.getExecId());
        synchronized (proc) {
            var state = StateResponse.newBuilder().setId(proc.eventId()).setBundle(c.bundle.toString())
                    .setPid(proc.pid).setStatus(proc.status).setStdin(proc.stdin).setStdout(proc.stdout)
                    .setStderr(proc.stderr).setExecId(proc.execId).setExitStatus(proc.exitStatus);
            if (proc.exitedAt != null) {
                state.setExitedAt(EventPublisher.timestamp(proc.exitedAt));
            }
            return state.build();
        }
    }

    private Empty kill(KillRequest request) throws TtrpcException, IOException {
        Container c = container(request.getId());
        Proc proc = process(c, request.getExecId());
        synchronized (proc) {
            if (proc.status == Status.STOPPED && !request.getAll()) {
                throw new TtrpcException(Code.NOT_FOUND, "process already finished");
            }
        }
        vm().agent().call(AGENT_TIMEOUT, "kill", Integer.toString(proc.handle), Integer.toString(request.getSignal()),
                request.getAll() ? "1" : "0");
        return Empty.getDefaultInstance();
    }

    private DeleteResponse delete(DeleteRequest request) throws TtrpcException, IOException {
        Container c = container(request.getId());
        Proc proc = process(c, request.getExecId());
        synchronized (proc) {
            if (proc.status == Status.RUNNING || proc.starting) {
                throw new TtrpcException(Code.FAILED_PRECONDITION, describe(proc) + " is running; kill it first");
            }
        }
        Vm current = vm;
        if (current != null && current.isAlive()) {
            current.agent().call(AGENT_TIMEOUT, "delete", Integer.toString(proc.handle));
        }
        byHandle.remove(proc.handle);
        proc.stdio.close();
        if (proc.execId.isEmpty()) {
            for (Proc exec : c.execs.values()) {
                byHandle.remove(exec.handle);
                exec.stdio.close();
            }
            unmountAll(c.mounts);
            if (c.mountedRootfs) {
                unmount(c.bundle.resolve("rootfs"));
            }
            deleteTree(c.share);
            containers.remove(c.id);
        } else {
            c.execs.remove(proc.execId);
            Files.deleteIfExists(c.share.resolve("exec-" + proc.execId + ".json"));
        }
        Instant exitedAt;
        int status;
        synchronized (proc) {
            exitedAt = proc.exitedAt != null ? proc.exitedAt : Instant.now();
            status = proc.exitStatus;
        }
        if (proc.execId.isEmpty()) {
            events.publish("/tasks/delete", TaskDelete.newBuilder().setContainerId(c.id).setId(c.id).setPid(proc.pid)
                    .setExitStatus(status).setExitedAt(EventPublisher.timestamp(exitedAt)).build());
        }
        return DeleteResponse.newBuilder().setPid(proc.pid).setExitStatus(status)
                .setExitedAt(EventPublisher.timestamp(exitedAt)).build();
    }

    private WaitResponse await(WaitRequest request) throws TtrpcException {
        Proc proc = process(container(request.getId()), request.getExecId());
        try {
            proc.exited.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new TtrpcException(Code.CANCELLED, "wait interrupted");
        } catch (ExecutionException e) {
            throw new TtrpcException(Code.UNKNOWN, "wait: " + e.getCause().getMessage());
        }
        synchronized (proc) {
            return WaitResponse.newBuilder().setExitStatus(proc.exitStatus)
                    .setExitedAt(EventPublisher.timestamp(proc.exitedAt)).build();
        }
    }

    private Empty exec(ExecProcessRequest request) throws TtrpcException, IOException {
        Container c = container(request.getId());
        String execId = validId(request.getExecId(), "exec id");
        if (request.getTerminal() && !request.getStderr().isEmpty()) {
            throw new TtrpcException(Code.INVALID_ARGUMENT, "exec " + execId + ": a terminal has no separate stderr");
        }
        JsonObject process;
        try {
            process = JsonParser.parseString(request.getSpec().getValue().toStringUtf8()).getAsJsonObject();
        } catch (JsonParseException | IllegalStateException e) {
            throw new TtrpcException(Code.INVALID_ARGUMENT, "exec " + execId + ": the process spec is not a JSON object");
        }
        process.remove("apparmorProfile");
        process.remove("selinuxLabel");
        process.addProperty("terminal", request.getTerminal());
        var proc = new Proc(c.id, execId, request.getStdin(), request.getStdout(), request.getStderr(),
                request.getTerminal());
        if (c.execs.putIfAbsent(execId, proc) != null) {
            proc.stdio.close();
            throw new TtrpcException(Code.ALREADY_EXISTS, "exec " + execId + " of container " + c.id + " already exists");
        }
        String file = "exec-" + execId + ".json";
        try {
            Files.writeString(c.share.resolve(file), GSON.toJson(process));
            byHandle.put(proc.handle, proc);
            proc.stdio.holdStdin(request.getStdin());
            vm().agent().call(AGENT_TIMEOUT, "exec", Integer.toString(proc.handle), c.id,
                    Vm.GUEST_SHARE + "/" + c.id + "/" + file, request.getStdin().isEmpty() ? "0" : "1",
                    request.getTerminal() ? "1" : "0");
            proc.startStdin(vm().agent());
        } catch (TtrpcException | IOException | RuntimeException e) {
            c.execs.remove(execId);
            byHandle.remove(proc.handle);
            proc.stdio.close();
            Files.deleteIfExists(c.share.resolve(file));
            throw e;
        }
        events.publish("/tasks/exec-added", TaskExecAdded.newBuilder().setContainerId(c.id).setExecId(execId).build());
        return Empty.getDefaultInstance();
    }

    /** TIOCSWINSZ on the process's pty in the guest; a process without a terminal has nothing to resize (as runc's). */
    private Empty resizePty(ResizePtyRequest request) throws TtrpcException, IOException {
        Proc proc = process(container(request.getId()), request.getExecId());
        if (!proc.terminal) {
            return Empty.getDefaultInstance();
        }
        if (request.getWidth() <= 0 || request.getHeight() <= 0 || request.getWidth() > 0xffff
                || request.getHeight() > 0xffff) {
            throw new TtrpcException(Code.INVALID_ARGUMENT, "resize " + describe(proc) + ": bad terminal size "
                    + request.getWidth() + "x" + request.getHeight());
        }
        vm().agent().call(AGENT_TIMEOUT, "resize", Integer.toString(proc.handle),
                Integer.toString(request.getHeight()), Integer.toString(request.getWidth()));
        return Empty.getDefaultInstance();
    }

    /** Releases the shim's hold on the stdin FIFO: the process's stdin ends after what the clients wrote. */
    private Empty closeIo(CloseIORequest request) throws TtrpcException {
        Proc proc = process(container(request.getId()), request.getExecId());
        if (request.getStdin()) {
            proc.stdio.closeStdin();
        }
        return Empty.getDefaultInstance();
    }

    private PidsResponse pids(PidsRequest request) throws TtrpcException, IOException {
        Container c = container(request.getId());
        List<String> answer = vm().agent().call(AGENT_TIMEOUT, "pids", c.id);
        var response = PidsResponse.newBuilder();
        for (String line : (answer.isEmpty() ? "" : answer.getFirst()).split("\n")) {
            if (!line.isBlank()) {
                response.addProcesses(ProcessInfo.newBuilder().setPid(Integer.parseInt(line.strip())));
            }
        }
        return response.build();
    }

    private StatsResponse stats(StatsRequest request) throws TtrpcException, IOException {
        Container c = container(request.getId());
        List<String> answer = vm().agent().call(AGENT_TIMEOUT, "stats", c.id);
        return StatsResponse.newBuilder().setStats(GuestMetrics.toAny(GuestMetrics.parse(answer))).build();
    }

    private Empty update(UpdateTaskRequest request) throws TtrpcException, IOException {
        Container c = container(request.getId());
        String json = request.getResources().getValue().toStringUtf8();
        String memoryLimit;
        try {
            memoryLimit = memoryLimit(JsonParser.parseString(json).getAsJsonObject());
        } catch (JsonParseException | IllegalStateException e) {
            throw new TtrpcException(Code.INVALID_ARGUMENT, "update " + c.id + ": the resources are not a JSON object");
        } catch (IllegalArgumentException e) {
            throw new TtrpcException(Code.INVALID_ARGUMENT, "update " + c.id + ": " + e.getMessage());
        }
        // A new name for every update: virtiofs (cache=auto) lets the guest keep a name's lookup for a second, and a
        // file replaced under the same name within it was read as the previous update's (its values applied again).
        String name = "resources-" + updates.getAndIncrement() + ".json";
        Path file = c.share.resolve(name);
        Files.writeString(file, json);
        try {
            // a memory limit goes along for the agent's check against the usage (cgroup v2 takes any memory.max,
            // and OOM-kills; v1 refuses a limit below the usage)
            String guestFile = Vm.GUEST_SHARE + "/" + c.id + "/" + name;
            if (memoryLimit.isEmpty()) {
                vm().agent().call(AGENT_TIMEOUT, "update", c.id, guestFile);
            } else {
                vm().agent().call(AGENT_TIMEOUT, "update", c.id, guestFile, memoryLimit);
            }
        } finally {
            Files.deleteIfExists(file);
        }
        return Empty.getDefaultInstance();
    }

    /**
     * {@code memory.limit} of OCI linux.resources in bytes when it sets one (positive), else empty.
     *
     * @throws IllegalArgumentException when memory is no object or its limit no whole number
     */
    static String memoryLimit(JsonObject resources) {
        var memory = resources.get("memory");
        if (memory == null || memory.isJsonNull()) {
            return "";
        }
        if (!memory.isJsonObject()) {
            throw new IllegalArgumentException("memory is not an object");
        }
        var limit = memory.getAsJsonObject().get("limit");
        if (limit == null || limit.isJsonNull()) {
            return "";
        }
        long bytes;
        try {
            if (!limit.isJsonPrimitive() || !limit.getAsJsonPrimitive().isNumber()) {
                throw new NumberFormatException();
            }
            bytes = limit.getAsBigDecimal().longValueExact();
        } catch (NumberFormatException | ArithmeticException e) {
            throw new IllegalArgumentException("memory.limit is not a whole number: " + limit);
        }
        return bytes > 0 ? Long.toString(bytes) : "";
    }

    private ConnectResponse connect(ConnectRequest request) {
        var response = ConnectResponse.newBuilder().setShimPid((int) ProcessHandle.current().pid()).setVersion(VERSION);
        Container c = containers.get(request.getId());
        if (c != null) {
            synchronized (c.init) {
                response.setTaskPid(c.init.pid);
            }
        }
        return response.build();
    }

    private Empty shutdown(ShutdownRequest request) {
        if (!containers.isEmpty() && !request.getNow()) {
            return Empty.getDefaultInstance(); // still owns tasks: keep serving, as the runc shim does
        }
        Thread.ofVirtual().name("vm-shim-exit").start(() -> {
            try {
                Thread.sleep(50); // let the answer go out first
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            exit.run();
        });
        return Empty.getDefaultInstance();
    }

    /** Stops the VM and removes what the shim made (the exit path of Shutdown and of signals). */
    void close() {
        var forwards = portForwards;
        if (forwards != null) {
            forwards.close();
        }
        for (Container c : List.copyOf(containers.values())) {
            unmountAll(c.mounts);
            if (c.mountedRootfs) {
                unmount(c.bundle.resolve("rootfs"));
            }
            deleteTree(c.share);
        }
        containers.clear();
        synchronized (bootLock) {
            if (vm != null) {
                vm.close();
            }
            network.ifPresent(PodNetwork::disconnect);
        }
        deleteTree(Vm.shareDir(stateDir));
    }

    /** Without a size to copy, the size Bollard gives a runc pod's /dev/shm. */
    static final long DEFAULT_SHM_BYTES = 64L << 20;

    /**
     * The pod's /dev/shm in the guest: one tmpfs the pod's containers bind (the agent mounts it once; later calls
     * answer at once), as large as the host tmpfs Bollard made for the pod, so a VM pod's /dev/shm is sized as a
     * runc pod's.
     */
    private void ensureGuestShm(Vm vm, Path hostShm) throws IOException {
        long bytes = DEFAULT_SHM_BYTES;
        try {
            var store = Files.getFileStore(hostShm);
            if (store.type().equals("tmpfs") && store.getTotalSpace() > 0) {
                bytes = store.getTotalSpace();
            }
        } catch (IOException e) {
            LOG.debug("cannot size the pod's /dev/shm from the host's", "path", hostShm, "error", e.getMessage());
        }
        vm.agent().call(AGENT_TIMEOUT, "shm", Long.toString(bytes));
    }

    // --- helpers ------------------------------------------------------------------------------------------------

    private Container container(String id) throws TtrpcException {
        Container c = containers.get(id);
        if (c == null) {
            throw new TtrpcException(Code.NOT_FOUND, "container " + id + " not found");
        }
        return c;
    }

    private static Proc process(Container c, String execId) throws TtrpcException {
        if (execId.isEmpty()) {
            return c.init;
        }
        Proc proc = c.execs.get(execId);
        if (proc == null) {
            throw new TtrpcException(Code.NOT_FOUND, "exec " + execId + " of container " + c.id + " not found");
        }
        return proc;
    }

    private static String describe(Proc proc) {
        return proc.execId.isEmpty() ? "container " + proc.containerId
                : "exec " + proc.execId + " of container " + proc.containerId;
    }

    static String validId(String id, String what) throws TtrpcException {
        if (!ID.matcher(id).matches()) {
            throw new TtrpcException(Code.INVALID_ARGUMENT, "invalid " + what + " \"" + id
                    + "\": expected letters, digits, '_', '.' or '-' (at most 128, not starting with a symbol)");
        }
        return id;
    }

    private static JsonObject readSpec(Path file) throws TtrpcException {
        try {
            return JsonParser.parseString(Files.readString(file, StandardCharsets.UTF_8)).getAsJsonObject();
        } catch (NoSuchFileException e) {
            throw new TtrpcException(Code.NOT_FOUND, "no OCI config at " + file);
        } catch (IOException | JsonParseException | IllegalStateException e) {
            throw new TtrpcException(Code.INVALID_ARGUMENT, "unreadable OCI config " + file + ": " + e.getMessage());
        }
    }

    private static void mountRootfs(Mount m, Path target) throws IOException {
        List<String> options = new ArrayList<>(m.getOptionsList());
        long flags = 0;
        if (m.getType().equals("bind") || options.contains("bind") || options.contains("rbind")) {
            bind(m.getSource(), target, options.contains("ro"));
            return;
        }
        if (options.remove("ro")) {
            flags |= Syscalls.MS_RDONLY;
        }
        options.remove("rw");
        Syscalls.mount(m.getSource(), target, m.getType(), flags, options.isEmpty() ? null : String.join(",", options));
    }

    private static void bind(String source, Path target, boolean readOnly) throws IOException {
        Syscalls.mount(source, target, null, Syscalls.MS_BIND | MS_REC, null);
        if (readOnly) {
            try {
                Syscalls.mount(null, target, null, Syscalls.MS_BIND | MS_REMOUNT | Syscalls.MS_RDONLY, null);
            } catch (IOException e) {
                unmount(target);
                throw e;
            }
        }
    }

    private static void unmountAll(List<Path> mounts) {
        for (Path m : mounts.reversed()) {
            unmount(m);
        }
    }

    private static void unmount(Path target) {
        try {
            Syscalls.umount2(target, Syscalls.MNT_DETACH);
        } catch (IOException e) {
            LOG.debug("unmount failed", "target", target, "error", e.getMessage());
        }
    }

    /**
     * Removes a directory tree after detaching whatever is still mounted in it; if a mount cannot be detached the
     * tree stays (a walk would otherwise delete a volume's or a rootfs's files through it).
     */
    static void deleteTree(Path dir) {
        if (!Files.exists(dir)) {
            return;
        }
        try {
            MountInfo.unmountBelow(dir);
            List<Path> left = MountInfo.mountPointsBelow(dir);
            if (!left.isEmpty()) {
                LOG.warn("directory still has mounts; not removed", "dir", dir, "mounts", left);
                return;
            }
        } catch (IOException e) {
            LOG.warn("cannot check the mounts below a directory; not removed", "dir", dir, "error", e.getMessage());
            return;
        }
        try (Stream<Path> paths = Files.walk(dir)) {
            for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        } catch (IOException | java.io.UncheckedIOException e) {
            LOG.warn("cannot remove directory", "dir", dir, "error", e.getMessage());
        }
    }
}
