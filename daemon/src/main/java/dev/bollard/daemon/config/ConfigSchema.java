package dev.bollard.daemon.config;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import static dev.bollard.daemon.config.ConfigKey.absolutePath;
import static dev.bollard.daemon.config.ConfigKey.bool;
import static dev.bollard.daemon.config.ConfigKey.optionalPath;
import static dev.bollard.daemon.config.ConfigKey.optionalString;
import static dev.bollard.daemon.config.ConfigKey.port;
import static dev.bollard.daemon.config.ConfigKey.positiveInt;
import static dev.bollard.daemon.config.ConfigKey.string;

/**
 * Every section and key Bollard's TOML configuration knows. The parser rejects anything not listed here and
 * {@code bollard config default} renders this list, so a key cannot exist without being documented.
 */
public final class ConfigSchema {

    /**
     * A section of the file.
     *
     * @param name      {@code daemon} for {@code [daemon]}; for a named family such as {@code [runtimes.<name>]}, the prefix
     * @param named     whether the section is a family of named tables ({@code [runtimes.runc]}, {@code [runtimes.crun]}…)
     * @param defaults  for a named family, the entries present by default, each with the keys that differ from the key defaults
     */
    public record Section(String name, boolean named, String doc, List<ConfigKey> keys,
                          Map<String, Map<String, Object>> defaults) {

        public Optional<ConfigKey> key(String keyName) {
            return keys.stream().filter(k -> k.name().equals(keyName)).findFirst();
        }

        public List<String> keyNames() {
            return keys.stream().map(ConfigKey::name).toList();
        }
    }

    public static final String DAEMON = "daemon";
    public static final String RUNTIME = "runtime";
    public static final String RUNTIMES = "runtimes";
    public static final String REGISTRY = "registry";
    public static final String CNI = "cni";
    public static final String METRICS = "metrics";
    public static final String STREAMING = "streaming";
    public static final String CDI = "cdi";
    public static final String NRI = "nri";

    /** The shim of Bollard's VM runtime (vm/ module); a handler running it is a VM handler. */
    public static final String VM_SHIM = "containerd-shim-bollard-vm-v2";
    /** The keys of {@code [runtimes.<name>]} that only a VM handler may set. */
    public static final List<String> VM_KEYS = List.of("hypervisor", "kernel", "initrd", "vcpus", "memory_mb", "accelerator");
    public static final int VM_MAX_VCPUS = 64;
    public static final int VM_MIN_MEMORY_MB = 128;
    public static final int VM_MAX_MEMORY_MB = 1 << 20;
    public static final int VM_KVM_PROBE_SECONDS = 10;

