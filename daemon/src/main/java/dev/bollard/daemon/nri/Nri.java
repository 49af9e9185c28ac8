package dev.bollard.daemon.nri;

import com.google.gson.JsonObject;
import dev.bollard.api.cri.v1.LinuxContainerResources;
import dev.bollard.api.nri.v1alpha1.ConfigureRequest;
import dev.bollard.api.nri.v1alpha1.ConfigureResponse;
import dev.bollard.api.nri.v1alpha1.ContainerUpdate;
import dev.bollard.api.nri.v1alpha1.CreateContainerRequest;
import dev.bollard.api.nri.v1alpha1.CreateContainerResponse;
import dev.bollard.api.nri.v1alpha1.Empty;
import dev.bollard.api.nri.v1alpha1.Event;
import dev.bollard.api.nri.v1alpha1.RegisterPluginRequest;
import dev.bollard.api.nri.v1alpha1.StateChangeEvent;
import dev.bollard.api.nri.v1alpha1.StopContainerRequest;
import dev.bollard.api.nri.v1alpha1.StopContainerResponse;
import dev.bollard.api.nri.v1alpha1.SynchronizeRequest;
import dev.bollard.api.nri.v1alpha1.SynchronizeResponse;
import dev.bollard.api.nri.v1alpha1.UpdateContainerRequest;
import dev.bollard.api.nri.v1alpha1.UpdateContainerResponse;
import dev.bollard.api.nri.v1alpha1.UpdateContainersRequest;
import dev.bollard.api.nri.v1alpha1.UpdateContainersResponse;
import dev.bollard.daemon.BollardVersion;
import dev.bollard.daemon.config.BollardConfig;
import dev.bollard.daemon.container.Container;
import dev.bollard.daemon.container.ContainerStore;
import dev.bollard.daemon.linux.SocketPairSpawn;
import dev.bollard.daemon.log.Log;
import dev.bollard.daemon.sandbox.Sandbox;
import dev.bollard.daemon.sandbox.SandboxStore;
import dev.bollard.daemon.shim.ttrpc.TtrpcException;
import dev.bollard.daemon.shim.ttrpc.TtrpcHandler;
import io.grpc.Status.Code;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

/**
 * Bollard as an NRI runtime: it serves the plugin socket, starts the pre-installed plugins, and takes each plugin
 * through registration, Configure and Synchronize before it sees any event. Plugins are called in index order.
 *
 * <p>A plugin never stops the node's work: every call waits at most the request timeout, and a plugin that fails
 * a call, times out or closes its connection is disconnected (a pre-installed one killed) with one log line; the
 * pod or container goes on as if it had never been there.
 */
public final class Nri implements NriHooks, AutoCloseable {

    public static final String RUNTIME_NAME = "bollard";
    static final String RUNTIME_SERVICE = "nri.pkg.api.v1alpha1.Runtime";
    private static final Pattern PLUGIN_FILE = Pattern.compile("([0-9]{2})-(.+)");
    private static final Log LOG = Log.get("nri");

    /** Applies a plugin's resource update to a container, as UpdateContainerResources does. */
    @FunctionalInterface
    public interface Updater {
        void update(String containerId, LinuxContainerResources resources) throws IOException;
    }

    private final BollardConfig.Nri config;
    private final SandboxStore sandboxes;
    private final ContainerStore containers;
    private final Updater updater;
    private final List<NriPlugin> plugins = new CopyOnWriteArrayList<>();
    /** Hooks hold it shared; a plugin joining holds it alone while it lists the pods and containers. */
    private final java.util.concurrent.locks.ReentrantReadWriteLock lock = new java.util.concurrent.locks.ReentrantReadWriteLock();
    private ServerSocketChannel listener;
    private volatile boolean closed;

    public Nri(BollardConfig.Nri config, SandboxStore sandboxes, ContainerStore containers, Updater updater) {
        this.config = config;
        this.sandboxes = sandboxes;
        this.containers = containers;
        this.updater = updater;
    }

