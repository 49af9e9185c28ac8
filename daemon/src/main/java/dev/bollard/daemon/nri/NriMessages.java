package dev.bollard.daemon.nri;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import dev.bollard.api.cri.v1.LinuxContainerResources;
import dev.bollard.api.cri.v1.PodSandboxConfig;
import dev.bollard.api.nri.v1alpha1.Container;
import dev.bollard.api.nri.v1alpha1.ContainerState;
import dev.bollard.api.nri.v1alpha1.Hook;
import dev.bollard.api.nri.v1alpha1.Hooks;
import dev.bollard.api.nri.v1alpha1.LinuxContainer;
import dev.bollard.api.nri.v1alpha1.LinuxCPU;
import dev.bollard.api.nri.v1alpha1.LinuxMemory;
import dev.bollard.api.nri.v1alpha1.LinuxPodSandbox;
import dev.bollard.api.nri.v1alpha1.LinuxResources;
import dev.bollard.api.nri.v1alpha1.Mount;
import dev.bollard.api.nri.v1alpha1.OptionalInt;
import dev.bollard.api.nri.v1alpha1.OptionalInt64;
import dev.bollard.api.nri.v1alpha1.OptionalUInt64;
import dev.bollard.api.nri.v1alpha1.PodSandbox;
import dev.bollard.api.nri.v1alpha1.POSIXRlimit;

import java.util.List;
import java.util.Map;

/**
 * What plugins are told, built from Bollard's own values: pods from their config and record, containers from their
 * OCI spec (what will run, after CDI and earlier adjustments). Also NRI resources as CRI resources, for updates.
 * Pure.
 */
public final class NriMessages {

    private NriMessages() {
    }

    /** The state names NRI knows; Bollard's container states map one to one. */
    public enum State { CREATED, RUNNING, STOPPED, UNKNOWN }

    public record PodFacts(String id, PodSandboxConfig config, String runtimeHandler, int pid, String cgroupParent,
                           List<String> ips) {
    }

    public static PodSandbox pod(PodFacts p) {
        var m = p.config().getMetadata();
        return PodSandbox.newBuilder().setId(p.id()).setName(m.getName()).setUid(m.getUid())
                .setNamespace(m.getNamespace()).putAllLabels(p.config().getLabelsMap())
                .putAllAnnotations(p.config().getAnnotationsMap()).setRuntimeHandler(p.runtimeHandler())
                .setPid(Math.max(0, p.pid())).addAllIps(p.ips())
                .setLinux(LinuxPodSandbox.newBuilder().setCgroupParent(p.cgroupParent()))
                .build();
    }

    /** A container as its spec says; {@code labels} from its config (the spec has none). */
    public static Container container(String id, String podId, String name, Map<String, String> labels,
                                      JsonObject spec, State state, int pid) {
        var b = Container.newBuilder().setId(id).setPodSandboxId(podId).setName(name).putAllLabels(labels)
                .setState(switch (state) {
                    case CREATED -> ContainerState.CONTAINER_CREATED;
                    case RUNNING -> ContainerState.CONTAINER_RUNNING;
                    case STOPPED -> ContainerState.CONTAINER_STOPPED;
                    case UNKNOWN -> ContainerState.CONTAINER_UNKNOWN;
                }).setPid(Math.max(0, pid));
        for (var e : object(spec, "annotations").entrySet()) {
            b.putAnnotations(e.getKey(), e.getValue().getAsString());
        }
        JsonObject process = object(spec, "process");
        strings(process, "args").forEach(b::addArgs);
        strings(process, "env").forEach(b::addEnv);
        for (JsonElement m : array(spec, "mounts")) {
            JsonObject mount = m.getAsJsonObject();
            b.addMounts(Mount.newBuilder().setDestination(string(mount, "destination")).setType(string(mount, "type"))
                    .setSource(string(mount, "source")).addAllOptions(strings(mount, "options")));
        }
        JsonObject hooks = object(spec, "hooks");
        if (!hooks.isEmpty()) {
            b.setHooks(Hooks.newBuilder().addAllPrestart(hooks(hooks, "prestart"))
                    .addAllCreateRuntime(hooks(hooks, "createRuntime"))
                    .addAllCreateContainer(hooks(hooks, "createContainer"))
                    .addAllStartContainer(hooks(hooks, "startContainer"))
                    .addAllPoststart(hooks(hooks, "poststart")).addAllPoststop(hooks(hooks, "poststop")));
        }
        for (JsonElement r : array(process, "rlimits")) {
            JsonObject rl = r.getAsJsonObject();
            b.addRlimits(POSIXRlimit.newBuilder().setType(string(rl, "type")).setHard(rl.get("hard").getAsLong())
                    .setSoft(rl.get("soft").getAsLong()));
        }
        JsonObject linux = object(spec, "linux");
        var lc = LinuxContainer.newBuilder().setCgroupsPath(string(linux, "cgroupsPath"))
                .setResources(resources(object(linux, "resources")));
        if (process.has("oomScoreAdj")) {
            lc.setOomScoreAdj(OptionalInt.newBuilder().setValue(process.get("oomScoreAdj").getAsLong()));
        }
        return b.setLinux(lc).build();
    }

