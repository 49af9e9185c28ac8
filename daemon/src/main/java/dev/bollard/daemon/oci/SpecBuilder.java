package dev.bollard.daemon.oci;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import dev.bollard.api.cri.v1.ContainerConfig;
import dev.bollard.api.cri.v1.Device;
import dev.bollard.api.cri.v1.HugepageLimit;
import dev.bollard.api.cri.v1.LinuxContainerResources;
import dev.bollard.api.cri.v1.LinuxContainerSecurityContext;
import dev.bollard.api.cri.v1.LinuxSandboxSecurityContext;
import dev.bollard.api.cri.v1.Mount;
import dev.bollard.api.cri.v1.MountPropagation;
import dev.bollard.api.cri.v1.NamespaceMode;
import dev.bollard.api.cri.v1.NamespaceOption;
import dev.bollard.api.cri.v1.PodSandboxConfig;
import dev.bollard.api.cri.v1.SecurityProfile;
import dev.bollard.api.cri.v1.SupplementalGroupsPolicy;
import dev.bollard.daemon.image.ImageConfigs;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Builds the OCI runtime spec (config.json, spec 1.0.2 as runc 1.1 accepts it) of a pod's infra container and of its
 * CRI containers, following what containerd's CRI plugin generates. It reads no file and makes no system call:
 * what it needs of the host and the image comes resolved in {@link SpecInputs} (see {@link SpecInputsResolver}), so
 * that every spec, with its variants (a standalone gVisor container, idmapped volumes, updated resources), is a
 * function of the request, the node's profile and those inputs.
 */
public final class SpecBuilder {

    public static final String OCI_VERSION = "1.0.2";

    public static final String ANNOTATION_CONTAINER_TYPE = "io.kubernetes.cri.container-type";
    public static final String CONTAINER_TYPE_SANDBOX = "sandbox";
    public static final String CONTAINER_TYPE_CONTAINER = "container";
    public static final String ANNOTATION_SANDBOX_ID = "io.kubernetes.cri.sandbox-id";
    public static final String ANNOTATION_SANDBOX_NAME = "io.kubernetes.cri.sandbox-name";
    public static final String ANNOTATION_SANDBOX_NAMESPACE = "io.kubernetes.cri.sandbox-namespace";
    public static final String ANNOTATION_SANDBOX_UID = "io.kubernetes.cri.sandbox-uid";
    public static final String ANNOTATION_SANDBOX_LOG_DIR = "io.kubernetes.cri.sandbox-log-directory";
    public static final String ANNOTATION_CONTAINER_NAME = "io.kubernetes.cri.container-name";
    public static final String ANNOTATION_IMAGE_NAME = "io.kubernetes.cri.image-name";
    public static final String ANNOTATION_SANDBOX_CPU_PERIOD = "io.kubernetes.cri.sandbox-cpu-period";
    public static final String ANNOTATION_SANDBOX_CPU_QUOTA = "io.kubernetes.cri.sandbox-cpu-quota";
    public static final String ANNOTATION_SANDBOX_CPU_SHARES = "io.kubernetes.cri.sandbox-cpu-shares";
    public static final String ANNOTATION_SANDBOX_MEMORY = "io.kubernetes.cri.sandbox-memory";
    public static final String ANNOTATION_SANDBOX_OVERHEAD_CPU_PERIOD = "dev.bollard.sandbox-overhead-cpu-period";
    public static final String ANNOTATION_SANDBOX_OVERHEAD_CPU_QUOTA = "dev.bollard.sandbox-overhead-cpu-quota";
    public static final String ANNOTATION_SANDBOX_OVERHEAD_MEMORY = "dev.bollard.sandbox-overhead-memory";

    static final String DEFAULT_PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    /** Paths hidden from unprivileged containers (containerd's and Docker's defaults). */
    public static final List<String> DEFAULT_MASKED_PATHS = List.of(
            "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
            "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap");
    /** Paths read-only in unprivileged containers. */
    public static final List<String> DEFAULT_READONLY_PATHS = List.of(
            "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger");

    /** containerd's: the infra container is the last thing the OOM killer should pick. */
    static final int SANDBOX_OOM_SCORE_ADJ = -998;
    /** containerd's cpu shares for the infra container: the minimum, since it only sleeps. */
    static final long SANDBOX_CPU_SHARES = 2;
    static final String SYSTEMD_CGROUP_PREFIX = "bollard";

    private static final Pattern HUGEPAGE_SIZE = Pattern.compile("[1-9][0-9]*[KMGTP]B");

    private final NodeProfile node;

    public SpecBuilder(NodeProfile node) {
        this.node = node;
    }

    public NodeProfile node() {
        return node;
    }

    // ---------------------------------------------------------------------------------------------------------------
    // The infra container

