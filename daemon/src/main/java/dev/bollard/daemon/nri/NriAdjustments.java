package dev.bollard.daemon.nri;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;
import dev.bollard.api.nri.v1alpha1.ContainerAdjustment;
import dev.bollard.api.nri.v1alpha1.Hook;
import dev.bollard.api.nri.v1alpha1.LinuxDevice;
import dev.bollard.api.nri.v1alpha1.LinuxResources;

import java.util.Comparator;
import java.util.List;

/**
 * Applies plugins' container adjustments to an OCI runtime spec (the JSON {@code oci.SpecBuilder} made), in the
 * order given (plugin index order: a later plugin's value wins). Pure: a copy is returned, the input is left alone.
 *
 * <p>NRI's removal marker: an annotation key, env name, mount destination or device path prefixed with '-' removes
 * that entry (before the plugin's additions, so a plugin may replace an entry by removing and adding it). Applied:
 * annotations, env, mounts, devices (node plus an allowing device cgroup rule), OCI hooks (appended), linux
 * resources, rlimits, the cgroups path, oom_score_adj and args. CDI device names in an adjustment are not
 * resolved: refused with an {@link IllegalArgumentException} naming them, as is any adjustment that cannot apply.
 */
public final class NriAdjustments {

    private NriAdjustments() {
    }

    public static JsonObject apply(JsonObject spec, List<ContainerAdjustment> adjustments) {
        JsonObject out = spec.deepCopy();
        for (ContainerAdjustment a : adjustments) {
            applyOne(out, a);
        }
        return out;
    }

    private static void applyOne(JsonObject spec, ContainerAdjustment a) {
        if (a.getCDIDevicesCount() > 0) {
            throw new IllegalArgumentException("NRI adjustment asks for CDI devices "
                    + a.getCDIDevicesList().stream().map(d -> d.getName()).toList()
                    + "; CDI devices from NRI plugins are not supported");
        }
        JsonObject annotations = child(spec, "annotations");
        a.getAnnotationsMap().forEach((k, v) -> {
            if (isRemoval(k)) {
                annotations.remove(k.substring(1));
            }
        });
        a.getAnnotationsMap().forEach((k, v) -> {
            if (!isRemoval(k)) {
                annotations.addProperty(k, v);
            }
        });
        JsonObject process = child(spec, "process");
        if (a.getArgsCount() > 0) {
            var args = new JsonArray();
            a.getArgsList().forEach(args::add);
            process.add("args", args);
        }
        for (var kv : a.getEnvList()) {
            if (isRemoval(kv.getKey())) {
                removeIf(childArray(process, "env"), e -> e.getAsString().startsWith(kv.getKey().substring(1) + "="));
            }
        }
        for (var kv : a.getEnvList()) {
            if (!isRemoval(kv.getKey())) {
                setEnv(process, kv.getKey(), kv.getValue());
            }
        }
        boolean mountsChanged = false;
        for (var m : a.getMountsList()) {
            if (isRemoval(m.getDestination())) {
                String dest = m.getDestination().substring(1);
                removeIf(childArray(spec, "mounts"), e -> dest.equals(e.getAsJsonObject().get("destination").getAsString()));
            }
        }
        for (var m : a.getMountsList()) {
            if (isRemoval(m.getDestination())) {
                continue;
            }
            if (!m.getDestination().startsWith("/")) {
                throw new IllegalArgumentException("NRI adjustment: mount destination \"" + m.getDestination()
                        + "\" is not an absolute path");
            }
            var mount = new JsonObject();
            mount.addProperty("destination", m.getDestination());
            mount.addProperty("type", m.getType().isEmpty() ? "bind" : m.getType());
            mount.addProperty("source", m.getSource());
            var options = new JsonArray();
            m.getOptionsList().forEach(options::add);
            if (options.isEmpty() && (m.getType().isEmpty() || m.getType().equals("bind"))) {
                options.add("rbind");
            }
            mount.add("options", options);
            JsonArray mounts = childArray(spec, "mounts");
            removeIf(mounts, e -> m.getDestination().equals(e.getAsJsonObject().get("destination").getAsString()));
            mounts.add(mount);
            mountsChanged = true;
        }
        if (mountsChanged) {
            sortMounts(spec);
        }
        if (a.hasHooks()) {
            var h = a.getHooks();
            JsonObject hooks = child(spec, "hooks");
            addHooks(hooks, "prestart", h.getPrestartList());
            addHooks(hooks, "createRuntime", h.getCreateRuntimeList());
            addHooks(hooks, "createContainer", h.getCreateContainerList());
            addHooks(hooks, "startContainer", h.getStartContainerList());
            addHooks(hooks, "poststart", h.getPoststartList());
            addHooks(hooks, "poststop", h.getPoststopList());
        }
        for (var r : a.getRlimitsList()) {
            var rlimit = new JsonObject();
            rlimit.addProperty("type", r.getType());
            rlimit.addProperty("hard", r.getHard());
            rlimit.addProperty("soft", r.getSoft());
            JsonArray rlimits = childArray(process, "rlimits");
            removeIf(rlimits, e -> r.getType().equals(e.getAsJsonObject().get("type").getAsString()));
            rlimits.add(rlimit);
        }
        if (a.hasLinux()) {
            var l = a.getLinux();
            JsonObject linux = child(spec, "linux");
            for (LinuxDevice d : l.getDevicesList()) {
                device(linux, d);
            }
            if (l.hasResources()) {
                resources(child(linux, "resources"), l.getResources());
            }
            if (!l.getCgroupsPath().isEmpty()) {
                linux.addProperty("cgroupsPath", l.getCgroupsPath());
            }
            if (l.hasOomScoreAdj()) {
                process.addProperty("oomScoreAdj", l.getOomScoreAdj().getValue());
            }
        }
    }