    /** An OCI spec's linux.resources as NRI's message (memory, cpu, pids, hugepages, unified). */
    static LinuxResources resources(JsonObject r) {
        var b = LinuxResources.newBuilder();
        JsonObject mem = object(r, "memory");
        if (!mem.isEmpty()) {
            var m = LinuxMemory.newBuilder();
            if (mem.has("limit")) {
                m.setLimit(OptionalInt64.newBuilder().setValue(mem.get("limit").getAsLong()));
            }
            if (mem.has("swap")) {
                m.setSwap(OptionalInt64.newBuilder().setValue(mem.get("swap").getAsLong()));
            }
            b.setMemory(m);
        }
        JsonObject cpu = object(r, "cpu");
        if (!cpu.isEmpty()) {
            var c = LinuxCPU.newBuilder().setCpus(string(cpu, "cpus")).setMems(string(cpu, "mems"));
            if (cpu.has("shares")) {
                c.setShares(OptionalUInt64.newBuilder().setValue(cpu.get("shares").getAsLong()));
            }
            if (cpu.has("quota")) {
                c.setQuota(OptionalInt64.newBuilder().setValue(cpu.get("quota").getAsLong()));
            }
            if (cpu.has("period")) {
                c.setPeriod(OptionalUInt64.newBuilder().setValue(cpu.get("period").getAsLong()));
            }
            b.setCpu(c);
        }
        if (object(r, "pids").has("limit")) {
            b.setPids(dev.bollard.api.nri.v1alpha1.LinuxPids.newBuilder()
                    .setLimit(object(r, "pids").get("limit").getAsLong()));
        }
        for (var e : object(r, "unified").entrySet()) {
            b.putUnified(e.getKey(), e.getValue().getAsString());
        }
        return b.build();
    }

    /**
     * A plugin's resource update laid over a container's CRI resources: what it sets replaces, what it leaves out
     * stays (the form UpdateContainerResources takes).
     */
    public static LinuxContainerResources overlay(LinuxContainerResources current, LinuxResources update) {
        var b = current.toBuilder();
        if (update.hasCpu()) {
            var cpu = update.getCpu();
            if (cpu.hasShares()) {
                b.setCpuShares(cpu.getShares().getValue());
            }
            if (cpu.hasQuota()) {
                b.setCpuQuota(cpu.getQuota().getValue());
            }
            if (cpu.hasPeriod()) {
                b.setCpuPeriod(cpu.getPeriod().getValue());
            }
            if (!cpu.getCpus().isEmpty()) {
                b.setCpusetCpus(cpu.getCpus());
            }
            if (!cpu.getMems().isEmpty()) {
                b.setCpusetMems(cpu.getMems());
            }
        }
        if (update.hasMemory()) {
            var mem = update.getMemory();
            if (mem.hasLimit()) {
                b.setMemoryLimitInBytes(mem.getLimit().getValue());
            }
            if (mem.hasSwap()) {
                b.setMemorySwapLimitInBytes(mem.getSwap().getValue());
            }
        }
        for (var h : update.getHugepageLimitsList()) {
            b.addHugepageLimits(dev.bollard.api.cri.v1.HugepageLimit.newBuilder().setPageSize(h.getPageSize())
                    .setLimit(h.getLimit()));
        }
        b.putAllUnified(update.getUnifiedMap());
        return b.build();
    }

    private static List<Hook> hooks(JsonObject hooks, String kind) {
        return array(hooks, kind).asList().stream().map(JsonElement::getAsJsonObject).map(h -> {
            var b = Hook.newBuilder().setPath(string(h, "path")).addAllArgs(strings(h, "args"))
                    .addAllEnv(strings(h, "env"));
            if (h.has("timeout")) {
                b.setTimeout(OptionalInt.newBuilder().setValue(h.get("timeout").getAsLong()));
            }
            return b.build();
        }).toList();
    }

    static JsonObject object(JsonObject o, String key) {
        return o != null && o.has(key) && o.get(key).isJsonObject() ? o.getAsJsonObject(key) : new JsonObject();
    }

    static com.google.gson.JsonArray array(JsonObject o, String key) {
        return o != null && o.has(key) && o.get(key).isJsonArray() ? o.getAsJsonArray(key) : new com.google.gson.JsonArray();
    }

    private static List<String> strings(JsonObject o, String key) {
        return array(o, key).asList().stream().map(JsonElement::getAsString).toList();
    }

    private static String string(JsonObject o, String key) {
        return o.has(key) && o.get(key).isJsonPrimitive() ? o.get(key).getAsString() : "";
    }
}