    /**
     * The infra container: the given args (e.g. ["/catatonit","-P"]), its own read-only rootfs "rootfs", new
     * pid/ipc/uts/mount namespaces (the node's where the pod asks for them) and the pod's network namespace.
     *
     * @param inputs the pod's localhost seccomp profile, if it has one ({@link SpecInputsResolver#sandbox})
     * @throws IllegalArgumentException naming the field of bad input
     */
    public JsonObject sandboxSpec(PodContext pod, String sandboxId, List<String> infraArgs, SpecInputs.Sandbox inputs) {
        requireId(sandboxId, "sandbox id");
        if (infraArgs == null || infraArgs.isEmpty() || infraArgs.getFirst().isEmpty()) {
            throw new IllegalArgumentException("sandbox " + sandboxId + ": no infra container command given");
        }
        PodSandboxConfig config = pod.config();
        LinuxSandboxSecurityContext sc = config.getLinux().getSecurityContext();
        NamespaceOption ns = sc.getNamespaceOptions();
        boolean hostNetwork = hostNetwork(pod, ns);
        boolean hostIpc = ns.getIpc() == NamespaceMode.NODE;
        boolean privileged = sc.getPrivileged();
        Optional<UserNamespaces.Mappings> userns = podUserNamespace(config);
        if (userns.isPresent() && privileged) {
            throw new IllegalArgumentException("linux.security_context.privileged: a privileged pod cannot have a user "
                    + "namespace of its own (namespace_options.userns_options.mode POD)");
        }

        var spec = new JsonObject();
        spec.addProperty("ociVersion", OCI_VERSION);

        var process = new JsonObject();
        process.addProperty("terminal", false);
        var user = new JsonObject();
        long uid = sc.hasRunAsUser() ? requireId(sc.getRunAsUser().getValue(), "linux.security_context.run_as_user") : 0;
        if (sc.hasRunAsGroup() && !sc.hasRunAsUser()) {
            throw new IllegalArgumentException("linux.security_context.run_as_group is set without run_as_user");
        }
        long gid = sc.hasRunAsGroup() ? requireId(sc.getRunAsGroup().getValue(), "linux.security_context.run_as_group") : 0;
        user.addProperty("uid", uid);
        user.addProperty("gid", gid);
        if (sc.getSupplementalGroupsCount() > 0) {
            var gids = new JsonArray();
            for (long g : sc.getSupplementalGroupsList()) {
                gids.add(requireId(g, "linux.security_context.supplemental_groups"));
            }
            user.add("additionalGids", gids);
        }
        process.add("user", user);
        process.add("args", strings(infraArgs));
        process.add("env", strings(List.of(DEFAULT_PATH_ENV)));
        process.addProperty("cwd", "/");
        List<String> caps = privileged ? node.allCapabilities() : Capabilities.DEFAULT;
        process.add("capabilities", capabilities(caps));
        process.addProperty("noNewPrivileges", false);
        process.addProperty("oomScoreAdj", clampOom(SANDBOX_OOM_SCORE_ADJ));
        spec.add("process", process);

        spec.add("root", root(true));
        if (!hostNetwork && !config.getHostname().isEmpty()) {
            // with the node's network the pod has the node's UTS namespace too, whose hostname is not ours to set
            spec.addProperty("hostname", config.getHostname());
        }

        var mounts = defaultMounts(false);
        mounts.removeIf(m -> m.destination().equals("/dev/shm"));
        String shm = hostIpc ? "/dev/shm" : pod.shmPath()
                .orElseThrow(() -> new IllegalArgumentException("sandbox " + sandboxId + ": no shm path for a pod with its own IPC namespace"))
                .toString();
        mounts.add(OciMount.bind("/dev/shm", shm, List.of("rbind", "ro", "nosuid", "nodev", "noexec")));
        if (userns.isEmpty()) {
            // (in a user namespace the infra's root cannot create the mount point in the image's host-owned /etc,
            // and the pause process resolves no names)
            mounts.add(OciMount.bind("/etc/resolv.conf", pod.resolvConfFile().toString(),
                    List.of("rbind", "ro", "nosuid", "nodev", "noexec")));
        }
        spec.add("mounts", mountsJson(mounts));

        var linux = new JsonObject();
        linux.add("resources", LinuxResources.NONE.withDevices(List.of(LinuxResources.DeviceRule.DENY_ALL))
                .withCpu(new LinuxResources.Cpu(SANDBOX_CPU_SHARES, null, null, null, null)).toJson());
        linux.addProperty("cgroupsPath", cgroupsPath(pod.cgroupParent(), sandboxId));

        var namespaces = new JsonArray();
        if (userns.isPresent()) {
            // The infra process makes the pod's user namespace, and its network namespace inside it (pinned by the
            // sandbox manager afterwards): only a user namespace that owns the netns can mount sysfs for it.
            namespaces.add(namespace("user", null));
            userns.get().addTo(linux);
        }
        if (ns.getPid() != NamespaceMode.NODE) {
            namespaces.add(namespace("pid", null));
        }
        if (!hostNetwork) {
            namespaces.add(namespace("network", userns.isPresent() ? null : pod.netnsPath().orElseThrow().toString()));
        }
        if (!hostIpc) {
            namespaces.add(namespace("ipc", null));
        }
        if (!hostNetwork) {
            namespaces.add(namespace("uts", null));
        }
        namespaces.add(namespace("mount", null));
        linux.add("namespaces", namespaces);

        Map<String, String> sysctls = config.getLinux().getSysctlsMap();
        if (!sysctls.isEmpty()) {
            var sysctl = new JsonObject();
            for (var e : new java.util.TreeMap<>(sysctls).entrySet()) {
                checkSysctl(e.getKey(), hostNetwork, hostIpc);
                sysctl.addProperty(e.getKey(), e.getValue());
            }
            linux.add("sysctl", sysctl);
        }
        if (!privileged) {
            linux.add("maskedPaths", strings(DEFAULT_MASKED_PATHS));
            linux.add("readonlyPaths", strings(DEFAULT_READONLY_PATHS));
            Seccomp.Choice choice = Seccomp.choose(sc.hasSeccomp() ? Optional.of(sc.getSeccomp()) : Optional.empty(),
                    sc.getSeccompProfilePath(), "linux.security_context");
            Seccomp.profile(choice, inputs.seccompProfile(), caps).ifPresent(p -> linux.add("seccomp", p));
        }
        spec.add("linux", linux);

        var annotations = new JsonObject();
        config.getAnnotationsMap().forEach(annotations::addProperty);
        annotations.addProperty(ANNOTATION_SANDBOX_ID, sandboxId);
        annotations.addProperty(ANNOTATION_SANDBOX_NAMESPACE, config.getMetadata().getNamespace());
        annotations.addProperty(ANNOTATION_SANDBOX_UID, config.getMetadata().getUid());
        annotations.addProperty(ANNOTATION_SANDBOX_NAME, config.getMetadata().getName());
        annotations.addProperty(ANNOTATION_SANDBOX_LOG_DIR, config.getLogDirectory());
        if (config.getLinux().hasResources()) {
            // the pod's total, for runtimes that size a VM; the pod cgroup itself is kubelet's to limit
            LinuxContainerResources r = config.getLinux().getResources();
            annotations.addProperty(ANNOTATION_SANDBOX_CPU_PERIOD, Long.toString(r.getCpuPeriod()));
            annotations.addProperty(ANNOTATION_SANDBOX_CPU_QUOTA, Long.toString(r.getCpuQuota()));
            annotations.addProperty(ANNOTATION_SANDBOX_CPU_SHARES, Long.toString(r.getCpuShares()));
            annotations.addProperty(ANNOTATION_SANDBOX_MEMORY, Long.toString(r.getMemoryLimitInBytes()));
        }
        if (config.getLinux().hasOverhead()) {
            // the RuntimeClass overhead, which the vm handler adds to its VM's size (vm/ VmSizing)
            LinuxContainerResources o = config.getLinux().getOverhead();
            annotations.addProperty(ANNOTATION_SANDBOX_OVERHEAD_CPU_PERIOD, Long.toString(o.getCpuPeriod()));
            annotations.addProperty(ANNOTATION_SANDBOX_OVERHEAD_CPU_QUOTA, Long.toString(o.getCpuQuota()));
            annotations.addProperty(ANNOTATION_SANDBOX_OVERHEAD_MEMORY, Long.toString(o.getMemoryLimitInBytes()));
        }
        annotations.addProperty(ANNOTATION_CONTAINER_TYPE, CONTAINER_TYPE_SANDBOX);
        spec.add("annotations", annotations);
        return spec;
    }

