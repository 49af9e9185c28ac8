package dev.bollard.daemon.network;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import dev.bollard.daemon.log.Log;
import dev.bollard.daemon.store.AtomicFiles;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The runtime side of CNI: Bollard runs the plugins of the node's network itself, as libcni does. One network (the
 * first valid configuration file in {@link CniConfig#confDir()} by name, as containerd's CRI picks it) serves every
 * pod. Each attachment is recorded under {@link CniConfig#cacheDir()} with the configuration it was made with, so
 * that DEL works after a restart and after the configuration changed or vanished.
 */
public final class Cni {

    private static final Log LOG = Log.get("cni");
    private static final Gson GSON = new GsonBuilder().disableHtmlEscaping().create();
    private static final String CACHE_KIND = "bollardCniCacheV1";
    private static final Set<String> CONF_SUFFIXES = Set.of(".conflist", ".conf", ".json");

    private final CniConfig config;
    private final PluginExec exec;
    private final Map<String, ReentrantLock> podLocks = new ConcurrentHashMap<>();
    private final Map<Path, PluginVersions> versionCache = new ConcurrentHashMap<>();
    private volatile Loaded loaded;

    public Cni(CniConfig config) {
        this.config = config;
        this.exec = new PluginExec(config.binDirs(), config.pluginTimeout());
    }

    public CniConfig config() {
        return config;
    }

    // ---------------------------------------------------------------- status

    /**
     * Ready, or why not: no configuration in the directory, none valid (each file's problem named), a plugin
     * executable missing, no CNI version both the network and its plugins speak, or (networks of spec 1.1.0) a
     * plugin's STATUS failing. Cheap while nothing changed: the files are re-read only when their names, sizes or
     * modification times differ, and plugins' VERSION answers are cached per executable.
     */
    /** The start-up's check of the network, which the first Status waits for instead of running its own. */
    private volatile Thread warmUp;

    /**
     * Runs the check Status makes (the configuration read, each plugin's VERSION asked and cached) on a virtual thread
     * now, at daemon start: kubelet's first Status then finds the answers cached instead of starting the plugins.
     */
    public void warmUp() {
        warmUp = Thread.ofVirtual().name("cni-warm-up").start(this::status);
    }

    public NetworkStatus status() {
        var w = warmUp;
        try {
            if (w != null && w != Thread.currentThread()) {
                if (w.isAlive()) {
                    // kubelet's first Status comes while the plugins' first starts are still running (hundreds of
                    // ms on a cold node): answer from the files and executables, as containerd does, rather than
                    // wait; the next Status after the warm-up has the plugins' answers
                    return filesStatus();
                }
                warmUp = null;
            }
            return currentStatus();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return NetworkStatus.notReady("Interrupted", "the CNI status check was interrupted", Optional.empty());
        }
    }

    private NetworkStatus currentStatus() throws InterruptedException {
        Resolved r;
        try {
            r = resolve();
        } catch (NotReady e) {
            return e.status;
        }
        if (CniVersions.atLeast(r.version, "1.1.0")) {
            for (JsonObject plugin : r.net.plugins()) {
                String type = NetworkConfigList.type(plugin);
                try {
                    exec.run(type, new PluginExec.Invocation("STATUS", "", "", "", ""),
                            bytes(execConfig(plugin, r.net.name(), r.version, null, new JsonObject())));
                } catch (CniException e) {
                    return NetworkStatus.notReady("NetworkPluginNotReady", "network " + r.net.name() + " ("
                            + r.net.source() + "): " + e.getMessage(), Optional.of(r.net.name()));
                } catch (IOException e) {
                    return NetworkStatus.notReady("NetworkPluginNotReady", e.getMessage(), Optional.of(r.net.name()));
                }
            }
        }
        return NetworkStatus.ok(r.net.name(), "network " + r.net.name() + " from " + r.net.source()
                + " (cniVersion " + r.version + ")" + r.skipped);
    }

    // ---------------------------------------------------------------- ADD

    /**
     * ADD through every plugin of the network, each given the previous one's result as {@code prevResult}. The
     * attachment is recorded before the first plugin runs (a crash mid-way still leaves a DEL to do) and again with
     * the final result. When a plugin fails, DEL runs for it and every earlier one (in reverse) and the plugin's
     * {@link CniException} is thrown.
     */
    public PodNetworkResult setUp(PodNetworkRequest request) throws IOException, InterruptedException {
        java.util.Objects.requireNonNull(request.netns(), "the pod's network namespace");
        ReentrantLock lock = lockPod(request.podId());
        try {
            Resolved r;
            try {
                r = resolve();
            } catch (NotReady e) {
                throw e.asException();
            }
            Path cacheFile = cacheFile(request);
            if (Files.exists(cacheFile)) {
                // The spec forbids a second ADD without a DEL for the same attachment.
                throw new IOException("pod " + request.podId() + " is already attached to the network on "
                        + request.ifName() + " (" + cacheFile + "); tear it down first");
            }
            var attachment = new Attachment(r.net, r.version, request.netns().toString(), cniArgs(request),
                    capabilityArgs(request), null);
            writeCache(cacheFile, request, attachment);
            JsonObject prev = null;
            List<JsonObject> plugins = r.net.plugins();
            for (int i = 0; i < plugins.size(); i++) {
                JsonObject plugin = plugins.get(i);
                String type = NetworkConfigList.type(plugin);
                try {
                    byte[] out = exec.run(type, invocation("ADD", request, attachment.netns, attachment),
                            bytes(execConfig(plugin, r.net.name(), r.version, prev, attachment.capabilityArgs)));
                    JsonObject result = parseResult(type, out);
                    if (result != null) {
                        prev = result;
                    }
                } catch (IOException e) {
                    // DEL for the failed plugin too (it may have done part of its ADD), unless it never ran
                    int ran = e instanceof CniException.NotRun ? i : i + 1;
                    rollBack(request, attachment, plugins.subList(0, ran), prev, cacheFile, e);
                    throw e;
                }
            }
            List<String> ips = prev == null ? List.of() : CniResults.podIps(prev, request.ifName());
            if (ips.isEmpty()) {
                var e = new IOException("network " + r.net.name() + " gave pod " + request.podId() + " no IP address on "
                        + request.ifName() + "; result: " + (prev == null ? "(none)" : GSON.toJson(prev)));
                rollBack(request, attachment, plugins, prev, cacheFile, e);
                throw e;
            }
            writeCache(cacheFile, request, attachment.withResult(prev));
            LOG.info("pod network set up", "pod", request.podId(), "network", r.net.name(), "ips", ips);
            return new PodNetworkResult(ips, request.ifName(), GSON.toJson(prev));
        } finally {
            lock.unlock();
        }
    }

    private void rollBack(PodNetworkRequest request, Attachment attachment, List<JsonObject> added, JsonObject prev,
                          Path cacheFile, IOException cause) throws InterruptedException {
        try {
            runDel(request, attachment.withResult(prev), added);
            Files.deleteIfExists(cacheFile);
        } catch (IOException e) {
            // The cache stays: a later tearDown retries the DEL.
            cause.addSuppressed(e);
        }
    }

    // ---------------------------------------------------------------- DEL

    /**
     * DEL through the plugins in reverse order, with the configuration and result recorded by {@link #setUp}, or
     * the current network when there is no record. A namespace that is gone is passed as an empty CNI_NETNS, so
     * plugins release what they can. Every plugin is called even after one fails; the record is removed only when
     * all succeeded (else the first failure is thrown and a retry has the record). Repeating it is fine.
     * Call it before removing the namespace: the bridge plugin (1.1.1) reads the pod's addresses from inside it to
     * remove its masquerade rules, and without the namespace it releases the address but leaves those rules.
     */
    public void tearDown(PodNetworkRequest request) throws IOException, InterruptedException {
        ReentrantLock lock = lockPod(request.podId());
        try {
            Path cacheFile = cacheFile(request);
            Optional<Attachment> cached = readCache(cacheFile);
            Attachment attachment;
            if (cached.isPresent()) {
                attachment = cached.get();
            } else {
                Resolved r;
                try {
                    r = resolve();
                } catch (NotReady e) {
                    if (e.status.reason().equals("NoNetworkConfig") || e.status.reason().equals("InvalidNetworkConfig")) {
                        LOG.warn("no record and no network to tear down with; nothing to do", "pod", request.podId(),
                                "why", e.status.message());
                        return;
                    }
                    throw e.asException();
                }
                attachment = new Attachment(r.net, r.version,
                        request.netns() == null ? "" : request.netns().toString(), cniArgs(request),
                        capabilityArgs(request), null);
            }
            runDel(request, attachment, attachment.net.plugins());
            Files.deleteIfExists(cacheFile);
            LOG.info("pod network torn down", "pod", request.podId(), "network", attachment.net.name());
        } finally {
            lock.unlock();
        }
    }

    private void runDel(PodNetworkRequest request, Attachment attachment, List<JsonObject> plugins)
            throws IOException, InterruptedException {
        String recorded = request.netns() != null ? request.netns().toString() : attachment.netns;
        String netns = !recorded.isEmpty() && NetNs.at(Path.of(recorded)).exists() ? recorded : "";
        // prevResult on DEL came with spec 0.4.0; older plugins are not given it.
        JsonObject prev = CniVersions.atLeast(attachment.version, "0.4.0") ? attachment.result : null;
        IOException first = null;
        for (int i = plugins.size() - 1; i >= 0; i--) {
            JsonObject plugin = plugins.get(i);
            try {
                exec.run(NetworkConfigList.type(plugin), invocation("DEL", request, netns, attachment),
                        bytes(execConfig(plugin, attachment.net.name(), attachment.version, prev,
                                attachment.capabilityArgs)));
            } catch (IOException e) {
                if (first == null) {
                    first = e;
                } else {
                    first.addSuppressed(e);
                }
            }
        }
        if (first != null) {
            throw first;
        }
    }

    /** A recorded attachment: the pod and interface its cache file under {@link CniConfig#cacheDir()} is for. */
    public record Recorded(String podId, String ifName) {
    }

    /** Every attachment the cache records (a restart releases those whose pod is gone). */
    public List<Recorded> recorded() throws IOException {
        var out = new ArrayList<Recorded>();
        if (!Files.isDirectory(config.cacheDir())) {
            return out;
        }
        try (var files = Files.list(config.cacheDir())) {
            for (Path f : files.toList()) {
                String name = f.getFileName().toString();
                int dash = name.indexOf('-');
                // <podId>-<ifName>.json; pod IDs are hex, so the first dash ends the ID
                if (dash > 0 && name.endsWith(".json") && !name.startsWith(".")) {
                    out.add(new Recorded(name.substring(0, dash), name.substring(dash + 1, name.length() - 5)));
                }
            }
        }
        return out;
    }

    /**
     * DEL for a recorded attachment whose pod no record knows any more (its RunPodSandbox or RemovePodSandbox was
     * cut short): the recorded configuration and result release the IP; the netns pin, if still there, is used.
     */
    public void tearDownRecorded(Recorded attachment, Path netns) throws IOException, InterruptedException {
        tearDown(new PodNetworkRequest(attachment.podId(), "", "", "", netns, attachment.ifName(), List.of(),
                Map.of()));
    }

    // ---------------------------------------------------------------- CHECK

    /**
     * CHECK through the plugins in order with the recorded ADD result; throws the first failure of a plugin not in
     * {@link CniConfig#advisoryCheckPlugins()}. Nothing runs when the network disables CHECK or predates it (0.4.0).
     */
    public void check(PodNetworkRequest request) throws IOException, InterruptedException {
        checkReport(request);
    }

    /** As {@link #check}, returning the failures of advisory plugins (logged, not thrown). */
    public List<CniException> checkReport(PodNetworkRequest request) throws IOException, InterruptedException {
        ReentrantLock lock = lockPod(request.podId());
        try {
            Path cacheFile = cacheFile(request);
            Attachment a = readCache(cacheFile).filter(x -> x.result != null).orElseThrow(() -> new IOException(
                    "pod " + request.podId() + " has no recorded ADD on " + request.ifName() + " (" + cacheFile
                            + "): CHECK needs one"));
            if (a.net.disableCheck() || !CniVersions.atLeast(a.version, "0.4.0")) {
                return List.of();
            }
            List<CniException> advisories = new ArrayList<>();
            for (JsonObject plugin : a.net.plugins()) {
                String type = NetworkConfigList.type(plugin);
                try {
                    exec.run(type, invocation("CHECK", request, request.netns().toString(), a),
                            bytes(execConfig(plugin, a.net.name(), a.version, a.result, a.capabilityArgs)));
                } catch (CniException e) {
                    if (!config.advisoryCheckPlugins().contains(type)) {
                        throw e;
                    }
                    LOG.warn("CNI CHECK failed (advisory)", "pod", request.podId(), "plugin", type,
                            "error", e.getMessage());
                    advisories.add(e);
                }
            }
            return List.copyOf(advisories);
        } finally {
            lock.unlock();
        }
    }

    // ---------------------------------------------------------------- default configuration

    /**
     * Writes {@code <confDir>/10-bollard.conflist} (bridge with host-local IPAM, portmap, loopback) when the
     * directory holds no network configuration. {@code subnet} may list an IPv4 and an IPv6 range, comma-separated.
     * Returns whether it wrote the file.
     */
    public static boolean writeDefaultConfig(Path confDir, String bridgeName, String subnet) throws IOException {
        Files.createDirectories(confDir);
        if (!configFiles(confDir).isEmpty()) {
            return false;
        }
        String json = GSON.toJson(defaultConfig("bollard", bridgeName, subnet, null));
        AtomicFiles.writeReadable(confDir.resolve("10-bollard.conflist"), (prettyJson(json) + "\n")
                .getBytes(StandardCharsets.UTF_8));
        return true;
    }

    /**
     * Rewrites the default configuration {@link #writeDefaultConfig} wrote, for a new pod subnet (kubelet's pod CIDR
     * through UpdateRuntimeConfig). A file someone else wrote, or edited away from the name "bollard", is left alone.
     *
     * @return whether the file was rewritten
     */
    public static boolean updateDefaultConfig(Path confDir, String bridgeName, String subnet) throws IOException {
        Path file = confDir.resolve("10-bollard.conflist");
        if (!Files.isRegularFile(file)) {
            return false;
        }
        try {
            var existing = JsonParser.parseString(Files.readString(file)).getAsJsonObject();
            if (!existing.has("name") || !"bollard".equals(existing.get("name").getAsString())) {
                return false;
            }
        } catch (RuntimeException e) {
            return false; // not ours to fix
        }
        String json = GSON.toJson(defaultConfig("bollard", bridgeName, subnet, null));
        AtomicFiles.write(file, (prettyJson(json) + "\n").getBytes(StandardCharsets.UTF_8));
        return true;
    }

    /**
     * The default network: a bridge that is the pods' gateway and masquerades their traffic, hairpin on (a pod
     * reaches itself through a service), host-local addresses with a default route per family, host ports, lo up.
     * {@code ipamDataDir} null keeps host-local's own default (/var/lib/cni/networks).
     */
    static JsonObject defaultConfig(String networkName, String bridgeName, String subnet, Path ipamDataDir) {
        if (bridgeName == null || bridgeName.isEmpty() || bridgeName.length() > 15) {
            throw new IllegalArgumentException("invalid bridge name \"" + bridgeName + "\"");
        }
        String subnets = subnet == null || subnet.isBlank() ? "10.88.0.0/16" : subnet;
        var ranges = new JsonArray();
        var routes = new JsonArray();
        for (String s : subnets.split(",")) {
            String cidr = s.strip();
            if (!cidr.matches("[0-9A-Fa-f:.]+/\\d{1,3}")) {
                throw new IllegalArgumentException("invalid subnet \"" + cidr + "\"");
            }
            var range = new JsonObject();
            range.addProperty("subnet", cidr);
            var set = new JsonArray();
            set.add(range);
            ranges.add(set);
            var route = new JsonObject();
            route.addProperty("dst", cidr.contains(":") ? "::/0" : "0.0.0.0/0");
            routes.add(route);
        }
        var ipam = new JsonObject();
        ipam.addProperty("type", "host-local");
        ipam.add("ranges", ranges);
        ipam.add("routes", routes);
        if (ipamDataDir != null) {
            ipam.addProperty("dataDir", ipamDataDir.toString());
        }
        var bridge = new JsonObject();
        bridge.addProperty("type", "bridge");
        bridge.addProperty("bridge", bridgeName);
        bridge.addProperty("isGateway", true);
        bridge.addProperty("ipMasq", true);
        bridge.addProperty("hairpinMode", true);
        bridge.add("ipam", ipam);
        var portmap = new JsonObject();
        portmap.addProperty("type", "portmap");
        var caps = new JsonObject();
        caps.addProperty("portMappings", true);
        portmap.add("capabilities", caps);
        var loopback = new JsonObject();
        loopback.addProperty("type", "loopback");
        var plugins = new JsonArray();
        plugins.add(bridge);
        plugins.add(portmap);
        plugins.add(loopback);
        var list = new JsonObject();
        list.addProperty("cniVersion", "1.0.0");
        list.addProperty("name", networkName);
        list.add("plugins", plugins);
        return list;
    }

    private static String prettyJson(String json) {
        return new GsonBuilder().setPrettyPrinting().disableHtmlEscaping().create()
                .toJson(JsonParser.parseString(json));
    }

    // ---------------------------------------------------------------- loading and resolving

    /** The network to use, its version and that every plugin is there; else {@link NotReady} saying why. */
    /** The status the configuration files and the plugins' executables alone give: no plugin is run. */
    private NetworkStatus filesStatus() {
        try {
            Found f = found();
            return NetworkStatus.ok(f.net.name(), "network " + f.net.name() + " from " + f.net.source()
                    + " (plugin versions being checked)" + f.skipped);
        } catch (NotReady e) {
            return e.status;
        }
    }

    /** The network the files configure and each of its plugins' executables, in order. */
    private record Found(NetworkConfigList net, List<Path> binaries, String skipped) {
    }

    private Found found() throws NotReady {
        Loaded l = load();
        if (l.net == null) {
            throw new NotReady(l.problem);
        }
        NetworkConfigList net = l.net;
        List<Path> binaries = new ArrayList<>();
        for (JsonObject plugin : net.plugins()) {
            String type = NetworkConfigList.type(plugin);
            Optional<Path> binary = exec.find(type);
            if (binary.isEmpty()) {
                throw new NotReady(NetworkStatus.notReady("PluginMissing", "network " + net.name() + " ("
                        + net.source() + "): plugin executable \"" + type + "\" not found in " + exec.searchedDirs(),
                        Optional.of(net.name())), type);
            }
            binaries.add(binary.get());
        }
        return new Found(net, binaries, l.skipped);
    }

    private Resolved resolve() throws NotReady, InterruptedException {
        Found f = found();
        NetworkConfigList net = f.net;
        List<Path> binaries = f.binaries;
        List<Collection<String>> support = supportedVersions(net, binaries);
        Optional<String> version = CniVersions.choose(net, support);
        if (version.isEmpty()) {
            var b = new StringBuilder("network " + net.name() + " (" + net.source() + ") asks for cniVersion "
                    + (net.cniVersions().isEmpty() ? net.cniVersion() : String.join("|", net.cniVersions()))
                    + ", which Bollard (" + String.join(", ", CniVersions.SUPPORTED) + ")");
            for (int i = 0; i < support.size(); i++) {
                if (support.get(i) != null) {
                    b.append(" and plugin ").append(NetworkConfigList.type(net.plugins().get(i)))
                            .append(" (").append(String.join(", ", support.get(i))).append(')');
                }
            }
            b.append(" do not all support");
            throw new NotReady(NetworkStatus.notReady("IncompatibleCniVersion", b.toString(),
                    Optional.of(net.name())));
        }
        return new Resolved(net, version.get(), f.skipped);
    }

    /**
     * Every plugin's VERSION answer (an element is null where a plugin gives none). Answers not cached yet are asked
     * for at the same time: the first Status after a start ran three plugins one after the other.
     */
    private List<Collection<String>> supportedVersions(NetworkConfigList net, List<Path> binaries)
            throws InterruptedException {
        var plugins = net.plugins();
        long uncached = binaries.stream().filter(b -> !versionCached(b)).count();
        var support = new ArrayList<Collection<String>>();
        if (uncached <= 1) {
            for (int i = 0; i < binaries.size(); i++) {
                support.add(supportedVersions(NetworkConfigList.type(plugins.get(i)), binaries.get(i), net));
            }
            return support;
        }
        var answers = new ArrayList<java.util.concurrent.Future<Collection<String>>>();
        try (var pool = java.util.concurrent.Executors.newVirtualThreadPerTaskExecutor()) {
            for (int i = 0; i < binaries.size(); i++) {
                String type = NetworkConfigList.type(plugins.get(i));
                Path binary = binaries.get(i);
                answers.add(pool.submit(() -> supportedVersions(type, binary, net)));
            }
            for (var a : answers) {
                try {
                    support.add(a.get());
                } catch (java.util.concurrent.ExecutionException e) {
                    // supportedVersions turns every failure into "no answer"; only an interrupt is thrown
                    support.add(null);
                }
            }
        }
        return support;
    }

    private boolean versionCached(Path binary) {
        PluginVersions cached = versionCache.get(binary);
        try {
            return cached != null && cached.matches(Files.readAttributes(binary, BasicFileAttributes.class));
        } catch (IOException e) {
            return false;
        }
    }

    /** The plugin's VERSION answer, cached per executable; null when it gives none (then it is not ruled out). */
    private Collection<String> supportedVersions(String type, Path binary, NetworkConfigList net)
            throws InterruptedException {
        BasicFileAttributes attrs;
        try {
            attrs = Files.readAttributes(binary, BasicFileAttributes.class);
        } catch (IOException e) {
            return null;
        }
        PluginVersions cached = versionCache.get(binary);
        if (cached != null && cached.matches(attrs)) {
            return cached.versions;
        }
        Set<String> versions = null;
        try {
            var in = new JsonObject();
            in.addProperty("cniVersion", net.cniVersion().isEmpty() ? "1.0.0" : net.cniVersion());
            byte[] out = exec.run(type, new PluginExec.Invocation("VERSION", "", "", "", ""), bytes(in));
            JsonObject o = JsonParser.parseString(new String(out, StandardCharsets.UTF_8)).getAsJsonObject();
            var list = new java.util.LinkedHashSet<String>();
            for (JsonElement v : o.getAsJsonArray("supportedVersions")) {
                list.add(v.getAsString());
            }
            versions = Set.copyOf(list);
        } catch (IOException | RuntimeException e) {
            LOG.warn("CNI plugin gave no usable VERSION answer", "plugin", binary, "error", e.getMessage());
        }
        versionCache.put(binary, new PluginVersions(attrs.lastModifiedTime().toMillis(), attrs.size(), versions));
        return versions;
    }

    private record PluginVersions(long mtime, long size, Set<String> versions) {
        boolean matches(BasicFileAttributes a) {
            return a.lastModifiedTime().toMillis() == mtime && a.size() == size;
        }
    }

    /** The parsed directory, re-read only when its listing (names, sizes, times) changed. */
    private Loaded load() {
        List<String> fingerprint = new ArrayList<>();
        List<Path> files;
        try {
            files = configFiles(config.confDir());
            for (Path f : files) {
                var a = Files.readAttributes(f, BasicFileAttributes.class);
                fingerprint.add(f.getFileName() + ":" + a.size() + ":" + a.lastModifiedTime().toMillis());
            }
        } catch (IOException e) {
            return new Loaded(List.of(), null, NetworkStatus.notReady("NoNetworkConfig", "cannot read CNI config directory "
                    + config.confDir() + ": " + e.getMessage(), Optional.empty()), "");
        }
        Loaded l = loaded;
        if (l != null && l.fingerprint.equals(fingerprint)) {
            return l;
        }
        if (files.isEmpty()) {
            l = new Loaded(fingerprint, null, NetworkStatus.notReady("NoNetworkConfig",
                    "no network configuration (.conflist, .conf, .json) in " + config.confDir(), Optional.empty()), "");
        } else {
            List<String> problems = new ArrayList<>();
            NetworkConfigList chosen = null;
            for (Path f : files) {
                try {
                    chosen = NetworkConfigList.read(f);
                    break;
                } catch (IOException e) {
                    problems.add(e.getMessage());
                }
            }
            String skipped = problems.isEmpty() ? "" : "; skipped: " + String.join("; ", problems);
            l = chosen != null
                    ? new Loaded(fingerprint, chosen, null, skipped)
                    : new Loaded(fingerprint, null, NetworkStatus.notReady("InvalidNetworkConfig",
                    "no valid network configuration in " + config.confDir() + ": " + String.join("; ", problems),
                    Optional.empty()), "");
        }
        loaded = l;
        return l;
    }

    private static List<Path> configFiles(Path dir) throws IOException {
        List<Path> files = new ArrayList<>();
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir)) {
            for (Path p : ds) {
                String n = p.getFileName().toString();
                if (!n.startsWith(".") && CONF_SUFFIXES.stream().anyMatch(n::endsWith) && Files.isRegularFile(p)) {
                    files.add(p);
                }
            }
        } catch (NoSuchFileException e) {
            return List.of();
        }
        files.sort(null);
        return files;
    }

    private record Loaded(List<String> fingerprint, NetworkConfigList net, NetworkStatus problem, String skipped) {
    }

    private record Resolved(NetworkConfigList net, String version, String skipped) {
    }

    /** Not ready: the status, and the plugin concerned when one is. */
    private static final class NotReady extends Exception {
        final NetworkStatus status;
        final String plugin;

        NotReady(NetworkStatus status) {
            this(status, null);
        }

        NotReady(NetworkStatus status, String plugin) {
            super(status.message(), null, false, false);
            this.status = status;
            this.plugin = plugin;
        }

        IOException asException() {
            if (plugin != null) {
                return new CniException(plugin, "ADD", CniException.RUNTIME_FAILURE, status.message(), "", "");
            }
            return new IOException("CNI network not ready (" + status.reason() + "): " + status.message());
        }
    }

    // ---------------------------------------------------------------- per-call configuration

    /**
     * The plugin's configuration as the spec derives it for one call: {@code name} and {@code cniVersion} of the
     * network, {@code prevResult}, {@code runtimeConfig} holding only the capabilities the plugin declares, and its
     * {@code capabilities} key removed.
     */
    static JsonObject execConfig(JsonObject plugin, String networkName, String version, JsonObject prevResult,
                                 JsonObject capabilityArgs) {
        JsonObject c = plugin.deepCopy();
        JsonElement caps = c.remove("capabilities");
        c.addProperty("cniVersion", version);
        c.addProperty("name", networkName);
        if (caps != null && caps.isJsonObject()) {
            JsonObject runtimeConfig = c.has("runtimeConfig") && c.get("runtimeConfig").isJsonObject()
                    ? c.getAsJsonObject("runtimeConfig") : new JsonObject();
            for (var e : caps.getAsJsonObject().entrySet()) {
                boolean on = e.getValue().isJsonPrimitive() && e.getValue().getAsJsonPrimitive().isBoolean()
                        && e.getValue().getAsBoolean();
                if (on && capabilityArgs.has(e.getKey())) {
                    runtimeConfig.add(e.getKey(), capabilityArgs.get(e.getKey()).deepCopy());
                }
            }
            if (!runtimeConfig.isEmpty()) {
                c.add("runtimeConfig", runtimeConfig);
            }
        }
        if (prevResult != null) {
            c.add("prevResult", prevResult.deepCopy());
        }
        return c;
    }

    /** The values for capabilities: port mappings (those with a host port, as kubelet's are). */
    static JsonObject capabilityArgs(PodNetworkRequest request) {
        var args = new JsonObject();
        var mappings = new JsonArray();
        for (PortMapping m : request.portMappings()) {
            if (m.hostPort() <= 0) {
                continue;
            }
            var o = new JsonObject();
            o.addProperty("hostPort", m.hostPort());
            o.addProperty("containerPort", m.containerPort());
            o.addProperty("protocol", m.protocol());
            if (!m.hostIp().isEmpty()) {
                o.addProperty("hostIP", m.hostIp());
            }
            mappings.add(o);
        }
        if (!mappings.isEmpty()) {
            args.add("portMappings", mappings);
        }
        return args;
    }

    /** CNI_ARGS as kubelet and containerd give them. */
    static String cniArgs(PodNetworkRequest request) {
        var b = new StringBuilder("IgnoreUnknown=1");
        append(b, "K8S_POD_NAMESPACE", request.podNamespace());
        append(b, "K8S_POD_NAME", request.podName());
        append(b, "K8S_POD_INFRA_CONTAINER_ID", request.podId());
        append(b, "K8S_POD_UID", request.podUid());
        request.extraArgs().entrySet().stream().sorted(Map.Entry.comparingByKey())
                .forEach(e -> append(b, e.getKey(), e.getValue()));
        return b.toString();
    }

    private static void append(StringBuilder b, String key, String value) {
        if (key.isEmpty() || key.contains(";") || key.contains("=") || value.contains(";")) {
            throw new IllegalArgumentException("CNI_ARGS cannot carry \"" + key + "=" + value + "\" (';' or '=')");
        }
        b.append(';').append(key).append('=').append(value);
    }

    private static PluginExec.Invocation invocation(String command, PodNetworkRequest request, String netns,
                                                    Attachment a) {
        return new PluginExec.Invocation(command, request.podId(), netns, request.ifName(), a.cniArgs);
    }

    /** The plugin's ADD output; null when it printed nothing (the previous result then carries on). */
    private static JsonObject parseResult(String type, byte[] out) throws CniException {
        String s = new String(out, StandardCharsets.UTF_8).strip();
        if (s.isEmpty()) {
            return null;
        }
        try {
            return JsonParser.parseString(s).getAsJsonObject();
        } catch (JsonParseException | IllegalStateException e) {
            throw new CniException(type, "ADD", CniException.DECODE_FAILURE, "the plugin's result is not a JSON object",
                    s, "");
        }
    }

    private static byte[] bytes(JsonObject o) {
        return GSON.toJson(o).getBytes(StandardCharsets.UTF_8);
    }

    private ReentrantLock lockPod(String podId) {
        // Locks are tiny and pods few; they stay in the map for the daemon's life.
        ReentrantLock lock = podLocks.computeIfAbsent(podId, k -> new ReentrantLock());
        lock.lock();
        return lock;
    }

    // ---------------------------------------------------------------- the attachment record

    /** What an ADD was made with, so DEL and CHECK can repeat it exactly. */
    private record Attachment(NetworkConfigList net, String version, String netns, String cniArgs,
                              JsonObject capabilityArgs, JsonObject result) {
        Attachment withResult(JsonObject r) {
            return new Attachment(net, version, netns, cniArgs, capabilityArgs, r);
        }
    }

    Path cacheFile(PodNetworkRequest request) {
        return config.cacheDir().resolve(request.podId() + "-" + request.ifName() + ".json");
    }

    private void writeCache(Path file, PodNetworkRequest request, Attachment a) throws IOException {
        if (!Files.isDirectory(config.cacheDir())) {
            Files.createDirectories(config.cacheDir(),
                    PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        }
        var o = new JsonObject();
        o.addProperty("kind", CACHE_KIND);
        o.addProperty("containerId", request.podId());
        o.addProperty("ifName", request.ifName());
        o.addProperty("netns", a.netns);
        o.addProperty("networkName", a.net.name());
        o.addProperty("cniVersion", a.version);
        o.addProperty("source", a.net.source());
        o.addProperty("cniArgs", a.cniArgs);
        o.add("config", a.net.json());
        o.add("capabilityArgs", a.capabilityArgs);
        if (a.result != null) {
            o.add("result", a.result);
        }
        AtomicFiles.write(file, bytes(o));
    }

    private Optional<Attachment> readCache(Path file) {
        String text;
        try {
            text = Files.readString(file, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            return Optional.empty();
        } catch (IOException e) {
            LOG.warn("cannot read CNI attachment record; ignoring it", "file", file, "error", e.getMessage());
            return Optional.empty();
        }
        try {
            JsonObject o = JsonParser.parseString(text).getAsJsonObject();
            if (!CACHE_KIND.equals(NetworkConfigList.string(o, "kind"))) {
                throw new IllegalArgumentException("not a " + CACHE_KIND + " record");
            }
            var net = NetworkConfigList.parse(GSON.toJson(o.get("config")),
                    NetworkConfigList.string(o, "source") + " (as recorded in " + file + ")", false);
            return Optional.of(new Attachment(net, NetworkConfigList.string(o, "cniVersion"),
                    NetworkConfigList.string(o, "netns"), NetworkConfigList.string(o, "cniArgs"),
                    o.has("capabilityArgs") ? o.getAsJsonObject("capabilityArgs") : new JsonObject(),
                    o.has("result") && o.get("result").isJsonObject() ? o.getAsJsonObject("result") : null));
        } catch (RuntimeException e) {
            LOG.warn("corrupt CNI attachment record; ignoring it", "file", file, "error", e.getMessage());
            return Optional.empty();
        }
    }
}