    private static boolean isRemoval(String key) {
        return key.startsWith("-");
    }

    private static void setEnv(JsonObject process, String name, String value) {
        JsonArray env = childArray(process, "env");
        String entry = name + "=" + value;
        for (int i = 0; i < env.size(); i++) {
            if (env.get(i).getAsString().startsWith(name + "=")) {
                env.set(i, new JsonPrimitive(entry));
                return;
            }
        }
        env.add(entry);
    }

    private static void device(JsonObject linux, LinuxDevice d) {
        JsonArray devices = childArray(linux, "devices");
        if (isRemoval(d.getPath())) {
            String path = d.getPath().substring(1);
            removeIf(devices, e -> path.equals(e.getAsJsonObject().get("path").getAsString()));
            return;
        }
        if (!d.getType().equals("c") && !d.getType().equals("b") && !d.getType().equals("p")
                && !d.getType().equals("u")) {
            throw new IllegalArgumentException("NRI adjustment: device " + d.getPath() + " has type \"" + d.getType()
                    + "\"; one of c, b, u, p is needed");
        }
        var dev = new JsonObject();
        dev.addProperty("path", d.getPath());
        dev.addProperty("type", d.getType());
        dev.addProperty("major", d.getMajor());
        dev.addProperty("minor", d.getMinor());
        if (d.hasFileMode()) {
            dev.addProperty("fileMode", d.getFileMode().getValue());
        }
        if (d.hasUid()) {
            dev.addProperty("uid", d.getUid().getValue());
        }
        if (d.hasGid()) {
            dev.addProperty("gid", d.getGid().getValue());
        }
        removeIf(devices, e -> d.getPath().equals(e.getAsJsonObject().get("path").getAsString()));
        devices.add(dev);
        if (!d.getType().equals("p")) {
            var rule = new JsonObject();
            rule.addProperty("allow", true);
            rule.addProperty("type", d.getType().equals("u") ? "c" : d.getType());
            rule.addProperty("major", d.getMajor());
            rule.addProperty("minor", d.getMinor());
            rule.addProperty("access", "rwm");
            childArray(child(linux, "resources"), "devices").add(rule);
        }
    }