    // ---------------------------------------------------------------------------------------------------------------
    // CRI containers

    /**
     * A CRI container in the pod: process from the config and the image, the pod's namespaces, its mounts, devices,
     * resources and security settings.
     *
     * @param inputs what the spec needs of the host and the image ({@link SpecInputsResolver#container}); its
     *               handler's {@code standaloneContainers} makes the {@link #standalone} variant
     * @throws IllegalArgumentException naming the field of bad input (relative paths, unknown capabilities or users…)
     */
    public JsonObject containerSpec(PodContext pod, String containerId, ContainerConfig config, ImageConfigs.Parsed image,
                                    SpecInputs.Container inputs) {
        requireId(containerId, "container id");
        PodSandboxConfig podConfig = pod.config();
        LinuxContainerSecurityContext sc = config.getLinux().getSecurityContext();
        boolean privileged = sc.getPrivileged();
        if (privileged && !podConfig.getLinux().getSecurityContext().getPrivileged()) {
            throw new IllegalArgumentException("linux.security_context.privileged: no privileged container allowed in "
                    + "sandbox " + pod.sandboxId() + ", which is not privileged");
        }
        JsonObject imageConfig = image.json().has("config") && image.json().get("config").isJsonObject()
                ? image.json().getAsJsonObject("config") : new JsonObject();
        NamespaceOption ns = sc.getNamespaceOptions();
        boolean hostNetwork = pod.netnsPath().isEmpty();
        Optional<UserNamespaces.Mappings> userns = podUserNamespace(podConfig);
        checkContainerUserNamespace(ns, userns);
        if (userns.isPresent() && privileged) {
            throw new IllegalArgumentException("linux.security_context.privileged: no privileged container in a pod "
                    + "with a user namespace of its own");
        }

        var spec = new JsonObject();
        spec.addProperty("ociVersion", OCI_VERSION);

        // process
        var process = new JsonObject();
        process.addProperty("terminal", config.getTty());
        Users.Resolved user = user(sc, imageConfig, inputs.users());
        var userJson = new JsonObject();
        userJson.addProperty("uid", user.uid());
        userJson.addProperty("gid", user.gid());
        if (!user.additionalGids().isEmpty()) {
            var gids = new JsonArray();
            user.additionalGids().forEach(gids::add);
            userJson.add("additionalGids", gids);
        }
        process.add("user", userJson);
        process.add("args", strings(processArgs(config, imageConfig)));
        process.add("env", strings(env(inputs.hostname(), config, imageConfig)));
        process.addProperty("cwd", cwd(config, imageConfig));
        List<String> caps = privileged ? node.allCapabilities()
                : Capabilities.apply(sc.hasCapabilities() ? sc.getCapabilities() : null, node.allCapabilities());
        process.add("capabilities", capabilities(caps));
        process.addProperty("noNewPrivileges", sc.getNoNewPrivs());
        process.addProperty("oomScoreAdj", clampOom(config.getLinux().getResources().getOomScoreAdj()));
        apparmor(sc, privileged).ifPresent(p -> process.addProperty("apparmorProfile", p));
        spec.add("process", process);

        spec.add("root", root(sc.getReadonlyRootfs()));

        // mounts
        var linux = new JsonObject();
        spec.add("mounts", mountsJson(mounts(pod, config, sc, privileged, linux, inputs.mountSources())));

        // linux
        LinuxResources resources = linuxResources(config.getLinux().getResources());
        var deviceRules = new ArrayList<LinuxResources.DeviceRule>();
        var devices = new JsonArray();
        if (privileged && !inputs.handler().privilegedWithoutHostDevices()) {
            for (var d : inputs.hostDevices()) {
                devices.add(device(d.path(), d.device()));
            }
            deviceRules.add(LinuxResources.DeviceRule.ALLOW_ALL);
        } else {
            deviceRules.add(LinuxResources.DeviceRule.DENY_ALL);
            for (int i = 0; i < config.getDevicesCount(); i++) {
                Device d = config.getDevices(i);
                String field = "devices[" + i + "]";
                if (!d.getContainerPath().startsWith("/")) {
                    throw new IllegalArgumentException(field + ".container_path must be absolute, got \""
                            + d.getContainerPath() + "\"");
                }
                if (!d.getHostPath().startsWith("/")) {
                    throw new IllegalArgumentException(field + ".host_path must be absolute, got \"" + d.getHostPath() + "\"");
                }
                String access = d.getPermissions().isEmpty() ? "rwm" : d.getPermissions();
                if (!access.matches("[rwm]{1,3}")) {
                    throw new IllegalArgumentException(field + ".permissions: want any of r, w, m, got \"" + access + "\"");
                }
                Devices.Device dev = inputs.devices().get(i);
                devices.add(device(Path.of(d.getContainerPath()).normalize().toString(), dev));
                deviceRules.add(new LinuxResources.DeviceRule(true, dev.type(), dev.major(), dev.minor(), access));
            }
        }
        linux.add("resources", resources.withDevices(deviceRules).toJson());
        linux.addProperty("cgroupsPath", cgroupsPath(pod.cgroupParent(), containerId));
        var namespaces = containerNamespaces(pod, ns, inputs.targetPid(), privileged, hostNetwork);
        if (userns.isPresent()) {
            // runc 1.1 needs the mappings beside the path to know the host IDs of the container's root
            namespaces.add(namespace("user", procNs(pod.infraPid(), "user", "the sandbox's pid")));
            userns.get().addTo(linux);
        }
        linux.add("namespaces", namespaces);
        if (!devices.isEmpty()) {
            linux.add("devices", devices);
        }
        if (!privileged) {
            linux.add("maskedPaths", strings(sc.getMaskedPathsCount() > 0 ? sc.getMaskedPathsList() : DEFAULT_MASKED_PATHS));
            linux.add("readonlyPaths",
                    strings(sc.getReadonlyPathsCount() > 0 ? sc.getReadonlyPathsList() : DEFAULT_READONLY_PATHS));
            Seccomp.Choice choice = Seccomp.choose(sc.hasSeccomp() ? Optional.of(sc.getSeccomp()) : Optional.empty(),
                    sc.getSeccompProfilePath(), "linux.security_context");
            if (!node.seccompAvailable() && !(choice instanceof Seccomp.Choice.None)) {
                throw new IllegalArgumentException("linux.security_context.seccomp: seccomp is not supported on this node");
            }
            Seccomp.profile(choice, inputs.seccompProfile(), caps).ifPresent(p -> linux.add("seccomp", p));
        }
        spec.add("linux", linux);

        // annotations: the kubelet's first, so that the CRI ones cannot be spoofed
        var annotations = new JsonObject();
        config.getAnnotationsMap().forEach(annotations::addProperty);
        annotations.addProperty(ANNOTATION_SANDBOX_ID, pod.sandboxId());
        annotations.addProperty(ANNOTATION_SANDBOX_NAMESPACE, podConfig.getMetadata().getNamespace());
        annotations.addProperty(ANNOTATION_SANDBOX_UID, podConfig.getMetadata().getUid());
        annotations.addProperty(ANNOTATION_SANDBOX_NAME, podConfig.getMetadata().getName());
        annotations.addProperty(ANNOTATION_CONTAINER_NAME, config.getMetadata().getName());
        String imageName = config.getImage().getUserSpecifiedImage().isEmpty()
                ? config.getImage().getImage() : config.getImage().getUserSpecifiedImage();
        annotations.addProperty(ANNOTATION_IMAGE_NAME, imageName);
        annotations.addProperty(ANNOTATION_CONTAINER_TYPE, CONTAINER_TYPE_CONTAINER);
        spec.add("annotations", annotations);
        if (inputs.handler().standaloneContainers()) {
            standalone(spec);
        }
        return spec;
    }

