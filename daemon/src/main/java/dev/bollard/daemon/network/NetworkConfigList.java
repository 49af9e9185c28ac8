package dev.bollard.daemon.network;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A parsed network configuration list: a {@code .conflist}, or a single-plugin {@code .conf}/{@code .json} seen as a
 * list of one (as libcni does).
 *
 * @param json         the list as a JSON object ({@code name}, {@code cniVersion}, {@code plugins}, …), unchanged
 * @param source       the file it came from (or where the cache says it came from)
 */
record NetworkConfigList(String name, String cniVersion, List<String> cniVersions, boolean disableCheck,
                         List<JsonObject> plugins, JsonObject json, String source) {

    static NetworkConfigList read(Path file) throws IOException {
        String text = Files.readString(file, StandardCharsets.UTF_8);
        try {
            return parse(text, file.toString(), !file.getFileName().toString().endsWith(".conflist"));
        } catch (IllegalArgumentException e) {
            throw new IOException(file + ": " + e.getMessage(), e);
        }
    }

    /** Parses; any problem is an {@link IllegalArgumentException} saying what is wrong. */
    static NetworkConfigList parse(String text, String source, boolean singlePluginAllowed) {
        JsonObject o;
        try {
            JsonElement e = JsonParser.parseString(text);
            if (!e.isJsonObject()) {
                throw new IllegalArgumentException("not a JSON object");
            }
            o = e.getAsJsonObject();
        } catch (JsonParseException e) {
            throw new IllegalArgumentException("invalid JSON: " + e.getMessage());
        }
        if (!o.has("plugins")) {
            if (!singlePluginAllowed) {
                throw new IllegalArgumentException("no \"plugins\" list");
            }
            // A single plugin configuration: the list is built around it.
            var list = new JsonObject();
            list.add("cniVersion", o.get("cniVersion"));
            list.add("name", o.get("name"));
            var plugins = new JsonArray();
            plugins.add(o.deepCopy());
            list.add("plugins", plugins);
            o = list;
        }
        String name = string(o, "name");
        if (name.isEmpty()) {
            throw new IllegalArgumentException("no network \"name\"");
        }
        String version = string(o, "cniVersion");
        List<String> versions = new ArrayList<>();
        if (o.has("cniVersions")) {
            if (!o.get("cniVersions").isJsonArray()) {
                throw new IllegalArgumentException("\"cniVersions\" is not a list");
            }
            for (JsonElement v : o.getAsJsonArray("cniVersions")) {
                versions.add(v.getAsString());
            }
        }
        if (version.isEmpty() && versions.isEmpty()) {
            throw new IllegalArgumentException("no \"cniVersion\" in network " + name);
        }
        for (String v : versions.isEmpty() ? List.of(version) : versions) {
            if (CniVersions.parse(v) == null) {
                throw new IllegalArgumentException("invalid cniVersion \"" + v + "\" in network " + name);
            }
        }
        if (!version.isEmpty() && CniVersions.parse(version) == null) {
            throw new IllegalArgumentException("invalid cniVersion \"" + version + "\" in network " + name);
        }
        boolean disableCheck = o.has("disableCheck") && bool(o.get("disableCheck"));
        if (!o.get("plugins").isJsonArray() || o.getAsJsonArray("plugins").isEmpty()) {
            throw new IllegalArgumentException("network " + name + " has no plugins");
        }
        List<JsonObject> plugins = new ArrayList<>();
        int i = 0;
        for (JsonElement p : o.getAsJsonArray("plugins")) {
            if (!p.isJsonObject() || string(p.getAsJsonObject(), "type").isEmpty()) {
                throw new IllegalArgumentException("plugin " + i + " of network " + name + " has no \"type\"");
            }
            plugins.add(p.getAsJsonObject());
            i++;
        }
        return new NetworkConfigList(name, version, List.copyOf(versions), disableCheck, List.copyOf(plugins), o,
                source);
    }

    /** disableCheck may be written as a boolean or, by some tools, the string "true". */
    private static boolean bool(JsonElement e) {
        return e.isJsonPrimitive() && (e.getAsJsonPrimitive().isBoolean()
                ? e.getAsBoolean() : e.getAsString().equalsIgnoreCase("true"));
    }

    static String string(JsonObject o, String key) {
        JsonElement e = o.get(key);
        return e == null || !e.isJsonPrimitive() ? "" : e.getAsString();
    }

    static String type(JsonObject plugin) {
        return string(plugin, "type");
    }
}