    public static final List<Section> SECTIONS = List.of(
            new Section(DAEMON, false, "The daemon process. The --socket, --root and --state flags override these.", List.of(
                    absolutePath("socket", "/run/bollard/bollard.sock",
                            "UNIX socket serving runtime.v1.RuntimeService and runtime.v1.ImageService (mode 0660).\n"
                                    + "Point kubelet's --container-runtime-endpoint at unix://<this path>."),
                    absolutePath("root", "/var/lib/bollard",
                            "Persistent state: the store, images and snapshots. Survives reboots."),
                    absolutePath("state", "/run/bollard",
                            "Volatile state: shim sockets, bundles, FIFOs. Expected on a tmpfs; gone after a reboot."),
                    string("log_level", "info", "Lowest level logged. At debug, every CRI call is logged with its latency.",
                            "debug", "info", "warn", "error"),
                    string("log_format", "text", "text: logfmt key=value lines; json: one JSON object per line.",
                            "text", "json"),
                    bool("stop_pods_on_shutdown", false,
                            "Stop every pod (its containers, infra process, shim and network) when the daemon stops.\n"
                                    + "Off by default: pods keep running across a daemon restart or upgrade, as with\n"
                                    + "containerd; for test nodes that must be left clean.")), Map.of()),
            new Section(RUNTIME, false, "How containers are run, whatever the handler.", List.of(
                    string("cgroup_driver", "auto",
                            "cgroupfs writes cgroup directories itself; systemd asks systemd for scopes and needs it running.\n"
                                    + "auto takes systemd when it runs as the init system, cgroupfs otherwise.",
                            "auto", "cgroupfs", "systemd"),
                    string("default_runtime", "runc",
                            "Handler used for pods whose RuntimeClass handler is empty. Must name a [runtimes.<name>] table."),
                    string("sandbox_image", "builtin",
                            "The image of each pod's infra container (containerd's sandbox_image). builtin: a pause\n"
                                    + "image Bollard assembles from Debian's catatonit (/usr/bin/catatonit), no registry needed,\n"
                                    + "imported at daemon start so that a full disk cannot stop pods;\n"
                                    + "otherwise an image reference, pulled when missing."),
                    positiveInt("max_container_log_line_size", 16384,
                            "Container output lines longer than this many bytes are split into partial (P) log lines.")),
                    Map.of()),
            new Section(RUNTIMES, true,
                    "RuntimeClass handlers: each [runtimes.<name>] is a handler kubelet may ask for by name.\n"
                            + "Each runs through a containerd shim v2 binary: one shim process per pod, or per group of pods\n"
                            + "(pods_per_shim).",
                    List.of(
                            string("shim", "containerd-shim-runc-v2",
                                    "The shim v2 binary: a name looked up on PATH, or an absolute path."),
                            string("binary_name", "runc",
                                    "The OCI runtime the shim runs (its BinaryName option): a name on PATH or an absolute path."),
                            optionalPath("root", "Root directory of the OCI runtime's own state; empty for the runtime's default\n"
                                    + "(the shim's /run/containerd/runc/<namespace>; for runsc, <state>/runsc of this node)."),
                            bool("systemd_cgroup", false, "Ask the OCI runtime to use systemd cgroups (needs cgroup_driver systemd)."),
                            bool("privileged_without_host_devices", false,
                                    "Privileged containers of this handler do not get the host's devices."),
                            optionalString("runtime_flags", "",
                                    "Global flags the OCI runtime gets on every call, space-separated, before the flags the\n"
                                            + "shim passes itself (--root, --log, --log-format, --systemd-cgroup: set those through\n"
                                            + "root and systemd_cgroup, not here) and the subcommand. Bollard runs the runtime through\n"
                                            + "a launcher it writes in <state>/runtimes/ to add them. The runsc handler's default is\n"
                                            + "\"--platform=ptrace --network=host\": gVisor's ptrace platform, and the sandbox using the\n"
                                            + "pod network namespace's host stack (--network=sandbox, gVisor's netstack, does not work on\n"
                                            + "these nodes; --platform=kvm hangs, so Bollard reports it not ready)."),
                            string("hypervisor", "qemu-system-x86_64",
                                    "VM handlers only (shim containerd-shim-bollard-vm-v2: each pod in a qemu VM).\n"
                                            + "The qemu binary: a name looked up on PATH, or an absolute path."),
                            optionalPath("kernel", "VM handlers only. The guest kernel (an uncompressed vmlinux, booted through PVH);\n"
                                    + "empty for vm/guest/out/vmlinux beside the shim's launcher (vm/guest/build.sh makes it)."),
                            optionalPath("initrd", "VM handlers only. The guest's initramfs (agent, crun, busybox); empty for\n"
                                    + "vm/guest/out/initrd.img beside the shim's launcher."),
                            positiveInt("vcpus", 1, "VM handlers only. vCPUs of a pod's VM before its own share: the VM gets\n"
                                    + "vcpus + the pod's CPU limit + the RuntimeClass overhead's, rounded up to whole\n"
                                    + "CPUs (as Kata does), at most the node's CPUs. At most " + VM_MAX_VCPUS + "."),
                            positiveInt("memory_mb", 256, "VM handlers only. Guest memory (MiB) before the pod's own: the VM gets\n"
                                    + "memory_mb + the pod's memory limit + the RuntimeClass overhead's. At least "
                                    + VM_MIN_MEMORY_MB + "\n(the guest's root lives in RAM)."),
                            string("accelerator", "auto", "VM handlers only. kvm: hardware virtualization through /dev/kvm;\n"
                                    + "tcg: qemu's emulation (seconds per boot, no /dev/kvm needed); auto: kvm when /dev/kvm\n"
                                    + "really boots the guest kernel (probed once per node, within "
                                    + VM_KVM_PROBE_SECONDS + " s: on a PVM host stock\nkernels hang there), tcg otherwise. "
                                    + "Status (verbose) and the handler's readiness say which, and why.",
                                    "auto", "kvm", "tcg"),
                            positiveInt("pods_per_shim", 1,
                                    "Pods one shim process serves. 1: a shim per pod, as containerd runs them. N > 1: pods of a\n"
                                            + "group (shim_grouping) share a shim, up to N each; the group's shim starts with its first\n"
                                            + "pod and exits after its last is stopped. Saves most of a shim's memory per pod, but a\n"
                                            + "shim that dies takes every container of its pods with it (all reported exited, 255).\n"
                                            + "Refused above 1 for runsc (gVisor) and the VM shim: they keep a shim per pod."),
                            string("shim_grouping", "namespace",
                                    "Which pods share a shim when pods_per_shim > 1. namespace: pods of the same Kubernetes\n"
                                            + "namespace; annotation: pods with the same bollard.dev/shim-group annotation (a pod\n"
                                            + "without one gets a shim of its own). Either way the annotation, when set, names the group.",
                                    "namespace", "annotation")),
                    defaultRuntimes()),
            new Section(REGISTRY, false, "Where images are pulled from.", List.of(
                    absolutePath("config_path", "/etc/bollard/certs.d",
                            "Per-registry host configuration in containerd's certs.d layout:\n"
                                    + "<config_path>/<host>/hosts.toml (a port as host_port_ or host:port), with\n"
                                    + "<config_path>/_default/hosts.toml for hosts without a directory of their own.\n"
                                    + "Each file sets the upstream server, mirrors ([host.\"<url>\"] tables, tried in\n"
                                    + "file order before the server), CA files, client certificates, skip_verify and headers.\n"
                                    + "A directory without hosts.toml is read the Docker way: *.crt are CAs, *.cert/*.key\n"
                                    + "client certificates. Read at every pull, so edits need no restart."),
                    positiveInt("max_concurrent_downloads", 3, "Layers of one pull fetched and unpacked at the same time."),
                    positiveInt("pull_progress_timeout_seconds", 60,
                            "A blob download that receives no byte for this long fails (and is retried, then resumed\n"
                                    + "from where it stopped); a slow download that keeps moving never does.")),
                    Map.of()),
            new Section(CNI, false, "Pod networking: Bollard runs CNI plugins itself, one network namespace per pod.", List.of(
                    absolutePath("conf_dir", "/etc/cni/net.d",
                            "Network configurations (*.conflist, *.conf, *.json); the first by file name is the pod network."),
                    string("bin_dirs", "/usr/lib/cni:/opt/cni/bin",
                            "Where plugin binaries are looked up, colon-separated, in order (Debian installs them in /usr/lib/cni)."),
                    bool("write_default_config", true,
                            "When conf_dir holds no configuration at start, write 10-bollard.conflist there: a bridge\n"
                                    + "with host-local addresses from the pod CIDR (UpdateRuntimeConfig) or default_subnet,\n"
                                    + "portmap for hostPorts, and loopback."),
                    string("default_bridge", "bollard0", "The bridge device of the default configuration."),
                    string("default_subnet", "10.88.0.0/16",
                            "The pod subnet of the default configuration when kubelet has set no pod CIDR."),
                    positiveInt("plugin_timeout_seconds", 30, "A plugin call that takes longer is killed and fails.")),
                    Map.of()),
            new Section(METRICS, false, "Prometheus metrics for operators (the CRI's own pod metrics need no setting).", List.of(
                    optionalString("address", "",
                            "host:port of an HTTP listener serving GET /metrics in Prometheus text format, e.g.\n"
                                    + "\"127.0.0.1:9323\": CRI call latencies and errors by method and code, pods and containers\n"
                                    + "by state, shims, image pulls, JVM memory and GC. Empty: no listener.")),
                    Map.of()),
            new Section(STREAMING, false, "The streaming server: the URLs Exec, Attach and PortForward return point here\n"
                    + "(SPDY/3.1 and WebSocket, as kubelet, kubectl and crictl speak them).", List.of(
                    string("address", "127.0.0.1", "Listen address. kubelet connects from the same node, so loopback is enough\n"
                            + "unless clients reach the streaming server directly."),
                    port("port", 0, "Listen port; 0 picks a free port at every start."),
                    optionalPath("tls_cert_file", "PEM certificate chain: with tls_key_file, the server speaks HTTPS."),
                    optionalPath("tls_key_file", "PEM private key (PKCS#8) of tls_cert_file."),
                    string("idle_timeout", "4h", "A streaming connection without traffic either way for this long is closed."),
                    string("stream_creation_timeout", "30s",
                            "After the upgrade, the client has this long to open the streams its request needs."),
                    positiveInt("max_streams", 1000,
                            "Concurrent streaming sessions (exec, attach, port-forward connections); more are refused (503)."),
                    string("token_ttl", "1m", "An Exec/Attach/PortForward URL not used within this long expires (404).")),
                    Map.of()),
            new Section(CDI, false, "CDI (Container Device Interface): devices a container asks for by name, in its\n"
                    + "ContainerConfig.cdi_devices or in cdi.k8s.io/<key> annotations (\"vendor.com/class=name,...\"), are\n"
                    + "looked up in the CDI spec files (JSON or YAML) of these directories and their edits (device nodes,\n"
                    + "mounts, env, hooks, additional GIDs) applied to the container's OCI spec.", List.of(
                    bool("enable", true, "Resolve CDI devices. Off: the devices containers name are ignored, as containerd does."),
                    string("spec_dirs", "/etc/cdi:/var/run/cdi",
                            "Where CDI spec files (*.json, *.yaml) are read, colon-separated; for a device defined in\n"
                                    + "several directories, the later directory wins. Read at every CreateContainer that\n"
                                    + "names a device, so new spec files need no restart.")),
                    Map.of()),
            new Section(NRI, false, "NRI (Node Resource Interface, containerd/nri's protocol): plugins that see the pod and\n"
                    + "container lifecycle and adjust containers as they are created (annotations, env, mounts, devices,\n"
                    + "hooks, resources, rlimits, cgroup path) or update their resources. Off by default, as in containerd.", List.of(
                    bool("enable", false, "Run NRI: serve socket_path and start the plugins of plugin_path."),
                    string("socket_path", "/var/run/nri/nri.sock",
                            "The socket externally started plugins connect to (created 0600 by the daemon)."),
                    bool("disable_connections", false, "No socket: only the pre-installed plugins of plugin_path run."),
                    string("plugin_path", "/opt/nri/plugins",
                            "Pre-installed plugins, executables named NN-name (NN: their index, the call order), started\n"
                                    + "by the daemon with a connected socket as fd 3."),
                    string("plugin_config_path", "/etc/nri/conf.d",
                            "A pre-installed plugin's configuration: NN-name.conf, else name.conf, passed in Configure."),
                    string("plugin_registration_timeout", "5s",
                            "A plugin that has not registered this long after it connected is disconnected."),
                    string("plugin_request_timeout", "2s",
                            "The longest a plugin may take to answer one event; a plugin that fails or takes longer is\n"
                                    + "disconnected (logged) and the pod or container goes on without it.")),
                    Map.of()));

    private static Map<String, Map<String, Object>> defaultRuntimes() {
        var defaults = new LinkedHashMap<String, Map<String, Object>>();
        defaults.put("runc", Map.of());
        defaults.put("crun", Map.of("binary_name", "crun"));
        defaults.put("runsc", Map.of("binary_name", "runsc", "runtime_flags", "--platform=ptrace --network=host"));
        defaults.put("vm", Map.of("shim", VM_SHIM, "binary_name", "crun"));
        return defaults;
    }


    /** Whether a handler's shim (a name or a path) is Bollard's VM shim. */
    public static boolean isVmShim(String shim) {
        String name = shim.substring(shim.lastIndexOf('/') + 1);
        return name.startsWith("containerd-shim-bollard-vm");
    }

    public static Optional<Section> section(String name) {
        return SECTIONS.stream().filter(s -> s.name().equals(name)).findFirst();
    }

    public static List<String> sectionNames() {
        return SECTIONS.stream().map(s -> s.named() ? s.name() + ".<name>" : s.name()).toList();
    }

    private ConfigSchema() {
    }
}
