package dev.bollard.daemon.cdi;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * Applies CDI container edits to an OCI runtime spec (the JSON {@code oci.SpecBuilder} produces), as the CDI spec
 * describes them. Pure: the device nodes come completed ({@link CdiRegistry#resolve}), nothing is read here.
 */
public final class CdiEdits {

    private CdiEdits() {
    }

    /** Applies each edits object in order. */
    public static void apply(JsonObject spec, List<JsonObject> edits) {
        for (JsonObject e : edits) {
            apply(spec, e);
        }
        if (edits.stream().anyMatch(e -> e.has("mounts"))) {
            sortMounts(spec);
        }
    }

    private static void apply(JsonObject spec, JsonObject edits) {
        JsonObject process = child(spec, "process");
        for (JsonElement env : array(edits, "env")) {
            setEnv(process, env.getAsString());
        }
        for (JsonElement n : array(edits, "deviceNodes")) {
            addDevice(spec, process, n.getAsJsonObject());
        }
        for (JsonElement m : array(edits, "mounts")) {
            addMount(spec, m.getAsJsonObject());
        }
        for (JsonElement h : array(edits, "hooks")) {
            JsonObject hook = h.getAsJsonObject();
            var oci = new JsonObject();
            oci.add("path", hook.get("path"));
            copy(hook, oci, "args", "env", "timeout");
            childArray(child(spec, "hooks"), hook.get("hookName").getAsString()).add(oci);
        }
        for (JsonElement gid : array(edits, "additionalGIDs")) {
            long g = gid.getAsLong();
            if (g == 0) {
                continue; // root's group is never a supplementary one to add
            }
            JsonArray gids = childArray(child(process, "user"), "additionalGids");
            if (!contains(gids, g)) {
                gids.add(g);
            }
        }
        if (edits.has("intelRdt")) {
            child(spec, "linux").add("intelRdt", edits.get("intelRdt").deepCopy());
        }
        for (JsonElement d : array(edits, "netDevices")) {
            JsonObject dev = d.getAsJsonObject();
            var oci = new JsonObject();
            oci.add("name", dev.get("name"));
            child(child(spec, "linux"), "netDevices").add(dev.get("hostInterfaceName").getAsString(), oci);
        }
    }

    /** NAME=value replaces an earlier NAME (the image's or the config's), as a later entry would for the process. */
    private static void setEnv(JsonObject process, String entry) {
        String name = entry.substring(0, entry.indexOf('=') + 1);
        JsonArray env = childArray(process, "env");
        for (int i = 0; i < env.size(); i++) {
            if (env.get(i).getAsString().startsWith(name)) {
                env.set(i, new com.google.gson.JsonPrimitive(entry));
                return;
            }
        }
        env.add(entry);
    }

    /** The node in linux.devices (replacing one at the same path) and, for b/c, an allow rule in the cgroup. */
    private static void addDevice(JsonObject spec, JsonObject process, JsonObject node) {
        JsonObject linux = child(spec, "linux");
        String path = node.get("path").getAsString();
        String type = node.get("type").getAsString();
        var dev = new JsonObject();
        dev.addProperty("path", path);
        dev.addProperty("type", type);
        if (!type.equals("p")) {
            dev.add("major", node.get("major"));
            dev.add("minor", node.get("minor"));
        }
        copy(node, dev, "fileMode", "uid", "gid");
        // a device for a non-root process is owned by that process, unless the spec file says otherwise
        JsonObject user = process.has("user") ? process.getAsJsonObject("user") : new JsonObject();
        if (!dev.has("uid") && user.has("uid") && user.get("uid").getAsLong() > 0) {
            dev.add("uid", user.get("uid"));
        }
        if (!dev.has("gid") && user.has("gid") && user.get("gid").getAsLong() > 0) {
            dev.add("gid", user.get("gid"));
        }
        JsonArray devices = childArray(linux, "devices");
        removeWhere(devices, "path", path);
        devices.add(dev);
        if (type.equals("b") || type.equals("c") || type.equals("u")) {
            var rule = new JsonObject();
            rule.addProperty("allow", true);
            rule.addProperty("type", type.equals("u") ? "c" : type);
            rule.add("major", node.get("major"));
            rule.add("minor", node.get("minor"));
            String access = node.has("permissions") ? node.get("permissions").getAsString() : "";
            rule.addProperty("access", access.isEmpty() ? "rwm" : access);
            childArray(child(linux, "resources"), "devices").add(rule);
        }
    }

    /** A bind mount unless the file says otherwise; replaces a mount at the same destination. */
    private static void addMount(JsonObject spec, JsonObject m) {
        JsonArray mounts = childArray(spec, "mounts");
        String destination = m.get("containerPath").getAsString();
        removeWhere(mounts, "destination", destination);
        var oci = new JsonObject();
        oci.addProperty("destination", destination);
        oci.add("source", m.get("hostPath"));
        String type = m.has("type") ? m.get("type").getAsString() : "";
        JsonArray options = m.has("options") ? m.getAsJsonArray("options").deepCopy() : new JsonArray();
        if (type.isEmpty() || type.equals("bind")) {
            type = "bind";
            if (!contains(options, "bind") && !contains(options, "rbind")) {
                options.add("rbind");
            }
        }
        oci.addProperty("type", type);
        oci.add("options", options);
        mounts.add(oci);
    }

    /** Parents before children: a mount under another must come after it (stable, so equal depths keep their order). */
    private static void sortMounts(JsonObject spec) {
        JsonArray mounts = spec.getAsJsonArray("mounts");
        var list = new ArrayList<JsonElement>();
        mounts.forEach(list::add);
        list.sort(Comparator.comparingInt(m -> depth(m.getAsJsonObject().get("destination").getAsString())));
        var sorted = new JsonArray();
        list.forEach(sorted::add);
        spec.add("mounts", sorted);
    }

    private static int depth(String path) {
        int n = 0;
        for (String part : path.split("/")) {
            if (!part.isEmpty() && !part.equals(".")) {
                n++;
            }
        }
        return n;
    }

    private static void removeWhere(JsonArray array, String key, String value) {
        for (int i = array.size() - 1; i >= 0; i--) {
            JsonElement e = array.get(i);
            if (e.isJsonObject() && e.getAsJsonObject().has(key) && e.getAsJsonObject().get(key).getAsString().equals(value)) {
                array.remove(i);
            }
        }
    }

    private static boolean contains(JsonArray array, Object value) {
        for (JsonElement e : array) {
            if (value instanceof Long l ? e.getAsLong() == l : e.getAsString().equals(value)) {
                return true;
            }
        }
        return false;
    }

    private static void copy(JsonObject from, JsonObject to, String... keys) {
        for (String k : keys) {
            if (from.has(k) && !from.get(k).isJsonNull()) {
                to.add(k, from.get(k).deepCopy());
            }
        }
    }

    private static JsonArray array(JsonObject o, String key) {
        return o.has(key) && o.get(key).isJsonArray() ? o.getAsJsonArray(key) : new JsonArray();
    }

    private static JsonObject child(JsonObject parent, String key) {
        if (!parent.has(key) || !parent.get(key).isJsonObject()) {
            parent.add(key, new JsonObject());
        }
        return parent.getAsJsonObject(key);
    }

    private static JsonArray childArray(JsonObject parent, String key) {
        if (!parent.has(key) || !parent.get(key).isJsonArray()) {
            parent.add(key, new JsonArray());
        }
        return parent.getAsJsonArray(key);
    }
}
