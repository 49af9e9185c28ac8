package dev.bollard.vm;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * Turns a container's OCI config (as Bollard or containerd wrote it for the host) into the one crun runs in the
 * guest. What refers to the host is rewritten or dropped:
 * <ul>
 *   <li>{@code root.path} becomes {@code rootfs}, the bundle's rootfs as shared into the guest;</li>
 *   <li>bind mounts from host paths are shared into the guest too: each becomes a {@link HostBind} the shim
 *       bind-mounts under the container's share (read-only ones read-only on the host as well), and the mount's
 *       source becomes the guest path of that share;</li>
 *   <li>the pod's {@code /dev/shm} (a bind of the tmpfs Bollard made for the pod) becomes a bind of the pod's
 *       tmpfs in the guest, {@link #GUEST_SHM}, so the pod's containers share memory in the guest's tmpfs (a
 *       virtiofs share of the host's would not be one tmpfs for the guest); {@link Result#shmSource} is the host
 *       tmpfs, whose size the guest's takes;</li>
 *   <li>the network namespace is dropped, so the pod's containers share the VM's network (the VM is the pod's
 *       network namespace); an IPC, UTS or PID namespace joined by path (the pod's, or a target container's for
 *       PID) is joined in the guest: a {@code /proc/<pid>/ns/<type>} path whose pid is a guest pid of this pod
 *       (the pids the shim reported are the guest's) stays, any other joined path becomes the pod sandbox's
 *       namespace in the guest, and without a sandbox (the sandbox container itself) a new one; other
 *       namespaces lose their {@code path};</li>
 *   <li>{@code linux.cgroupsPath} becomes {@code /bollard/<id>} in the guest's cgroup v2 tree (the agent's stats
 *       read there); hooks, AppArmor and SELinux labels (host-side things) are dropped, and so are {@code net.*}
 *       sysctls, which need a network namespace of the container's own.</li>
 * </ul>
 */
final class GuestSpec {

    /** A host path to bind under the container's share at {@code mounts/<name>}. */
    record HostBind(String source, String name, boolean readOnly) {
    }

    /**
     * @param networkNamespace the host network namespace the spec named (the pod's, from CNI), if any
     * @param shmSource        the host source of the {@code /dev/shm} bind that now binds {@link #GUEST_SHM}
     */
    record Result(JsonObject spec, List<HostBind> binds, java.util.Optional<String> networkNamespace,
                  java.util.Optional<String> shmSource) {
    }

    /** The pod's /dev/shm tmpfs in the guest (the agent's {@code shm} operation mounts it). */
    static final String GUEST_SHM = "/run/bollard/pod-shm";

    private static final Set<String> BIND_OPTIONS = Set.of("bind", "rbind");

    private GuestSpec() {
    }

    /**
     * @param guestBundle the container's bundle directory as the guest sees it
     */
    static Result rewrite(JsonObject hostSpec, String containerId, String guestBundle) {
        return rewrite(hostSpec, containerId, guestBundle, pid -> false, java.util.OptionalInt.empty());
    }

    /** Namespace types a pod's containers share with its sandbox when their spec joins one by path. */
    private static final Set<String> POD_SHARED = Set.of("ipc", "uts", "pid");
    private static final java.util.regex.Pattern PROC_NS = java.util.regex.Pattern.compile("/proc/(\\d+)/ns/([a-z]+)");

    /**
     * @param guestPid   whether a pid is one of this pod's processes in the guest
     * @param sandboxPid the guest pid of the pod sandbox's init, when it runs
     */
    static Result rewrite(JsonObject hostSpec, String containerId, String guestBundle,
                          java.util.function.IntPredicate guestPid, java.util.OptionalInt sandboxPid) {
        JsonObject spec = hostSpec.deepCopy();
        JsonObject root = object(spec, "root");
        root.addProperty("path", "rootfs");
        spec.remove("hooks");
        JsonObject process = spec.has("process") ? spec.getAsJsonObject("process") : null;
        if (process != null) {
            process.remove("apparmorProfile");
            process.remove("selinuxLabel");
        }
        var binds = new ArrayList<HostBind>();
        String shmSource = null;
        if (spec.has("mounts")) {
            int n = 0;
            for (JsonElement element : spec.getAsJsonArray("mounts")) {
                JsonObject mount = element.getAsJsonObject();
                if (!isBind(mount) || !mount.has("source")) {
                    continue;
                }
                if (mount.has("destination") && mount.get("destination").getAsString().equals("/dev/shm")) {
                    shmSource = mount.get("source").getAsString();
                    mount.addProperty("source", GUEST_SHM);
                    continue;
                }
                String name = Integer.toString(n++);
                boolean readOnly = options(mount).contains("ro");
                binds.add(new HostBind(mount.get("source").getAsString(), name, readOnly));
                mount.addProperty("source", guestBundle + "/mounts/" + name);
            }
        }
        JsonObject linux = object(spec, "linux");
        String netns = null;
        linux.addProperty("cgroupsPath", "/bollard/" + containerId);
        linux.remove("mountLabel");
        linux.remove("intelRdt");
        if (linux.has("namespaces")) {
            var kept = new JsonArray();
            for (JsonElement element : linux.getAsJsonArray("namespaces")) {
                JsonObject ns = element.getAsJsonObject().deepCopy();
                String type = ns.has("type") ? ns.get("type").getAsString() : "";
                if (type.equals("network")) {
                    if (ns.has("path")) {
                        netns = ns.get("path").getAsString();
                    }
                    continue;
                }
                String path = ns.has("path") ? ns.get("path").getAsString() : null;
                ns.remove("path");
                if (path != null && POD_SHARED.contains(type)) {
                    var m = PROC_NS.matcher(path);
                    if (m.matches() && m.group(2).equals(type) && guestPid.test(Integer.parseInt(m.group(1)))) {
                        ns.addProperty("path", path);
                    } else if (sandboxPid.isPresent()) {
                        ns.addProperty("path", "/proc/" + sandboxPid.getAsInt() + "/ns/" + type);
                    }
                }
                kept.add(ns);
            }
            linux.add("namespaces", kept);
        }
        if (linux.has("sysctl")) {
            JsonObject sysctl = linux.getAsJsonObject("sysctl");
            for (String key : List.copyOf(sysctl.keySet())) {
                if (key.startsWith("net.")) {
                    sysctl.remove(key);
                }
            }
        }
        return new Result(spec, List.copyOf(binds), java.util.Optional.ofNullable(netns),
                java.util.Optional.ofNullable(shmSource));
    }

    static boolean isBind(JsonObject mount) {
        String type = mount.has("type") ? mount.get("type").getAsString() : "";
        return type.equals("bind") || options(mount).stream().anyMatch(BIND_OPTIONS::contains);
    }

    private static List<String> options(JsonObject mount) {
        var options = new ArrayList<String>();
        if (mount.has("options")) {
            mount.getAsJsonArray("options").forEach(o -> options.add(o.getAsString()));
        }
        return options;
    }

    private static JsonObject object(JsonObject parent, String name) {
        if (!parent.has(name) || !parent.get(name).isJsonObject()) {
            parent.add(name, new JsonObject());
        }
        return parent.getAsJsonObject(name);
    }
}
