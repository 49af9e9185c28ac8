package dev.bollard.daemon.shim;

import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import dev.bollard.daemon.shim.ttrpc.TtrpcClient;

import java.nio.file.Path;

/**
 * Where a shim serves its task API, as {@code start} prints it (and writes to the bundle's {@code address} file):
 * a plain address ({@code unix:///run/containerd/s/<sha256>}) for task API v2, or a JSON bootstrap object
 * {@code {"version":3,"address":"unix://…","protocol":"ttrpc"}} from shims of the containerd 2 era.
 */
record ShimAddress(Path socket, int apiVersion) {

    static ShimAddress parse(String printed) {
        String text = printed.strip();
        if (text.isEmpty()) {
            throw new IllegalArgumentException("the shim printed no address");
        }
        if (!text.startsWith("{")) {
            return new ShimAddress(TtrpcClient.socketPath(text), 2);
        }
        JsonObject json;
        try {
            json = JsonParser.parseString(text).getAsJsonObject();
        } catch (JsonParseException | IllegalStateException e) {
            throw new IllegalArgumentException("unreadable shim bootstrap " + text + ": " + e.getMessage(), e);
        }
        int version = json.has("version") ? json.get("version").getAsInt() : 2;
        String protocol = json.has("protocol") ? json.get("protocol").getAsString() : "ttrpc";
        if (!json.has("address")) {
            throw new IllegalArgumentException("shim bootstrap " + text + " has no address");
        }
        if (!protocol.equals("ttrpc")) {
            throw new IllegalArgumentException("shim bootstrap " + text + ": protocol " + protocol
                    + " is not supported (only ttrpc)");
        }
        if (version != 2 && version != 3) {
            throw new IllegalArgumentException("shim bootstrap " + text + ": task API version " + version
                    + " is not supported (2 or 3)");
        }
        return new ShimAddress(TtrpcClient.socketPath(json.get("address").getAsString()), version);
    }

    /** The ttrpc service name of this task API version (v2 and v3 messages are the same on the wire). */
    String taskService() {
        return "containerd.task.v" + apiVersion + ".Task";
    }
}