    /**
     * A container that runs as a sandbox of its own (gVisor): without the annotations that would make the runtime
     * join it to the pod's sandbox, and joining only the pod's network namespace (the infra's PID, IPC and UTS
     * namespaces are those of another gVisor kernel, which cannot be entered).
     */
    static void standalone(JsonObject spec) {
        if (spec.has("annotations")) {
            var annotations = spec.getAsJsonObject("annotations");
            annotations.remove(ANNOTATION_CONTAINER_TYPE);
            annotations.remove(ANNOTATION_SANDBOX_ID);
        }
        if (spec.has("linux") && spec.getAsJsonObject("linux").has("namespaces")) {
            for (var ns : spec.getAsJsonObject("linux").getAsJsonArray("namespaces")) {
                var o = ns.getAsJsonObject();
                if (!"network".equals(o.get("type").getAsString())) {
                    o.remove("path");
                }
            }
        }
    }

    /** A bind mount of the spec that comes from a config mount with uid/gid mappings (index in config.mounts). */
    public record IdmappedVolume(int index, String destination, String source) {
    }

    /**
     * The bind mounts of a container spec that are volumes to idmap: those of config mounts with mappings, which
     * {@link #containerSpec} already checked to be the pod's.
     */
    public static List<IdmappedVolume> idmappedVolumes(JsonObject spec, ContainerConfig config) {
        var byDestination = new HashMap<String, Integer>();
        for (int i = 0; i < config.getMountsCount(); i++) {
            if (config.getMounts(i).getUidMappingsCount() == 0) {
                continue;
            }
            byDestination.put(Path.of(config.getMounts(i).getContainerPath()).normalize().toString(), i);
        }
        var out = new ArrayList<IdmappedVolume>();
        if (byDestination.isEmpty() || !spec.has("mounts")) {
            return out;
        }
        for (var e : spec.getAsJsonArray("mounts")) {
            JsonObject m = e.getAsJsonObject();
            Integer index = byDestination.get(m.get("destination").getAsString());
            if (index != null && "bind".equals(m.get("type").getAsString())) {
                out.add(new IdmappedVolume(index, m.get("destination").getAsString(), m.get("source").getAsString()));
            }
        }
        return out;
    }

    /** The spec's bind mounts at the given destinations take the new sources (an idmapped mount of each volume). */
    public static void rebindVolumes(JsonObject spec, Map<String, String> sourceByDestination) {
        if (sourceByDestination.isEmpty() || !spec.has("mounts")) {
            return;
        }
        for (var e : spec.getAsJsonArray("mounts")) {
            JsonObject m = e.getAsJsonObject();
            String source = sourceByDestination.get(m.get("destination").getAsString());
            if (source != null && "bind".equals(m.get("type").getAsString())) {
                m.addProperty("source", source);
            }
        }
    }

    /** containerd's rule (from Docker): command replaces Entrypoint and drops Cmd; args replace Cmd. */
    static List<String> processArgs(ContainerConfig config, JsonObject imageConfig) {
        List<String> command = config.getCommandList();
        List<String> args = config.getArgsList();
        var out = new ArrayList<String>();
        if (!command.isEmpty()) {
            out.addAll(command);
            out.addAll(args);
        } else {
            out.addAll(stringList(imageConfig, "Entrypoint"));
            out.addAll(args.isEmpty() ? stringList(imageConfig, "Cmd") : args);
        }
        if (out.isEmpty()) {
            throw new IllegalArgumentException("command: no command specified (neither the container config nor the "
                    + "image has a command or args)");
        }
        return out;
    }

