package dev.bollard.daemon.oci;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;

import java.util.List;

/** One entry of the OCI spec's {@code mounts}. */
public record OciMount(String destination, String type, String source, List<String> options) {

    public OciMount {
        options = List.copyOf(options);
    }

    public static OciMount bind(String destination, String source, List<String> options) {
        return new OciMount(destination, "bind", source, options);
    }

    public JsonObject toJson() {
        var m = new JsonObject();
        m.addProperty("destination", destination);
        m.addProperty("type", type);
        m.addProperty("source", source);
        var o = new JsonArray();
        options.forEach(o::add);
        m.add("options", o);
        return m;
    }
}
