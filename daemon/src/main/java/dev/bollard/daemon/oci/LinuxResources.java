package dev.bollard.daemon.oci;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;

import java.util.List;
import java.util.Map;

/**
 * OCI {@code linux.resources}, as far as Bollard sets it: what a container is created with, and what
 * UpdateContainerResources sends to runc and merges into the spec. A null part is not set (runc leaves it as it is).
 */
public record LinuxResources(Cpu cpu, Memory memory, List<HugepageLimit> hugepageLimits, Map<String, String> unified,
                             List<DeviceRule> devices) {

    /** Nothing set. */
    public static final LinuxResources NONE = new LinuxResources(null, null, null, null, null);

    public LinuxResources {
        hugepageLimits = hugepageLimits == null ? null : List.copyOf(hugepageLimits);
        unified = unified == null ? null : Map.copyOf(unified);
        devices = devices == null ? null : List.copyOf(devices);
    }

    /** linux.resources.cpu; null fields are unset. */
    public record Cpu(Long shares, Long quota, Long period, String cpus, String mems) {
        JsonObject json() {
            var o = new JsonObject();
            put(o, "shares", shares);
            put(o, "quota", quota);
            put(o, "period", period);
            if (cpus != null) {
                o.addProperty("cpus", cpus);
            }
            if (mems != null) {
                o.addProperty("mems", mems);
            }
            return o;
        }
    }

    /** linux.resources.memory; null fields are unset. */
    public record Memory(Long limit, Long swap) {
        JsonObject json() {
            var o = new JsonObject();
            put(o, "limit", limit);
            put(o, "swap", swap);
            return o;
        }
    }

    public record HugepageLimit(String pageSize, long limit) {
    }

    /** A device cgroup rule; null type/major/minor match any. */
    public record DeviceRule(boolean allow, String type, Long major, Long minor, String access) {
        /** The rule every container starts from: no device at all. */
        public static final DeviceRule DENY_ALL = new DeviceRule(false, null, null, null, "rwm");
        /** A privileged container with the node's devices: every device. */
        public static final DeviceRule ALLOW_ALL = new DeviceRule(true, null, null, null, "rwm");

        JsonObject json() {
            var o = new JsonObject();
            o.addProperty("allow", allow);
            if (type != null) {
                o.addProperty("type", type);
            }
            put(o, "major", major);
            put(o, "minor", minor);
            o.addProperty("access", access);
            return o;
        }
    }

    public LinuxResources withDevices(List<DeviceRule> rules) {
        return new LinuxResources(cpu, memory, hugepageLimits, unified, rules);
    }

    public LinuxResources withCpu(Cpu c) {
        return new LinuxResources(c, memory, hugepageLimits, unified, devices);
    }

    /** The JSON runc takes (in config.json and for {@code runc update}); unset parts are left out. */
    public JsonObject toJson() {
        var out = new JsonObject();
        if (devices != null) {
            var rules = new JsonArray();
            devices.forEach(d -> rules.add(d.json()));
            out.add("devices", rules);
        }
        if (cpu != null && !cpu.json().isEmpty()) {
            out.add("cpu", cpu.json());
        }
        if (memory != null && !memory.json().isEmpty()) {
            out.add("memory", memory.json());
        }
        if (hugepageLimits != null) {
            var hugepages = new JsonArray();
            for (HugepageLimit h : hugepageLimits) {
                var hp = new JsonObject();
                hp.addProperty("pageSize", h.pageSize());
                hp.addProperty("limit", h.limit());
                hugepages.add(hp);
            }
            out.add("hugepageLimits", hugepages);
        }
        if (unified != null) {
            var u = new JsonObject();
            new java.util.TreeMap<>(unified).forEach(u::addProperty);
            out.add("unified", u);
        }
        return out;
    }

    private static void put(JsonObject o, String key, Long value) {
        if (value != null) {
            o.addProperty(key, value);
        }
    }
}