    /** PATH, HOSTNAME, then the image's env, then the config's envs; a later value of a name replaces an earlier. */
    static List<String> env(String hostname, ContainerConfig config, JsonObject imageConfig) {
        var env = new LinkedHashMap<String, String>();
        putEnv(env, DEFAULT_PATH_ENV);
        putEnv(env, "HOSTNAME=" + hostname);
        for (String e : stringList(imageConfig, "Env")) {
            putEnv(env, e);
        }
        for (int i = 0; i < config.getEnvsCount(); i++) {
            var kv = config.getEnvs(i);
            if (kv.getKey().isEmpty() || kv.getKey().contains("=")) {
                throw new IllegalArgumentException("envs[" + i + "].key: invalid name \"" + kv.getKey() + "\"");
            }
            env.put(kv.getKey(), kv.getKey() + "=" + kv.getValue());
        }
        return new ArrayList<>(env.values());
    }

    private static void putEnv(Map<String, String> env, String entry) {
        int eq = entry.indexOf('=');
        env.put(eq < 0 ? entry : entry.substring(0, eq), entry);
    }

    static String cwd(ContainerConfig config, JsonObject imageConfig) {
        String cwd = config.getWorkingDir();
        String field = "working_dir";
        if (cwd.isEmpty()) {
            cwd = imageConfig.has("WorkingDir") && imageConfig.get("WorkingDir").isJsonPrimitive()
                    ? imageConfig.get("WorkingDir").getAsString() : "";
            field = "image config WorkingDir";
        }
        if (cwd.isEmpty()) {
            return "/";
        }
        if (!cwd.startsWith("/")) {
            throw new IllegalArgumentException(field + " must be an absolute path, got \"" + cwd + "\"");
        }
        return cwd;
    }

    private Users.Resolved user(LinuxContainerSecurityContext sc, JsonObject imageConfig, Users.ImageUsers users) {
        String spec;
        String field;
        if (!sc.getRunAsUsername().isEmpty()) {
            if (sc.hasRunAsUser()) {
                throw new IllegalArgumentException("linux.security_context: run_as_user and run_as_username are exclusive");
            }
            spec = sc.getRunAsUsername();
            field = "linux.security_context.run_as_username";
            if (spec.contains(":")) {
                throw new IllegalArgumentException(field + ": bad user name \"" + spec + "\"");
            }
        } else if (sc.hasRunAsUser()) {
            spec = Long.toString(requireId(sc.getRunAsUser().getValue(), "linux.security_context.run_as_user"));
            field = "linux.security_context.run_as_user";
        } else {
            if (sc.hasRunAsGroup()) {
                throw new IllegalArgumentException("linux.security_context.run_as_group is set without run_as_user or "
                        + "run_as_username");
            }
            spec = imageConfig.has("User") && imageConfig.get("User").isJsonPrimitive()
                    ? imageConfig.get("User").getAsString() : "";
            field = "image config User";
        }
        if (sc.hasRunAsGroup()) {
            spec = spec + ":" + requireId(sc.getRunAsGroup().getValue(), "linux.security_context.run_as_group");
        }
        Users.Resolved user = Users.resolve(spec, users, field);
        boolean strict = sc.getSupplementalGroupsPolicy() == SupplementalGroupsPolicy.Strict;
        return Users.withGroups(user, sc.getSupplementalGroupsList(), strict, users);
    }

    private Optional<String> apparmor(LinuxContainerSecurityContext sc, boolean privileged) {
        if (!node.apparmorAvailable() || privileged) {
            return Optional.empty();
        }
        if (sc.hasApparmor()) {
            SecurityProfile p = sc.getApparmor();
            if (p.getProfileType() == SecurityProfile.ProfileType.Localhost) {
                if (p.getLocalhostRef().isEmpty()) {
                    throw new IllegalArgumentException("linux.security_context.apparmor.localhost_ref is empty");
                }
                return Optional.of(p.getLocalhostRef());
            }
            return Optional.empty();
        }
        String legacy = sc.getApparmorProfile();
        if (legacy.startsWith("localhost/")) {
            return Optional.of(legacy.substring("localhost/".length()));
        }
        // RuntimeDefault: Bollard loads no AppArmor profile of its own yet, so the container runs unconfined
        return Optional.empty();
    }

    private List<OciMount> mounts(PodContext pod, ContainerConfig config, LinuxContainerSecurityContext sc,
                                  boolean privileged, JsonObject linux, Map<Integer, String> sources) {
        var criMounts = new ArrayList<CriMount>();
        for (int i = 0; i < config.getMountsCount(); i++) {
            criMounts.add(criMount(config.getMounts(i), "mounts[" + i + "]", podUserNamespace(pod.config()),
                    sources.get(i)));
        }
        Set<String> criDestinations = new HashSet<>();
        criMounts.forEach(m -> criDestinations.add(m.destination()));
        boolean ro = sc.getReadonlyRootfs();
        // the pod's files, unless the kubelet mounts its own there
        addUnlessPresent(criMounts, criDestinations, "/etc/hostname", pod.hostnameFile().toString(), ro);
        addUnlessPresent(criMounts, criDestinations, "/etc/hosts", pod.hostsFile().toString(), ro);
        addUnlessPresent(criMounts, criDestinations, "/etc/resolv.conf", pod.resolvConfFile().toString(), ro);
        boolean hostIpc = sc.getNamespaceOptions().getIpc() == NamespaceMode.NODE;
        String shm = hostIpc ? "/dev/shm" : pod.shmPath()
                .orElseThrow(() -> new IllegalArgumentException("sandbox " + pod.sandboxId()
                        + " has no shm path but the container does not use the node's IPC namespace"))
                .toString();
        addUnlessPresent(criMounts, criDestinations, "/dev/shm", shm, false);

        var out = new ArrayList<OciMount>();
        boolean devMounted = criDestinations.contains("/dev");
        for (OciMount m : defaultMounts(privileged)) {
            String dst = m.destination();
            if (criDestinations.contains(dst) || (devMounted && dst.startsWith("/dev/"))) {
                continue;
            }
            out.add(m);
        }
        if (!criDestinations.contains("/sys/fs/cgroup")) {
            var options = new ArrayList<>(List.of("nosuid", "noexec", "nodev", "relatime"));
            options.add(privileged ? "rw" : "ro");
            out.add(new OciMount("/sys/fs/cgroup", "cgroup", "cgroup", options));
        }
        // parents before children, so that no mount hides a deeper one
        criMounts.sort(Comparator.comparingInt(m -> depth(m.destination())));
        String rootPropagation = null;
        for (CriMount m : criMounts) {
            var options = new ArrayList<String>();
            options.add("rbind");
            switch (m.propagation()) {
                case PROPAGATION_BIDIRECTIONAL -> {
                    options.add("rshared");
                    rootPropagation = "rshared";
                }
                case PROPAGATION_HOST_TO_CONTAINER -> {
                    options.add("rslave");
                    if (!"rshared".equals(rootPropagation)) {
                        rootPropagation = "rslave";
                    }
                }
                default -> options.add("rprivate");
            }
            options.add(m.readonly() ? "ro" : "rw");
            if (m.recursiveReadOnly()) {
                // runc (1.1+) makes every submount read-only too, with mount_setattr(AT_RECURSIVE, MOUNT_ATTR_RDONLY)
                options.add("rro");
            }
            out.add(OciMount.bind(m.destination(), m.source(), options));
        }
        if (rootPropagation != null) {
            // a shared or slave mount only propagates when the container's root is at least as open
            linux.addProperty("rootfsPropagation", rootPropagation);
        }
        return out;
    }

