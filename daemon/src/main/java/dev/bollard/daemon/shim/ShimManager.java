package dev.bollard.daemon.shim;

import com.google.protobuf.Any;
import com.google.protobuf.InvalidProtocolBufferException;
import dev.bollard.api.containerd.runc.v1.Options;
import dev.bollard.api.containerd.services.events.v1.ForwardRequest;
import dev.bollard.api.containerd.task.v2.DeleteResponse;
import dev.bollard.daemon.linux.UnixSockets;
import dev.bollard.daemon.log.Log;
import dev.bollard.daemon.shim.ttrpc.TtrpcClient;
import dev.bollard.daemon.shim.ttrpc.TtrpcHandler;
import dev.bollard.daemon.shim.ttrpc.TtrpcServer;
import dev.bollard.daemon.store.AtomicFiles;
import dev.bollard.daemon.store.FileTrees;
import io.netty.channel.epoll.EpollEventLoopGroup;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * Starts containerd shim v2 processes (one per pod, or one per group of pods: {@link ShimGroup}), connects to them,
 * and receives their task events.
 *
 * <p>A shared shim lives in a directory of its own, {@code <stateDir>/groups/<shim id>} (its working directory,
 * with a minimal {@code config.json}, its {@code log} FIFO and {@code address}), so that it outlives whichever pod
 * started it. Each of its pods' bundles holds {@code address} (the shim's, as for a pod's own shim) and
 * {@value #GROUP_FILE} (the shim id, group and capacity), from which a restarted daemon finds the shim again.
 *
 * <p>What a shim needs (containerd-shim-runc-v2 1.6; see the tests):
 * <ul>
 *   <li>The pod's bundle directory as working directory, holding {@code config.json} whose
 *       {@code io.kubernetes.cri.sandbox-id} annotation names the pod: the shim's socket is
 *       {@code /run/containerd/s/sha256(<address>/<namespace>/<sandbox-id>)}, so every container of the pod
 *       started with the same annotation lands in the same shim (a second {@code start} starts no process).</li>
 *   <li>A FIFO named {@code log} in the bundle with a reader on it (made and read here).</li>
 *   <li>{@code TTRPC_ADDRESS} in its environment: where it publishes events, with ttrpc
 *       {@code containerd.services.events.ttrpc.v1.Events/Forward} (served here).</li>
 *   <li>A bundle directory named after the task id: the shim's {@code delete} action looks for the task in
 *       {@code <parent of its working directory>/<id>}.</li>
 * </ul>
 *
 * <p>{@link #close()} stops the events server and closes connections but leaves the shims running, so pods survive a
 * daemon restart ({@link #connect} finds them again).
 */
public final class ShimManager implements TaskServices, AutoCloseable {

    /** The {@code start} action: the shim forks its daemon and prints the address. */
    public static final Duration START_COMMAND_TIMEOUT = Duration.ofSeconds(30);
    /** The {@code delete} action runs {@code runc delete --force} and unmounts. */
    public static final Duration DELETE_COMMAND_TIMEOUT = Duration.ofSeconds(30);
    public static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(10);
    /**
     * Passed as {@code -publish-binary}. containerd-shim-runc-v2 1.6 never executes it (it forwards events over
     * ttrpc to {@code TTRPC_ADDRESS}); a shim that did would fail to publish rather than run something unexpected.
     */
    public static final String PUBLISH_BINARY = "/bin/false";
    static final String RUNC_OPTIONS_TYPE = "containerd.runc.v1.Options";
    /** In a pod's bundle: which shared shim the pod runs in. */
    public static final String GROUP_FILE = "shim-group";

    private static final Log LOG = Log.get("shim");

    private final Path stateDir;
    private final String namespace;
    private final Path eventsSocket;
    private final TtrpcServer eventsServer;
    private final EpollEventLoopGroup clientGroup;
    private final Path groupsDir;
    private final ShimGroups groups;

    /**
     * @param stateDir  where Bollard keeps its events socket ({@code events.sock}); created if missing. Its path also
     *                  becomes the shims' {@code -address}, which feeds their socket-name hash: keep it stable across
     *                  restarts so that a restarted daemon finds the same shims.
     * @param namespace containerd namespace the shims run in, e.g. {@code k8s.io}
     */
    public ShimManager(Path stateDir, String namespace, ShimEvents events) throws IOException {
        if (namespace == null || namespace.isEmpty()) {
            throw new IllegalArgumentException("a shim namespace is needed");
        }
        this.stateDir = stateDir.toAbsolutePath();
        this.namespace = namespace;
        Files.createDirectories(this.stateDir);
        this.eventsSocket = this.stateDir.resolve("events.sock");
        var router = new EventRouter(namespace, events);
        this.eventsServer = TtrpcServer.start(eventsSocket, Map.of(EventRouter.SERVICE,
                Map.of(EventRouter.METHOD, TtrpcHandler.of(ForwardRequest.parser(), router::forward))));
        this.clientGroup = new EpollEventLoopGroup(1);
        this.groupsDir = this.stateDir.resolve("groups");
        this.groups = new ShimGroups(this::retire);
    }

    /** The shared shims and their pods. */
    public ShimGroups groups() {
        return groups;
    }

    public String namespace() {
        return namespace;
    }

    /** Where shims publish their events ({@code TTRPC_ADDRESS}). */
    public Path eventsSocket() {
        return eventsSocket;
    }

    /** The {@code -address} given to shims. */
    public String address() {
        return eventsSocket.toString();
    }

    /**
     * Starts the pod's shim for {@code bundle} (which holds {@code config.json} with the
     * {@code io.kubernetes.cri.sandbox-id} annotation), connects to it and asks its pid. If a shim for the pod is
     * already running (same sandbox id), this connects to that one and does not follow {@code bundle}'s log FIFO
     * (the running shim writes to the one in the bundle it was started in). Containers of the pod need no start:
     * {@link Shim#create} them in the pod's shim. On failure, a shim process this call started is
     * killed and the IOException carries the shim's output.
     */
    public Shim start(String podId, Path bundle, ShimOptions options) throws IOException, InterruptedException {
        Path dir = bundle.toAbsolutePath();
        if (!Files.isRegularFile(dir.resolve("config.json"))) {
            throw new NoSuchFileException(dir.resolve("config.json").toString(), null,
                    "cannot start the shim of pod " + podId + ": no OCI config in its bundle");
        }
        // No /proc scan on the way of every pod (only a failed start scans): a start that runs a new daemon writes
        // its pid to shim.pid in the working directory; one that joins a running shim writes none.
        long before = dev.bollard.daemon.linux.ProcessClock.ticksSinceBoot();
        Path logFifo = dir.resolve("log");
        boolean fifoExisted = Files.exists(logFifo);
        ShimLogPump pump = ShimLogPump.start(logFifo, podId);
        ShimAddress shimAddress = null;
        try {
            var command = List.of(options.shimBinary().toString(), "-namespace", namespace, "-address", address(),
                    "-publish-binary", PUBLISH_BINARY, "-id", podId, "start");
            // The shim reads its options from stdin (it honours shim_cgroup there).
            var result = ShimCommand.run(command, dir, shimEnvironment(options),
                    runcOptions(options).toByteArray(), START_COMMAND_TIMEOUT);
            if (result.exitCode() != 0) {
                throw new IOException("cannot start the shim of pod " + podId + ": " + result.describe());
            }
            try {
                shimAddress = ShimAddress.parse(result.stdoutText());
            } catch (IllegalArgumentException e) {
                throw new IOException("cannot start the shim of pod " + podId + ": " + e.getMessage(), e);
            }
            Shim shim = open(podId, shimAddress, options, pump);
            if (readPid(dir.resolve("shim.pid")) != shim.shimPid()) {
                // Joined the pod's running shim: it writes its log to the FIFO of the bundle it started in, so
                // this one would never get a writer.
                pump.close();
                if (!fifoExisted) {
                    Files.deleteIfExists(logFifo);
                }
                LOG.debug("shim already running", "pod", podId, "socket", shim.socket(), "pid", shim.shimPid());
                return shim;
            }
            LOG.info("shim started", "pod", podId, "socket", shim.socket(), "pid", shim.shimPid(),
                    "api", shim.apiVersion());
            return shim;
        } catch (IOException e) {
            abandonStart(podId, before, shimAddress, pump, fifoExisted ? null : logFifo);
            String tail = logTail(pump);
            throw tail.isEmpty() ? e : new IOException(e.getMessage() + tail, e);
        } catch (RuntimeException | InterruptedException e) {
            abandonStart(podId, before, shimAddress, pump, fifoExisted ? null : logFifo);
            throw e;
        }
    }

    /**
     * Starts the pod's task service in its group's shared shim (a new shim when the group has none with room), and
     * records the membership in the pod's bundle; a group that is not shared gets {@link #start(String, Path,
     * ShimOptions)}.
     */
    @Override
    public TaskService start(String podId, Path bundle, ShimOptions options, ShimGroup group)
            throws IOException, InterruptedException {
        if (!group.shared()) {
            return start(podId, bundle, options);
        }
        var member = groups.join(podId, group, shimId -> startShared(shimId, options));
        try {
            Path dir = bundle.toAbsolutePath();
            var record = new com.google.gson.JsonObject();
            record.addProperty("shim", member.shimId());
            record.addProperty("group", group.key());
            record.addProperty("capacity", group.capacity());
            // shim-group before address: a bundle with an address and no membership is a shim of the pod's own
            AtomicFiles.write(dir.resolve(GROUP_FILE), record.toString().getBytes(StandardCharsets.UTF_8));
            AtomicFiles.write(dir.resolve("address"), Files.readAllBytes(groupDir(member.shimId()).resolve("address")));
        } catch (IOException | RuntimeException e) {
            member.shutdown();
            throw e;
        }
        return member;
    }

    private Path groupDir(String shimId) {
        return groupsDir.resolve(shimId);
    }

    /** A shared shim in a directory of its own, named {@code shimId} (the shim needs a config.json to start in). */
    private Shim startShared(String shimId, ShimOptions options) throws IOException, InterruptedException {
        Path dir = groupDir(shimId);
        Files.createDirectories(dir);
        try {
            var spec = "{\"ociVersion\":\"1.0.2\",\"annotations\":{\"io.kubernetes.cri.sandbox-id\":\"" + shimId + "\"}}";
            AtomicFiles.write(dir.resolve("config.json"), spec.getBytes(StandardCharsets.UTF_8));
            return start(shimId, dir, options);
        } catch (IOException | InterruptedException | RuntimeException e) {
            FileTrees.deleteTree(dir);
            throw e;
        }
    }

    /** A shared shim's last pod left (and the shim was shut down, or had died): its directory goes. */
    private void retire(String shimId) {
        Path dir = groupDir(shimId);
        removeStaleSocket(dir.resolve("address"));
        try {
            FileTrees.deleteTree(dir);
        } catch (IOException e) {
            LOG.warn("cannot remove a shared shim's directory", "dir", dir, "error", e.getMessage());
        }
        LOG.info("shared shim retired", "shim", shimId);
    }

    private static long readPid(Path pidFile) {
        try {
            return Long.parseLong(Files.readString(pidFile).strip());
        } catch (IOException | NumberFormatException e) {
            return 0;
        }
    }

    private void abandonStart(String podId, long before, ShimAddress address, ShimLogPump pump,
                              Path createdFifo) throws IOException {
        killStarted(podId, before, address);
        // A dead shim's last words are on their way through the FIFO: give the reader a moment to see its EOF.
        pump.awaitEnd(Duration.ofMillis(500));
        pump.close();
        if (createdFifo != null) {
            Files.deleteIfExists(createdFifo);
        }
    }

    /**
     * Connects to a running shim from the bundle's {@code address} file (daemon restart recovery), and follows its
     * {@code log} FIFO again.
     */
    public TaskService connect(String podId, Path bundle, ShimOptions options) throws IOException {
        return connect(podId, bundle, options, true);
    }

    /**
     * Without the Connect call, which only asks the shim its pid: the pid comes from the {@code shim.pid} file the
     * shim wrote in its directory (Connect when that is missing). One round trip fewer per pod in a restart's
     * recovery, whose State call right after finds a shim that does not answer.
     */
    @Override
    public TaskService connectToAsk(String podId, Path bundle, ShimOptions options) throws IOException {
        return connect(podId, bundle, options, false);
    }

    private TaskService connect(String podId, Path bundle, ShimOptions options, boolean probe) throws IOException {
        Path dir = bundle.toAbsolutePath();
        Path groupFile = dir.resolve(GROUP_FILE);
        if (Files.exists(groupFile)) {
            String shimId;
            ShimGroup group;
            try {
                var record = com.google.gson.JsonParser.parseString(Files.readString(groupFile)).getAsJsonObject();
                shimId = record.get("shim").getAsString();
                group = new ShimGroup(record.get("group").getAsString(), record.get("capacity").getAsInt());
                if (!shimId.matches("group-[0-9a-f]{32}")) {
                    throw new IllegalArgumentException("shim id \"" + shimId + "\" is not one Bollard makes");
                }
            } catch (RuntimeException e) {
                throw new IOException("cannot read the shared shim of pod " + podId + " from " + groupFile + ": "
                        + e.getMessage(), e);
            }
            return groups.rejoin(podId, shimId, group, id -> connectOwn(id, groupDir(id), options, probe));
        }
        return connectOwn(podId, dir, options, probe);
    }

    private Shim connectOwn(String podId, Path dir, ShimOptions options, boolean probe) throws IOException {
        Path addressFile = dir.resolve("address");
        ShimAddress shimAddress;
        try {
            shimAddress = ShimAddress.parse(Files.readString(addressFile));
        } catch (NoSuchFileException e) {
            throw new NoSuchFileException(addressFile.toString(), null, "no shim address for pod " + podId);
        } catch (IllegalArgumentException e) {
            throw new IOException("cannot read the shim address of pod " + podId + " from " + addressFile + ": "
                    + e.getMessage(), e);
        }
        Path logFifo = dir.resolve("log");
        ShimLogPump pump = Files.exists(logFifo) ? ShimLogPump.start(logFifo, podId) : null;
        long pid = probe ? 0 : readPid(dir.resolve("shim.pid"));
        try {
            return open(podId, shimAddress, options, pump, (int) pid);
        } catch (IOException | RuntimeException e) {
            if (pump != null) {
                pump.close();
            }
            throw e;
        }
    }

    private Shim open(String podId, ShimAddress address, ShimOptions options, ShimLogPump pump) throws IOException {
        return open(podId, address, options, pump, 0);
    }

    /** @param knownPid the shim's pid when known (its {@code shim.pid} file); 0: asked with a Connect call */
    private Shim open(String podId, ShimAddress address, ShimOptions options, ShimLogPump pump, int knownPid)
            throws IOException {
        TtrpcClient client;
        try {
            client = TtrpcClient.connect(address.socket(), clientGroup, CONNECT_TIMEOUT);
        } catch (IOException e) {
            throw new IOException("cannot connect to the shim of pod " + podId + ": " + e.getMessage(), e);
        }
        try {
            return knownPid > 0 ? Shim.reconnected(podId, address, namespace, options, client, pump, knownPid)
                    : Shim.connected(podId, address, namespace, options, client, pump);
        } catch (IOException | RuntimeException e) {
            client.close();
            throw e;
        }
    }

    /**
     * Runs {@code <shim> … -id <id> -bundle <bundle> delete} for a task whose shim died: the shim force-deletes the
     * runc container (killing what is left of it), unmounts the rootfs and prints how the init process ended
     * (containerd's shim reports 137, SIGKILL, with its pid). Empty when there is nothing to clean: no bundle, or
     * no task was ever created in it. Idempotent. Also removes the pod's shim socket when nothing answers on it.
     *
     * @param bundle the task's bundle, whose directory name must be {@code id} (the shim derives the path from it)
     */
    public Optional<ExitInfo> cleanupDead(String id, Path bundle, ShimOptions options)
            throws IOException, InterruptedException {
        Path dir = bundle.toAbsolutePath();
        if (!dir.getFileName().toString().equals(id)) {
            throw new IllegalArgumentException("bundle " + dir + " of task " + id
                    + " must be named after the task: the shim's delete looks in <parent>/" + id);
        }
        if (!Files.isDirectory(dir)) {
            return Optional.empty();
        }
        removeStaleSocket(dir.resolve("address"));
        var command = List.of(options.shimBinary().toString(), "-namespace", namespace, "-address", address(),
                "-publish-binary", PUBLISH_BINARY, "-id", id, "-bundle", dir.toString(), "delete");
        var result = ShimCommand.run(command, dir, shimEnvironment(options), new byte[0],
                DELETE_COMMAND_TIMEOUT);
        if (result.exitCode() != 0) {
            // The shim records the OCI runtime in <bundle>/runtime at Create; without it no task ever existed.
            if (result.stderr().contains(dir.resolve("runtime") + ": no such file or directory")) {
                return Optional.empty();
            }
            throw new IOException("cannot clean up task " + id + ": " + result.describe());
        }
        DeleteResponse response;
        try {
            response = DeleteResponse.parseFrom(result.stdout());
        } catch (InvalidProtocolBufferException e) {
            throw new IOException("cannot clean up task " + id + ": unreadable DeleteResponse from "
                    + String.join(" ", command) + ": " + e.getMessage(), e);
        }
        LOG.info("dead task cleaned up", "id", id, "pid", response.getPid(), "exit", response.getExitStatus());
        return Optional.of(new ExitInfo(response.getPid(), response.getExitStatus(),
                Shim.instant(response.getExitedAt())));
    }

    private static void removeStaleSocket(Path addressFile) {
        try {
            removeStaleSocketAt(Files.readString(addressFile));
        } catch (IOException e) {
            // No address file: nothing stale to remove.
        }
    }

    /** Removes the socket a shim printed as its address, once nothing answers on it. */
    private static void removeStaleSocketAt(String address) {
        try {
            Path socket = ShimAddress.parse(address).socket();
            if (UnixSockets.probe(socket) == UnixSockets.PathState.STALE_SOCKET) {
                Files.deleteIfExists(socket);
                LOG.info("stale shim socket removed", "socket", socket);
            }
        } catch (IOException | IllegalArgumentException e) {
            // no socket: nothing stale to remove
        }
    }

    private Map<String, String> shimEnvironment(ShimOptions options) {
        var env = new java.util.HashMap<>(options.environment());
        env.put("TTRPC_ADDRESS", eventsSocket.toString());
        return env;
    }

    static Any runcOptions(ShimOptions options) {
        var runc = Options.newBuilder()
                .setBinaryName(options.binaryName())
                .setSystemdCgroup(options.systemdCgroup());
        options.runtimeRoot().ifPresent(root -> runc.setRoot(root.toString()));
        return Any.newBuilder().setTypeUrl(RUNC_OPTIONS_TYPE).setValue(runc.build().toByteString()).build();
    }

    private static String logTail(ShimLogPump pump) {
        var lines = pump.recentLines();
        if (lines.isEmpty()) {
            return "";
        }
        return "; shim log: " + String.join(" | ", lines.subList(Math.max(0, lines.size() - 5), lines.size()));
    }

    /**
     * Kills the shim daemons for {@code podId} that started since {@code before} (clock ticks since boot) and
     * removes their socket; one running before (a start that joined it) is left alone.
     */
    private void killStarted(String podId, long before, ShimAddress address) {
        var started = new ArrayList<>(ShimCommand.shimDaemons(namespace, podId, address()));
        started.removeIf(pid -> dev.bollard.daemon.linux.ProcessClock.startTicks(pid) < before);
        for (long pid : started) {
            ProcessHandle.of(pid).ifPresent(p -> {
                p.destroyForcibly();
                try {
                    p.onExit().get(5, TimeUnit.SECONDS);
                } catch (Exception e) {
                    LOG.warn("shim did not exit after SIGKILL", "pod", podId, "pid", pid);
                }
            });
            LOG.warn("killed the shim of a failed start", "pod", podId, "pid", pid);
        }
        if (!started.isEmpty() && address != null) {
            try {
                Files.deleteIfExists(address.socket());
            } catch (IOException e) {
                LOG.warn("cannot remove shim socket", "socket", address.socket(), "error", e.getMessage());
            }
        }
    }

    /**
     * Kills (SIGKILL) the shim daemons of this daemon (same namespace and events address) serving none of
     * {@code knownIds}: shims a crash left without a record. Returns what was killed, pid → shim id, for the log.
     */
    public Map<Long, String> killStray(java.util.Set<String> knownIds) {
        var killed = new java.util.TreeMap<Long, String>();
        var sharedShims = groups.shimIds(); // shared shims some recovered pod rejoined
        ShimCommand.shimDaemons(namespace, address()).forEach((pid, id) -> {
            if (knownIds.contains(id) || sharedShims.contains(id)) {
                return;
            }
            // the shim runs in its bundle, which holds the address it serves: read it before the kill, since
            // a killed shim leaves its socket file behind in /run/containerd/s
            Path addressFile = Path.of("/proc", Long.toString(pid), "cwd", "address");
            String address = null;
            try {
                address = Files.readString(addressFile);
            } catch (IOException e) {
                // no bundle, or not written yet: nothing to remove afterwards
            }
            ProcessHandle.of(pid).ifPresent(p -> {
                p.destroyForcibly();
                try {
                    p.onExit().get(5, TimeUnit.SECONDS);
                } catch (Exception e) {
                    LOG.warn("stray shim did not exit after SIGKILL", "id", id, "pid", pid);
                }
            });
            if (address != null) {
                removeStaleSocketAt(address);
            }
            killed.put(pid, id);
        });
        // Directories of shared shims no pod rejoined: their shim (if any) was just killed.
        try (var dirs = Files.list(groupsDir)) {
            for (Path dir : (Iterable<Path>) dirs::iterator) {
                if (!sharedShims.contains(dir.getFileName().toString())) {
                    retire(dir.getFileName().toString());
                }
            }
        } catch (NoSuchFileException e) {
            // no shared shim ever ran
        } catch (IOException e) {
            LOG.warn("cannot list shared shims' directories", "dir", groupsDir, "error", e.getMessage());
        }
        return killed;
    }

    /** Stops the events server and closes all shim connections; the shims keep running. */
    @Override
    public void close() {
        groups.closeAll();
        eventsServer.close();
        clientGroup.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }
}