    /** Binds the socket (unless connections are off) and starts the pre-installed plugins, each in the background. */
    public Nri start() throws IOException {
        if (!config.disableConnections()) {
            Path socket = config.socketPath();
            Files.createDirectories(socket.getParent());
            // a previous daemon's stale socket goes (plugins reconnect to the new one); a live one is another
            // runtime's NRI (containerd's default path is the same), which must not be taken from it
            switch (dev.bollard.daemon.linux.UnixSockets.probe(socket)) {
                case LIVE_SOCKET -> throw new IOException("nri socket " + socket
                        + " is in use: another runtime serves NRI on it; set [nri] socket_path to another path");
                case NOT_A_SOCKET -> throw new IOException("nri socket path " + socket + " exists and is not a socket");
                case STALE_SOCKET -> Files.delete(socket);
                case ABSENT -> { }
            }
            listener = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
            listener.bind(UnixDomainSocketAddress.of(socket));
            Files.setPosixFilePermissions(socket, PosixFilePermissions.fromString("rw-------"));
            Thread.ofVirtual().name("nri-accept").start(this::acceptLoop);
            LOG.info("nri serving", "socket", socket);
        }
        for (var plugin : preInstalled()) {
            Thread.ofVirtual().name("nri-launch").start(() -> launch(plugin));
        }
        return this;
    }

    record PreInstalled(Path file, String index, String name) {
    }

    private List<PreInstalled> preInstalled() {
        var found = new ArrayList<PreInstalled>();
        try (var files = Files.list(config.pluginPath())) {
            for (Path f : files.sorted().toList()) {
                var m = PLUGIN_FILE.matcher(f.getFileName().toString());
                if (m.matches() && Files.isRegularFile(f) && Files.isExecutable(f)) {
                    found.add(new PreInstalled(f, m.group(1), m.group(2)));
                } else {
                    LOG.info("nri: ignoring a file of the plugin directory (not an executable NN-name)", "file", f);
                }
            }
        } catch (java.nio.file.NoSuchFileException e) {
            return List.of();
        } catch (IOException e) {
            LOG.warn("nri: cannot list the plugin directory", "dir", config.pluginPath(), "error", e.getMessage());
        }
        return found;
    }

    /** NN-name.conf, else name.conf, else nothing. */
    String pluginConfig(String index, String name) {
        for (Path p : List.of(config.pluginConfigPath().resolve(index + "-" + name + ".conf"),
                config.pluginConfigPath().resolve(name + ".conf"))) {
            try {
                return Files.readString(p);
            } catch (java.nio.file.NoSuchFileException e) {
                // next
            } catch (IOException e) {
                LOG.warn("nri: cannot read a plugin's configuration", "file", p, "error", e.getMessage());
                return "";
            }
        }
        return "";
    }