    private record CriMount(String destination, String source, boolean readonly, MountPropagation propagation,
                            boolean recursiveReadOnly) {
    }

    private static void addUnlessPresent(List<CriMount> mounts, Set<String> destinations, String destination,
                                         String source, boolean readonly) {
        if (destinations.add(destination)) {
            mounts.add(new CriMount(destination, source, readonly, MountPropagation.PROPAGATION_PRIVATE, false));
        }
    }

    /** @param realSource the host path with its symlinks resolved, null when it does not exist */
    private static CriMount criMount(Mount m, String field, Optional<UserNamespaces.Mappings> userns,
                                     String realSource) {
        String dst = m.getContainerPath();
        if (dst.isEmpty() || !dst.startsWith("/")) {
            throw new IllegalArgumentException(field + ".container_path must be absolute, got \"" + dst + "\"");
        }
        if (m.hasImage() && !m.getImage().getImage().isEmpty()) {
            throw new IllegalArgumentException(field + ".image: image volumes are not supported");
        }
        if (m.getUidMappingsCount() > 0 || m.getGidMappingsCount() > 0) {
            // the kubelet gives a volume the pod's own mappings; Bollard idmaps it through the pod's user namespace
            UserNamespaces.checkMountMappings(m, userns, field + " (" + dst + ")");
        }
        if (m.getRecursiveReadOnly()) {
            if (!m.getReadonly()) {
                throw new IllegalArgumentException(field + " (" + dst + "): recursive_read_only needs readonly");
            }
            if (m.getPropagation() != MountPropagation.PROPAGATION_PRIVATE) {
                throw new IllegalArgumentException(field + " (" + dst + "): recursive_read_only needs propagation "
                        + "PROPAGATION_PRIVATE, got " + m.getPropagation());
            }
        }
        if (m.getPropagation() == MountPropagation.UNRECOGNIZED) {
            throw new IllegalArgumentException(field + ".propagation: unknown value " + m.getPropagationValue());
        }
        String src = m.getHostPath();
        if (src.isEmpty() || !src.startsWith("/")) {
            throw new IllegalArgumentException(field + ".host_path must be absolute, got \"" + src + "\"");
        }
        if (realSource == null) {
            throw new IllegalArgumentException(field + ".host_path " + src + " does not exist");
        }
        // selinux_relabel: Bollard runs without SELinux labelling, so there is nothing to relabel
        return new CriMount(Path.of(dst).normalize().toString(), realSource, m.getReadonly(), m.getPropagation(),
                m.getRecursiveReadOnly());
    }

    private static int depth(String path) {
        int n = 0;
        for (String part : path.split("/")) {
            if (!part.isEmpty()) {
                n++;
            }
        }
        return n;
    }

    private JsonArray containerNamespaces(PodContext pod, NamespaceOption ns, int targetPid, boolean privileged,
                                          boolean hostNetwork) {
        var out = new JsonArray();
        int infra = pod.infraPid();
        switch (ns.getPid()) {
            case POD -> out.add(namespace("pid", procNs(infra, "pid", "the sandbox's pid")));
            case CONTAINER -> out.add(namespace("pid", null));
            case NODE -> {
            }
            case TARGET -> {
                if (targetPid <= 0) {
                    throw new IllegalArgumentException("namespace_options.pid is TARGET (target_id \"" + ns.getTargetId()
                            + "\") but no target pid was given");
                }
                out.add(namespace("pid", "/proc/" + targetPid + "/ns/pid"));
            }
            case UNRECOGNIZED -> throw new IllegalArgumentException("namespace_options.pid: unknown mode " + ns.getPidValue());
        }
        if (!hostNetwork) {
            out.add(namespace("network", pod.netnsPath().orElseThrow().toString()));
        }
        if (ns.getIpc() != NamespaceMode.NODE) {
            out.add(namespace("ipc", procNs(infra, "ipc", "the sandbox's pid")));
        }
        if (!hostNetwork) {
            out.add(namespace("uts", procNs(infra, "uts", "the sandbox's pid")));
        }
        out.add(namespace("mount", null));
        if (node.cgroupV2Unified() && !privileged) {
            // hides the node's cgroup tree; on v1 containerd and Docker keep the host's view for compatibility
            out.add(namespace("cgroup", null));
        }
        return out;
    }

    /** The pod's own user namespace, if it has one (namespace_options.userns_options mode POD). */
    public static Optional<UserNamespaces.Mappings> podUserNamespace(PodSandboxConfig config) {
        return UserNamespaces.of(config.getLinux().getSecurityContext().getNamespaceOptions(),
                "linux.security_context.namespace_options");
    }

    /** The kubelet repeats the pod's user namespace options for each container; anything else is refused. */
    private static void checkContainerUserNamespace(NamespaceOption ns, Optional<UserNamespaces.Mappings> pod) {
        if (!ns.hasUsernsOptions()) {
            return;
        }
        var own = UserNamespaces.of(ns, "linux.security_context.namespace_options");
        if (!own.equals(pod)) {
            throw new IllegalArgumentException("linux.security_context.namespace_options.userns_options: a container "
                    + "shares the pod's user namespace, but asks for " + (own.isEmpty() ? "the node's" : own.get())
                    + " while the pod has " + (pod.isEmpty() ? "the node's" : pod.get()));
        }
    }