    /** NRI resources laid over an OCI linux.resources object: what the plugin sets replaces. */
    static void resources(JsonObject r, LinuxResources n) {
        if (n.hasMemory()) {
            var m = n.getMemory();
            JsonObject mem = child(r, "memory");
            if (m.hasLimit()) {
                mem.addProperty("limit", m.getLimit().getValue());
            }
            if (m.hasReservation()) {
                mem.addProperty("reservation", m.getReservation().getValue());
            }
            if (m.hasSwap()) {
                mem.addProperty("swap", m.getSwap().getValue());
            }
            if (m.hasKernel()) {
                mem.addProperty("kernel", m.getKernel().getValue());
            }
            if (m.hasKernelTcp()) {
                mem.addProperty("kernelTCP", m.getKernelTcp().getValue());
            }
            if (m.hasSwappiness()) {
                mem.addProperty("swappiness", m.getSwappiness().getValue());
            }
            if (m.hasDisableOomKiller()) {
                mem.addProperty("disableOOMKiller", m.getDisableOomKiller().getValue());
            }
        }
        if (n.hasCpu()) {
            var c = n.getCpu();
            JsonObject cpu = child(r, "cpu");
            if (c.hasShares()) {
                cpu.addProperty("shares", c.getShares().getValue());
            }
            if (c.hasQuota()) {
                cpu.addProperty("quota", c.getQuota().getValue());
            }
            if (c.hasPeriod()) {
                cpu.addProperty("period", c.getPeriod().getValue());
            }
            if (c.hasRealtimeRuntime()) {
                cpu.addProperty("realtimeRuntime", c.getRealtimeRuntime().getValue());
            }
            if (c.hasRealtimePeriod()) {
                cpu.addProperty("realtimePeriod", c.getRealtimePeriod().getValue());
            }
            if (!c.getCpus().isEmpty()) {
                cpu.addProperty("cpus", c.getCpus());
            }
            if (!c.getMems().isEmpty()) {
                cpu.addProperty("mems", c.getMems());
            }
        }
        if (n.hasPids()) {
            child(r, "pids").addProperty("limit", n.getPids().getLimit());
        }
        for (var h : n.getHugepageLimitsList()) {
            JsonArray limits = childArray(r, "hugepageLimits");
            removeIf(limits, e -> h.getPageSize().equals(e.getAsJsonObject().get("pageSize").getAsString()));
            var limit = new JsonObject();
            limit.addProperty("pageSize", h.getPageSize());
            limit.addProperty("limit", h.getLimit());
            limits.add(limit);
        }
        if (n.getUnifiedCount() > 0) {
            JsonObject unified = child(r, "unified");
            n.getUnifiedMap().forEach(unified::addProperty);
        }
    }

    private static void addHooks(JsonObject hooks, String kind, List<Hook> added) {
        for (Hook h : added) {
            var hook = new JsonObject();
            hook.addProperty("path", h.getPath());
            if (h.getArgsCount() > 0) {
                var args = new JsonArray();
                h.getArgsList().forEach(args::add);
                hook.add("args", args);
            }
            if (h.getEnvCount() > 0) {
                var env = new JsonArray();
                h.getEnvList().forEach(env::add);
                hook.add("env", env);
            }
            if (h.hasTimeout()) {
                hook.addProperty("timeout", h.getTimeout().getValue());
            }
            childArray(hooks, kind).add(hook);
        }
    }

    /** Parents before children, as the runtime mounts them in order (a stable sort keeps equal depths as they were). */
    private static void sortMounts(JsonObject spec) {
        JsonArray mounts = childArray(spec, "mounts");
        var sorted = mounts.asList().stream()
                .sorted(Comparator.comparingInt(m -> depth(m.getAsJsonObject().get("destination").getAsString())))
                .toList();
        var out = new JsonArray();
        sorted.forEach(out::add);
        spec.add("mounts", out);
    }

    private static int depth(String path) {
        return (int) java.nio.file.Path.of(path).normalize().getNameCount();
    }

    private static void removeIf(JsonArray array, java.util.function.Predicate<JsonElement> p) {
        for (int i = array.size() - 1; i >= 0; i--) {
            if (p.test(array.get(i))) {
                array.remove(i);
            }
        }
    }

    private static JsonObject child(JsonObject o, String key) {
        if (!o.has(key) || !o.get(key).isJsonObject()) {
            o.add(key, new JsonObject());
        }
        return o.getAsJsonObject(key);
    }

    private static JsonArray childArray(JsonObject o, String key) {
        if (!o.has(key) || !o.get(key).isJsonArray()) {
            o.add(key, new JsonArray());
        }
        return o.getAsJsonArray(key);
    }
}