    private void launch(PreInstalled p) {
        SocketPairSpawn process;
        try {
            process = SocketPairSpawn.start(p.file(), List.of(p.file().toString()), List.of(
                    "NRI_PLUGIN_NAME=" + p.name(), "NRI_PLUGIN_IDX=" + p.index(), "NRI_PLUGIN_SOCKET=3",
                    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"));
        } catch (IOException | RuntimeException e) {
            LOG.warn("nri: cannot start a pre-installed plugin", "plugin", p.file(), "error", e.getMessage());
            return;
        }
        var trunk = new NriConnection.Trunk() {
            @Override
            public int read(ByteBuffer into) throws IOException {
                return process.read(into);
            }

            @Override
            public void write(ByteBuffer from) throws IOException {
                process.write(from);
            }

            @Override
            public void close() {
                process.close();
            }
        };
        connect(trunk, process, p.name(), p.index(), pluginConfig(p.index(), p.name()));
    }

    private void acceptLoop() {
        while (!closed) {
            SocketChannel channel;
            try {
                channel = listener.accept();
            } catch (IOException e) {
                if (!closed) {
                    LOG.warn("nri: accepting a plugin connection failed", "error", e.getMessage());
                }
                return;
            }
            var trunk = NriConnection.Trunk.of(channel);
            Thread.ofVirtual().name("nri-connect").start(() -> connect(trunk, null, "", "", ""));
        }
    }

    /** Registration, Configure, Synchronize; then the plugin is in the call order. */
    private void connect(NriConnection.Trunk trunk, SocketPairSpawn process, String name, String index, String pluginConfig) {
        var holder = new NriPlugin[1];
        Map<String, TtrpcHandler> methods = Map.of(
                RUNTIME_SERVICE + "/RegisterPlugin", TtrpcHandler.of(RegisterPluginRequest.parser(), r -> {
                    if (holder[0] == null) {
                        throw new TtrpcException(Code.UNAVAILABLE, "not ready");
                    }
                    if (holder[0].external()) {
                        try {
                            checkIdentity(r.getPluginName(), r.getPluginIdx());
                        } catch (TtrpcException e) {
                            holder[0].registered().completeExceptionally(e); // the set-up ends now, not at the timeout
                            throw e;
                        }
                    }
                    holder[0].register(r.getPluginName(), r.getPluginIdx());
                    return Empty.getDefaultInstance();
                }),
                RUNTIME_SERVICE + "/UpdateContainers", TtrpcHandler.of(UpdateContainersRequest.parser(), r -> {
                    var failed = applyUpdates(holder[0], r.getUpdateList());
                    return UpdateContainersResponse.newBuilder().addAllFailed(failed).build();
                }));
        var connection = new NriConnection(trunk, methods, index.isEmpty() ? "external" : index + "-" + name);
        var plugin = new NriPlugin(connection, process, name, index, config.requestTimeout());
        holder[0] = plugin;
        connection.start();
        try {
            plugin.registered().get(config.registrationTimeout().toMillis(), TimeUnit.MILLISECONDS);
            if (!connection.isOpen()) {
                throw new IOException("connection closed");
            }
            ConfigureResponse configured = plugin.call("Configure", ConfigureRequest.newBuilder()
                    .setConfig(pluginConfig).setRuntimeName(RUNTIME_NAME).setRuntimeVersion(BollardVersion.version())
                    .setRegistrationTimeout(config.registrationTimeout().toMillis())
                    .setRequestTimeout(config.requestTimeout().toMillis()).build(), ConfigureResponse.parser());
            if ((configured.getEvents() & ~NriPlugin.VALID_EVENTS) != 0) {
                throw new IOException("plugin subscribed to unknown events 0x"
                        + Integer.toHexString(configured.getEvents() & ~NriPlugin.VALID_EVENTS));
            }
            plugin.subscribe(configured.getEvents());
            // The pods and containers are listed and the plugin joins the call order in one step no lifecycle hook
            // runs through, and Synchronize goes first in its notification queue: it misses no event, nor sees one
            // before the state it follows from. CreateContainer waits for that to finish.
            CompletableFuture<SynchronizeResponse> syncing;
            lock.writeLock().lock();
            try {
                var sync = SynchronizeRequest.newBuilder();
                for (Sandbox s : sandboxes.list()) {
                    sync.addPods(NriMessages.pod(NriHooks.facts(s)));
                }
                for (Container c : containers.list()) {
                    sync.addContainers(NriHooks.message(c));
                }
                if (!join(plugin)) {
                    plugin.close();
                    return;
                }
                var request = sync.build();
                syncing = plugin.submit(() -> plugin.call("Synchronize", request, SynchronizeResponse.parser()));
            } finally {
                lock.writeLock().unlock();
            }
            SynchronizeResponse synced = syncing.get();
            plugin.synchronizedNow();
            applyUpdatesLater(plugin, synced.getUpdateList());
        } catch (java.util.concurrent.ExecutionException e) {
            if (plugin.registered().isCompletedExceptionally()) {
                LOG.warn("nri: plugin registration refused; disconnected", "plugin", plugin,
                        "error", String.valueOf(e.getCause().getMessage()));
                closeSoon(plugin);
            } else {
                plugins.remove(plugin);
                LOG.warn("nri: plugin failed; disconnected", "plugin", plugin, "call", "Synchronize",
                        "error", String.valueOf(e.getCause().getMessage()));
                plugin.close();
            }
            return;
        } catch (java.util.concurrent.TimeoutException e) {
            LOG.warn("nri: plugin did not register in time; disconnected", "plugin", plugin,
                    "timeout", config.registrationTimeout());
            plugin.close();
            return;
        } catch (Exception e) {
            if (e instanceof InterruptedException) {
                Thread.currentThread().interrupt();
            }
            LOG.warn("nri: plugin set-up failed; disconnected", "plugin", plugin, "error", String.valueOf(e.getMessage()));
            plugins.remove(plugin);
            plugin.close();
            return;
        }
        connection.closedFuture().thenRun(() -> {
            if (plugins.remove(plugin)) {
                LOG.info("nri: plugin disconnected", "plugin", plugin);
                plugin.close();
            }
        });
        LOG.info("nri: plugin synchronized", "plugin", plugin, "events", Integer.toHexString(plugin.events()));
    }

    /** After the refusal has been answered: closing at once could drop the answer the plugin waits for. */
    private static void closeSoon(NriPlugin plugin) {
        Thread.ofVirtual().start(() -> {
            try {
                Thread.sleep(200);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            plugin.close();
        });
    }

    /** Into the call order (by index, then name); false once NRI is closing. */
    private boolean join(NriPlugin plugin) {
        synchronized (plugins) {
            if (closed) {
                return false;
            }
            plugins.add(plugin);
            var sorted = new ArrayList<>(plugins);
            sorted.sort(Comparator.comparing(NriPlugin::index).thenComparing(NriPlugin::name));
            plugins.clear();
            plugins.addAll(sorted);
            return true;
        }
    }

    private static void checkIdentity(String name, String index) throws TtrpcException {
        if (name.isEmpty() || name.contains("/")) {
            throw new TtrpcException(Code.INVALID_ARGUMENT, "invalid plugin name \"" + name + "\"");
        }
        if (!index.matches("[0-9]{2}")) {
            throw new TtrpcException(Code.INVALID_ARGUMENT, "invalid plugin index \"" + index
                    + "\": two digits are needed");
        }
    }

    private void disconnect(NriPlugin plugin, String method, Exception e) {
        if (plugins.remove(plugin)) {
            LOG.warn("nri: plugin failed; disconnected", "plugin", plugin, "call", method,
                    "error", String.valueOf(e.getMessage()));
            plugin.close();
        }
    }

    private List<NriPlugin> subscribed(Event event) {
        return plugins.stream().filter(p -> p.isOpen() && p.subscribed(event)).toList();
    }

    /**
     * Runs a hook's body while no plugin is joining (see {@link #connect}). A plugin still synchronizing is waited
     * for (at most the request timeout) by the calls that need its answer.
     */
    private <T> T hooked(java.util.function.Supplier<T> body) {
        lock.readLock().lock();
        try {
            return body.get();
        } finally {
            lock.readLock().unlock();
        }
    }

    @Override
    public JsonObject createContainer(Sandbox pod, String id, String name, Map<String, String> labels, JsonObject spec) {
        return hooked(() -> create(pod, id, name, labels, spec));
    }

    private JsonObject create(Sandbox pod, String id, String name, Map<String, String> labels, JsonObject spec) {
        var callees = subscribed(Event.CREATE_CONTAINER);
        if (callees.isEmpty()) {
            return spec;
        }
        var request = CreateContainerRequest.newBuilder().setPod(NriMessages.pod(NriHooks.facts(pod)))
                .setContainer(NriMessages.container(id, pod.id(), name, labels, spec, NriMessages.State.UNKNOWN, 0))
                .build();
        JsonObject adjusted = spec;
        for (NriPlugin p : callees) {
            try {
                if (!p.awaitSynchronized()) {
                    continue; // its set-up failed or is stuck: it is being disconnected
                }
                CreateContainerResponse r = p.call("CreateContainer", request, CreateContainerResponse.parser());
                // one plugin at a time: an adjustment that cannot apply is that plugin's fault, not the container's
                adjusted = NriAdjustments.apply(adjusted, List.of(r.getAdjust()));
                applyUpdatesLater(p, r.getUpdateList());
            } catch (TtrpcException | IllegalArgumentException e) {
                disconnect(p, "CreateContainer", e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return adjusted;
            }
        }
        return adjusted;
    }

    @Override
    public LinuxContainerResources updateContainer(Sandbox pod, Container c, LinuxContainerResources resources) {
        return hooked(() -> update(pod, c, resources));
    }

    private LinuxContainerResources update(Sandbox pod, Container c, LinuxContainerResources resources) {
        LinuxContainerResources result = resources;
        for (NriPlugin p : subscribed(Event.UPDATE_CONTAINER)) {
            try {
                if (!p.awaitSynchronized()) {
                    continue;
                }
                var request = UpdateContainerRequest.newBuilder().setPod(NriMessages.pod(NriHooks.facts(pod)))
                        .setContainer(NriHooks.message(c))
                        .setLinuxResources(NriMessages.resources(criAsOci(resources))).build();
                UpdateContainerResponse r = p.call("UpdateContainer", request, UpdateContainerResponse.parser());
                var others = new ArrayList<ContainerUpdate>();
                for (ContainerUpdate u : r.getUpdateList()) {
                    if (u.getContainerId().equals(c.id())) {
                        result = NriMessages.overlay(result, u.getLinux().getResources());
                    } else {
                        others.add(u);
                    }
                }
                applyUpdatesLater(p, others);
            } catch (TtrpcException e) {
                disconnect(p, "UpdateContainer", e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return result;
            }
        }
        return result;
    }

    /** The CRI resources in the OCI shape, for the request's linux_resources. */
    private static JsonObject criAsOci(LinuxContainerResources r) {
        var o = new JsonObject();
        var cpu = new JsonObject();
        if (r.getCpuShares() != 0) {
            cpu.addProperty("shares", r.getCpuShares());
        }
        if (r.getCpuQuota() != 0) {
            cpu.addProperty("quota", r.getCpuQuota());
        }
        if (r.getCpuPeriod() != 0) {
            cpu.addProperty("period", r.getCpuPeriod());
        }
        if (!r.getCpusetCpus().isEmpty()) {
            cpu.addProperty("cpus", r.getCpusetCpus());
        }
        if (!r.getCpusetMems().isEmpty()) {
            cpu.addProperty("mems", r.getCpusetMems());
        }
        o.add("cpu", cpu);
        if (r.getMemoryLimitInBytes() != 0) {
            var mem = new JsonObject();
            mem.addProperty("limit", r.getMemoryLimitInBytes());
            o.add("memory", mem);
        }
        return o;
    }

    @Override
    public void podEvent(Event event, Sandbox pod) {
        hooked(() -> {
            queuePodEvent(event, pod);
            return null;
        });
    }

    private void queuePodEvent(Event event, Sandbox pod) {
        var subscribed = subscribed(event);
        if (subscribed.isEmpty()) {
            return;
        }
        var message = StateChangeEvent.newBuilder().setEvent(event).setPod(NriMessages.pod(NriHooks.facts(pod))).build();
        for (NriPlugin p : subscribed) {
            p.notify(() -> stateChange(p, message));
        }
    }

    @Override
    public void containerEvent(Event event, Sandbox pod, Container c) {
        hooked(() -> {
            queueContainerEvent(event, pod, c);
            return null;
        });
    }

    private void queueContainerEvent(Event event, Sandbox pod, Container c) {
        var subscribed = subscribed(event);
        if (subscribed.isEmpty()) {
            return;
        }
        var podMessage = NriMessages.pod(NriHooks.facts(pod));
        var container = NriHooks.message(c);
        for (NriPlugin p : subscribed) {
            if (event == Event.STOP_CONTAINER) {
                var request = StopContainerRequest.newBuilder().setPod(podMessage).setContainer(container).build();
                p.notify(() -> {
                    try {
                        StopContainerResponse r = p.call("StopContainer", request, StopContainerResponse.parser());
                        applyUpdates(p, r.getUpdateList());
                    } catch (TtrpcException e) {
                        disconnect(p, "StopContainer", e);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                });
            } else {
                var message = StateChangeEvent.newBuilder().setEvent(event).setPod(podMessage).setContainer(container)
                        .build();
                p.notify(() -> stateChange(p, message));
            }
        }
    }

    private void stateChange(NriPlugin p, StateChangeEvent message) {
        try {
            p.call("StateChange", message, Empty.parser());
        } catch (TtrpcException e) {
            disconnect(p, "StateChange(" + message.getEvent() + ")", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void applyUpdatesLater(NriPlugin plugin, List<ContainerUpdate> updates) {
        if (!updates.isEmpty()) {
            Thread.ofVirtual().name("nri-update").start(() -> applyUpdates(plugin, updates));
        }
    }

    /** Each update as UpdateContainerResources; the ones that fail (and do not ignore failure) are returned. */
    private List<ContainerUpdate> applyUpdates(NriPlugin plugin, List<ContainerUpdate> updates) {
        var failed = new ArrayList<ContainerUpdate>();
        for (ContainerUpdate u : updates) {
            try {
                var c = containers.get(u.getContainerId());
                updater.update(c.id(), NriMessages.overlay(c.resources(), u.getLinux().getResources()));
                LOG.info("nri: container updated by plugin", "plugin", plugin, "container", c.id());
            } catch (IOException | RuntimeException e) {
                if (!u.getIgnoreFailure()) {
                    failed.add(u);
                }
                LOG.warn("nri: a plugin's container update failed", "plugin", plugin,
                        "container", u.getContainerId(), "error", String.valueOf(e.getMessage()));
            }
        }
        return failed;
    }

    /** The synchronized plugins in call order, as "NN-name" (for tests and diagnostics). */
    public List<String> pluginNames() {
        return plugins.stream().filter(NriPlugin::synchronizedDone).map(NriPlugin::name).toList();
    }

    /** Stops serving; every plugin is told to shut down (briefly), disconnected, pre-installed ones killed. */
    @Override
    public void close() {
        synchronized (plugins) {
            closed = true;
        }
        if (listener != null) {
            try {
                listener.close();
                Files.deleteIfExists(config.socketPath());
            } catch (IOException e) {
                LOG.warn("nri: cannot remove the socket", "socket", config.socketPath(), "error", e.getMessage());
            }
        }
        for (NriPlugin p : List.copyOf(plugins)) {
            plugins.remove(p);
            try {
                p.call("Shutdown", Empty.getDefaultInstance(), Empty.parser(), java.time.Duration.ofMillis(200));
            } catch (TtrpcException e) {
                // disconnected below either way
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            p.close();
        }
    }
}