    private static String procNs(int pid, String type, String what) {
        if (pid <= 0) {
            throw new IllegalArgumentException("cannot join the pod's " + type + " namespace: " + what + " is not known ("
                    + pid + ")");
        }
        return "/proc/" + pid + "/ns/" + type;
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Resources

    /**
     * LinuxContainerResources → OCI linux.resources (for create and for UpdateContainerResources). Zero means unset.
     * A memory limit without a swap limit also caps swap (no swap use by default), where swap is accounted.
     *
     * @throws IllegalArgumentException naming a negative or malformed field
     */
    public JsonObject resources(LinuxContainerResources r) {
        return linuxResources(r).toJson();
    }

    /** {@link #resources}, typed. */
    public LinuxResources linuxResources(LinuxContainerResources r) {
        Long shares = null;
        Long quota = null;
        Long period = null;
        String cpus = null;
        String mems = null;
        if (r.getCpuShares() != 0) {
            shares = nonNegative(r.getCpuShares(), "cpu_shares");
        }
        if (r.getCpuQuota() != 0) {
            if (r.getCpuQuota() < -1) {
                throw new IllegalArgumentException("cpu_quota must be -1 or positive, got " + r.getCpuQuota());
            }
            quota = r.getCpuQuota();
        }
        if (r.getCpuPeriod() != 0) {
            period = nonNegative(r.getCpuPeriod(), "cpu_period");
        }
        if (!r.getCpusetCpus().isEmpty()) {
            cpus = cpuset(r.getCpusetCpus(), "cpuset_cpus");
        }
        if (!r.getCpusetMems().isEmpty()) {
            mems = cpuset(r.getCpusetMems(), "cpuset_mems");
        }
        var cpu = shares == null && quota == null && period == null && cpus == null && mems == null ? null
                : new LinuxResources.Cpu(shares, quota, period, cpus, mems);
        Long memoryLimit = null;
        Long memorySwap = null;
        long limit = r.getMemoryLimitInBytes();
        long swap = r.getMemorySwapLimitInBytes();
        if (limit != 0) {
            memoryLimit = nonNegative(limit, "memory_limit_in_bytes");
            if (swap == 0 && node.swapAvailable()) {
                memorySwap = limit;
            }
        }
        if (swap != 0 && node.swapAvailable()) {
            if (swap < -1) {
                throw new IllegalArgumentException("memory_swap_limit_in_bytes must be -1 or positive, got " + swap);
            }
            memorySwap = swap;
        }
        var memory = memoryLimit == null && memorySwap == null ? null : new LinuxResources.Memory(memoryLimit, memorySwap);
        List<LinuxResources.HugepageLimit> hugepages = null;
        if (r.getHugepageLimitsCount() > 0 && node.hugetlbAvailable()) {
            hugepages = new ArrayList<>();
            for (int i = 0; i < r.getHugepageLimitsCount(); i++) {
                HugepageLimit h = r.getHugepageLimits(i);
                if (!HUGEPAGE_SIZE.matcher(h.getPageSize()).matches()) {
                    throw new IllegalArgumentException("hugepage_limits[" + i + "].page_size: want <n>KB|MB|GB…, got \""
                            + h.getPageSize() + "\"");
                }
                hugepages.add(new LinuxResources.HugepageLimit(h.getPageSize(), h.getLimit()));
            }
        }
        Map<String, String> unified = null;
        if (r.getUnifiedCount() > 0 && node.cgroupV2Unified()) {
            for (String key : r.getUnifiedMap().keySet()) {
                if (key.isEmpty() || key.contains("/")) {
                    throw new IllegalArgumentException("unified: invalid cgroup file name \"" + key + "\"");
                }
            }
            unified = r.getUnifiedMap();
        }
        return new LinuxResources(cpu, memory, hugepages, unified, null);
    }

    /**
     * The spec after UpdateContainerResources: each part of linux.resources the update sets (cpu, memory, hugepage
     * limits, unified) replaces the spec's, the rest (devices) stays. The given spec is not changed.
     */
    public static JsonObject withResources(JsonObject spec, LinuxResources update) {
        JsonObject out = spec.deepCopy();
        var linux = out.has("linux") ? out.getAsJsonObject("linux") : new JsonObject();
        var merged = linux.has("resources") ? linux.getAsJsonObject("resources") : new JsonObject();
        update.toJson().entrySet().forEach(e -> merged.add(e.getKey(), e.getValue()));
        linux.add("resources", merged);
        out.add("linux", linux);
        return out;
    }

    private static long nonNegative(long v, String field) {
        if (v < 0) {
            throw new IllegalArgumentException(field + " must not be negative, got " + v);
        }
        return v;
    }

    private static String cpuset(String s, String field) {
        if (!s.matches("[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*")) {
            throw new IllegalArgumentException(field + ": invalid cpuset list \"" + s + "\"");
        }
        return s;
    }

    private int clampOom(long requested) {
        if (requested < -1000 || requested > 1000) {
            throw new IllegalArgumentException("oom_score_adj must be within -1000..1000, got " + requested);
        }
        return (int) Math.max(requested, node.minOomScoreAdj());
    }

    /** cgroupfs: parent/id; systemd: slice:prefix:id, the form runc's systemd driver takes. */
    String cgroupsPath(String parent, String id) {
        if (node.systemdCgroup()) {
            String slice = parent.isEmpty() ? "" : Path.of(parent).getFileName().toString();
            if (!slice.isEmpty() && !slice.endsWith(".slice")) {
                throw new IllegalArgumentException("cgroup_parent \"" + parent + "\" is not a systemd slice, but the "
                        + "systemd cgroup driver is in use");
            }
            return slice + ":" + SYSTEMD_CGROUP_PREFIX + ":" + id;
        }
        if (parent.isEmpty()) {
            return "/" + id;
        }
        if (!parent.startsWith("/")) {
            throw new IllegalArgumentException("cgroup_parent must be an absolute cgroupfs path, got \"" + parent + "\"");
        }
        return parent.endsWith("/") ? parent + id : parent + "/" + id;
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Exec and signals

    /**
     * The process of an exec in a running container: the container's user, cwd, env, capabilities and confinement
     * with another command.
     *
     * @throws IllegalArgumentException when cmd is empty
     */
    public static JsonObject execProcess(JsonObject containerSpec, List<String> cmd, boolean tty) {
        if (cmd == null || cmd.isEmpty() || cmd.getFirst().isEmpty()) {
            throw new IllegalArgumentException("cmd: no command given to exec");
        }
        JsonObject base = containerSpec.getAsJsonObject("process");
        if (base == null) {
            throw new IllegalArgumentException("container spec has no process");
        }
        var process = new JsonObject();
        process.addProperty("terminal", tty);
        for (String key : List.of("user", "env", "cwd", "capabilities", "noNewPrivileges", "apparmorProfile",
                "selinuxLabel", "rlimits")) {
            if (base.has(key)) {
                process.add(key, base.get(key).deepCopy());
            }
        }
        process.add("args", strings(cmd));
        return process;
    }

    /** "SIGTERM"/"TERM"/"15" → 15. @throws IllegalArgumentException for an unknown signal */
    public static int signalNumber(String name) {
        return Signals.number(name);
    }

    /** The image's StopSignal, SIGTERM by default (the spec has no place for it: the stopper sends it). */
    public static String stopSignal(ImageConfigs.Parsed image) {
        JsonElement config = image.json().get("config");
        if (config != null && config.isJsonObject()) {
            JsonElement s = config.getAsJsonObject().get("StopSignal");
            if (s != null && s.isJsonPrimitive() && !s.getAsString().isBlank()) {
                return s.getAsString().trim();
            }
        }
        return "SIGTERM";
    }

    // ---------------------------------------------------------------------------------------------------------------
    // JSON pieces

    private static void checkSysctl(String name, boolean hostNetwork, boolean hostIpc) {
        if (name.isEmpty() || name.contains("/") || name.contains("..")) {
            throw new IllegalArgumentException("linux.sysctls: invalid name \"" + name + "\"");
        }
        // runc refuses namespaced sysctls that would change the node's own namespace
        if (hostNetwork && name.startsWith("net.")) {
            throw new IllegalArgumentException("linux.sysctls: " + name + " cannot be set with the node's network namespace");
        }
        boolean ipcSysctl = name.startsWith("fs.mqueue.") || List.of("kernel.msgmax", "kernel.msgmnb", "kernel.msgmni",
                "kernel.sem", "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced").contains(name);
        if (hostIpc && ipcSysctl) {
            throw new IllegalArgumentException("linux.sysctls: " + name + " cannot be set with the node's IPC namespace");
        }
    }

    private static boolean hostNetwork(PodContext pod, NamespaceOption ns) {
        if (ns.getNetwork() == NamespaceMode.NODE) {
            return true;
        }
        return pod.netnsPath().isEmpty();
    }

    /** The default mounts of containerd's Unix spec, without /run. */
    private static List<OciMount> defaultMounts(boolean writableSysfs) {
        var mounts = new ArrayList<OciMount>();
        mounts.add(new OciMount("/proc", "proc", "proc", List.of("nosuid", "noexec", "nodev")));
        mounts.add(new OciMount("/dev", "tmpfs", "tmpfs", List.of("nosuid", "strictatime", "mode=755", "size=65536k")));
        mounts.add(new OciMount("/dev/pts", "devpts", "devpts",
                List.of("nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5")));
        mounts.add(new OciMount("/dev/shm", "tmpfs", "shm",
                List.of("nosuid", "noexec", "nodev", "mode=1777", "size=65536k")));
        mounts.add(new OciMount("/dev/mqueue", "mqueue", "mqueue", List.of("nosuid", "noexec", "nodev")));
        mounts.add(new OciMount("/sys", "sysfs", "sysfs",
                List.of("nosuid", "noexec", "nodev", writableSysfs ? "rw" : "ro")));
        return mounts;
    }

    private static JsonArray mountsJson(List<OciMount> mounts) {
        var a = new JsonArray();
        mounts.forEach(m -> a.add(m.toJson()));
        return a;
    }

    private static JsonObject root(boolean readonly) {
        var root = new JsonObject();
        root.addProperty("path", "rootfs");
        root.addProperty("readonly", readonly);
        return root;
    }

    /** No ambient and no inheritable capabilities: containerd's choice since CVE-2022-24769. */
    private static JsonObject capabilities(List<String> caps) {
        var c = new JsonObject();
        c.add("bounding", strings(caps));
        c.add("effective", strings(caps));
        c.add("permitted", strings(caps));
        return c;
    }

    private static JsonObject namespace(String type, String path) {
        var n = new JsonObject();
        n.addProperty("type", type);
        if (path != null) {
            n.addProperty("path", path);
        }
        return n;
    }

    private static JsonObject device(String path, Devices.Device dev) {
        var d = new JsonObject();
        d.addProperty("path", path);
        d.addProperty("type", dev.type());
        d.addProperty("major", dev.major());
        d.addProperty("minor", dev.minor());
        d.addProperty("fileMode", dev.fileMode());
        d.addProperty("uid", dev.uid());
        d.addProperty("gid", dev.gid());
        return d;
    }

    private static List<String> stringList(JsonObject o, String key) {
        JsonElement e = o.get(key);
        if (e == null || !e.isJsonArray()) {
            return List.of();
        }
        var out = new ArrayList<String>();
        for (JsonElement s : e.getAsJsonArray()) {
            out.add(s.getAsString());
        }
        return out;
    }

    private static JsonArray strings(List<String> values) {
        var a = new JsonArray();
        values.forEach(a::add);
        return a;
    }

    private static long requireId(long id, String field) {
        if (id < 0 || id > 0xFFFF_FFFEL) {
            throw new IllegalArgumentException(field + " out of range: " + id);
        }
        return id;
    }

    private static void requireId(String id, String what) {
        if (id == null || id.isEmpty() || id.contains("/") || id.contains(":")) {
            throw new IllegalArgumentException(what + " \"" + id + "\" is empty or holds '/' or ':'");
        }
    }
}
