package dev.bollard.daemon.cdi;

import com.google.gson.Gson;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import org.snakeyaml.engine.v2.api.Load;
import org.snakeyaml.engine.v2.api.LoadSettings;
import org.snakeyaml.engine.v2.exceptions.YamlEngineException;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * One CDI spec file: its kind ({@code vendor/class}), its devices with their container edits, and the edits every
 * container using any of them gets. Checked on parsing so that a broken file is reported as a whole, naming it.
 *
 * @param containerEdits the spec-level edits (an empty object when there are none)
 */
public record CdiSpec(Path source, String version, String kind, Map<String, JsonObject> devices,
                      JsonObject containerEdits) {

    /** The released CDI spec versions this reader understands. */
    static final Set<String> VERSIONS = Set.of("0.3.0", "0.4.0", "0.5.0", "0.6.0", "0.7.0", "0.8.0", "1.0.0", "1.1.0");
    /** OCI hook points; CDI hooks name one of them. */
    static final Set<String> HOOK_NAMES = Set.of("prestart", "createRuntime", "createContainer", "startContainer",
            "poststart", "poststop");
    private static final Set<String> EDIT_KEYS = Set.of("env", "deviceNodes", "mounts", "hooks", "additionalGIDs",
            "intelRdt", "netDevices");

    /**
     * Parses a spec file's text, JSON or YAML (by the file's extension).
     *
     * @throws IllegalArgumentException naming the file and what is wrong
     */
    public static CdiSpec parse(Path source, String text) {
        JsonElement tree;
        try {
            tree = source.getFileName().toString().endsWith(".json") ? JsonParser.parseString(text) : yaml(text);
        } catch (JsonParseException | YamlEngineException e) {
            throw new IllegalArgumentException(source + ": not valid " + (source.toString().endsWith(".json") ? "JSON" : "YAML")
                    + ": " + e.getMessage(), e);
        }
        if (tree == null || !tree.isJsonObject()) {
            throw new IllegalArgumentException(source + ": a CDI spec must be an object");
        }
        JsonObject o = tree.getAsJsonObject();
        String version = string(o, "cdiVersion", source);
        if (!VERSIONS.contains(version)) {
            throw new IllegalArgumentException(source + ": unsupported cdiVersion \"" + version + "\" (known: "
                    + String.join(", ", VERSIONS.stream().sorted().toList()) + ")");
        }
        String kind = string(o, "kind", source);
        CdiDeviceName.checkKind(kind, source.toString());
        var devices = new LinkedHashMap<String, JsonObject>();
        JsonElement list = o.get("devices");
        if (list == null || !list.isJsonArray() || list.getAsJsonArray().isEmpty()) {
            throw new IllegalArgumentException(source + ": devices must list at least one device");
        }
        for (JsonElement d : list.getAsJsonArray()) {
            if (!d.isJsonObject()) {
                throw new IllegalArgumentException(source + ": every entry of devices must be an object");
            }
            String name = string(d.getAsJsonObject(), "name", source);
            if (!CdiDeviceName.validDeviceName(name)) {
                throw new IllegalArgumentException(source + ": invalid device name \"" + name + "\"");
            }
            if (devices.containsKey(name)) {
                throw new IllegalArgumentException(source + ": device \"" + name + "\" is defined twice");
            }
            JsonObject edits = edits(d.getAsJsonObject().get("containerEdits"), source + ": device " + name);
            if (edits.isEmpty()) {
                throw new IllegalArgumentException(source + ": device \"" + name + "\" has no containerEdits");
            }
            devices.put(name, edits);
        }
        return new CdiSpec(source, version, kind, Map.copyOf(devices), edits(o.get("containerEdits"), source.toString()));
    }

    /** YAML as the JSON tree Gson would have read: YAML is a superset of JSON, and the edits are handled as JSON. */
    private static JsonElement yaml(String text) {
        Object loaded = new Load(LoadSettings.builder().setAllowDuplicateKeys(false).build()).loadFromString(text);
        return new Gson().toJsonTree(loaded);
    }

    /** Checks one containerEdits object; null stands for none. */
    private static JsonObject edits(JsonElement e, String where) {
        if (e == null || e.isJsonNull()) {
            return new JsonObject();
        }
        if (!e.isJsonObject()) {
            throw new IllegalArgumentException(where + ": containerEdits must be an object");
        }
        JsonObject edits = e.getAsJsonObject();
        for (String key : edits.keySet()) {
            if (!EDIT_KEYS.contains(key)) {
                throw new IllegalArgumentException(where + ": unknown containerEdits field \"" + key + "\"");
            }
        }
        for (JsonElement env : array(edits, "env", where)) {
            if (!env.isJsonPrimitive() || !env.getAsString().contains("=") || env.getAsString().startsWith("=")) {
                throw new IllegalArgumentException(where + ": env entry " + env + " is not NAME=value");
            }
        }
        for (JsonElement node : array(edits, "deviceNodes", where)) {
            JsonObject n = object(node, where + ": deviceNodes");
            String path = string(n, "path", where + ": deviceNodes");
            if (!path.startsWith("/")) {
                throw new IllegalArgumentException(where + ": device node path \"" + path + "\" is not absolute");
            }
            if (n.has("type") && !Set.of("b", "c", "u", "p").contains(n.get("type").getAsString())) {
                throw new IllegalArgumentException(where + ": device node " + path + ": invalid type " + n.get("type"));
            }
            if (n.has("permissions") && !n.get("permissions").getAsString().matches("[rwm]*")) {
                throw new IllegalArgumentException(where + ": device node " + path + ": invalid permissions "
                        + n.get("permissions") + " (r, w, m)");
            }
        }
        for (JsonElement mount : array(edits, "mounts", where)) {
            JsonObject m = object(mount, where + ": mounts");
            string(m, "hostPath", where + ": mounts");
            if (!string(m, "containerPath", where + ": mounts").startsWith("/")) {
                throw new IllegalArgumentException(where + ": mount containerPath " + m.get("containerPath") + " is not absolute");
            }
        }
        for (JsonElement hook : array(edits, "hooks", where)) {
            JsonObject h = object(hook, where + ": hooks");
            String name = string(h, "hookName", where + ": hooks");
            if (!HOOK_NAMES.contains(name)) {
                throw new IllegalArgumentException(where + ": unknown hookName \"" + name + "\" (one of "
                        + String.join(", ", HOOK_NAMES.stream().sorted().toList()) + ")");
            }
            if (!string(h, "path", where + ": hooks").startsWith("/")) {
                throw new IllegalArgumentException(where + ": hook path " + h.get("path") + " is not absolute");
            }
        }
        for (JsonElement gid : array(edits, "additionalGIDs", where)) {
            if (!gid.isJsonPrimitive() || !gid.getAsJsonPrimitive().isNumber() || gid.getAsLong() < 0) {
                throw new IllegalArgumentException(where + ": additionalGIDs entry " + gid + " is not a group ID");
            }
        }
        for (JsonElement dev : array(edits, "netDevices", where)) {
            JsonObject d = object(dev, where + ": netDevices");
            string(d, "hostInterfaceName", where + ": netDevices");
            string(d, "name", where + ": netDevices");
        }
        return edits;
    }

    private static JsonArray array(JsonObject o, String key, String where) {
        JsonElement e = o.get(key);
        if (e == null || e.isJsonNull()) {
            return new JsonArray();
        }
        if (!e.isJsonArray()) {
            throw new IllegalArgumentException(where + ": " + key + " must be a list");
        }
        return e.getAsJsonArray();
    }

    private static JsonObject object(JsonElement e, String where) {
        if (!e.isJsonObject()) {
            throw new IllegalArgumentException(where + ": every entry must be an object");
        }
        return e.getAsJsonObject();
    }

    private static String string(JsonObject o, String key, Object where) {
        JsonElement e = o.get(key);
        if (e == null || !e.isJsonPrimitive() || !e.getAsJsonPrimitive().isString() || e.getAsString().isEmpty()) {
            throw new IllegalArgumentException(where + ": " + key + " is required (a non-empty string)");
        }
        return e.getAsString();
    }
}
