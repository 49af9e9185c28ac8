package dev.bollard.daemon.registry;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import dev.bollard.daemon.content.Digest;
import dev.bollard.daemon.registry.RegistryException.Kind;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Collectors;

/** Parses manifests and picks the node's entry from an index. */
public final class Manifests {
    private Manifests() {
    }

    /**
     * Parses manifest bytes. The media type comes from the JSON {@code mediaType} field when present (OCI requires
     * it to match the Content-Type), else from {@code contentType}, else from the shape of the document, since
     * some registries answer {@code application/json} or nothing.
     *
     * @throws RegistryException UNSUPPORTED_MEDIA_TYPE for schema 1 or a non-manifest type, INVALID_MANIFEST for
     *                           bad JSON or a bad field
     */
    public static Manifest parse(String contentType, byte[] bytes) throws RegistryException {
        JsonObject root;
        try {
            JsonElement e = JsonParser.parseString(new String(bytes, StandardCharsets.UTF_8));
            if (!e.isJsonObject()) {
                throw new RegistryException(Kind.INVALID_MANIFEST, "manifest is not a JSON object");
            }
            root = e.getAsJsonObject();
        } catch (JsonParseException e) {
            throw new RegistryException(Kind.INVALID_MANIFEST, "manifest is not valid JSON: " + e.getMessage(), e);
        }
        String header = contentType == null ? "" : MediaTypes.bare(contentType);
        String mediaType = string(root, "mediaType");
        if (MediaTypes.isSchema1(header) || MediaTypes.isSchema1(mediaType) || intField(root, "schemaVersion") == 1) {
            throw new RegistryException(Kind.UNSUPPORTED_MEDIA_TYPE, "Docker image manifest schema 1 ("
                    + (header.isEmpty() ? MediaTypes.DOCKER_SCHEMA1 : header) + ") is not supported: it was "
                    + "deprecated long ago; push the image again with a current client to get schema 2 or OCI");
        }
        if (mediaType.isEmpty()) {
            if (MediaTypes.isIndex(header) || MediaTypes.isManifest(header)) {
                mediaType = header;
            } else if (root.has("manifests")) {
                mediaType = MediaTypes.OCI_INDEX;
            } else if (root.has("config") && root.has("layers")) {
                mediaType = MediaTypes.OCI_MANIFEST;
            }
        }
        if (MediaTypes.isIndex(mediaType)) {
            var list = new ArrayList<Descriptor>();
            for (JsonElement m : array(root, "manifests")) {
                list.add(descriptor(m, "manifests[" + list.size() + "]"));
            }
            return new Manifest.Index(mediaType, list, stringMap(root, "annotations"));
        }
        if (MediaTypes.isManifest(mediaType)) {
            if (!root.has("config")) {
                throw new RegistryException(Kind.INVALID_MANIFEST, "image manifest has no config");
            }
            var config = descriptor(root.get("config"), "config");
            var layers = new ArrayList<Descriptor>();
            for (JsonElement l : array(root, "layers")) {
                layers.add(descriptor(l, "layers[" + layers.size() + "]"));
            }
            return new Manifest.Image(mediaType, config, layers, stringMap(root, "annotations"));
        }
        throw new RegistryException(Kind.UNSUPPORTED_MEDIA_TYPE, "unsupported manifest media type \""
                + (mediaType.isEmpty() ? header : mediaType) + "\" (supported: "
                + String.join(", ", MediaTypes.MANIFEST_ACCEPT) + ")");
    }

    /**
     * The index entry to run on {@code node}: the best-ranked compatible platform, the first one on a tie.
     *
     * @throws RegistryException NO_MATCHING_PLATFORM listing the platforms the index offers
     */
    public static Descriptor selectPlatform(Manifest.Index index, Platform node) throws RegistryException {
        Descriptor best = null;
        int bestRank = Integer.MAX_VALUE;
        for (Descriptor d : index.manifests()) {
            if (d.platform().isEmpty() || !(MediaTypes.isManifest(d.mediaType()) || MediaTypes.isIndex(d.mediaType())
                    || d.mediaType().isEmpty())) {
                continue;
            }
            int r = node.rank(d.platform().get());
            if (r >= 0 && r < bestRank) {
                best = d;
                bestRank = r;
            }
        }
        if (best == null) {
            String offered = index.manifests().stream()
                    .map(d -> d.platform().map(Platform::toString).orElse("(no platform)"))
                    .distinct().collect(Collectors.joining(", "));
            throw new RegistryException(Kind.NO_MATCHING_PLATFORM, "no manifest for platform " + node.normalize()
                    + " in the index; it offers: " + (offered.isEmpty() ? "nothing" : offered));
        }
        return best;
    }

    private static Descriptor descriptor(JsonElement e, String where) throws RegistryException {
        if (!e.isJsonObject()) {
            throw new RegistryException(Kind.INVALID_MANIFEST, where + " is not a descriptor object");
        }
        JsonObject o = e.getAsJsonObject();
        Digest digest;
        try {
            digest = Digest.parse(string(o, "digest"));
        } catch (IllegalArgumentException ex) {
            throw new RegistryException(Kind.INVALID_MANIFEST, where + ": " + ex.getMessage(), ex);
        }
        long size;
        try {
            size = o.has("size") ? o.get("size").getAsLong() : -1;
        } catch (RuntimeException ex) {
            size = -1;
        }
        if (size < 0) {
            throw new RegistryException(Kind.INVALID_MANIFEST, where + ": missing or negative size");
        }
        Optional<Platform> platform = Optional.empty();
        if (o.has("platform") && o.get("platform").isJsonObject()) {
            JsonObject p = o.getAsJsonObject("platform");
            platform = Optional.of(new Platform(string(p, "os"), string(p, "architecture"), string(p, "variant")));
        }
        var urls = new ArrayList<String>();
        for (JsonElement u : array(o, "urls")) {
            urls.add(u.getAsString());
        }
        return new Descriptor(string(o, "mediaType"), digest, size, platform, stringMap(o, "annotations"), urls);
    }

    private static String string(JsonObject o, String key) {
        JsonElement e = o.get(key);
        return e != null && e.isJsonPrimitive() ? e.getAsString() : "";
    }

    private static int intField(JsonObject o, String key) {
        JsonElement e = o.get(key);
        try {
            return e != null && e.isJsonPrimitive() ? e.getAsInt() : -1;
        } catch (NumberFormatException ex) {
            return -1;
        }
    }

    private static List<JsonElement> array(JsonObject o, String key) {
        JsonElement e = o.get(key);
        if (e == null || !e.isJsonArray()) {
            return List.of();
        }
        JsonArray a = e.getAsJsonArray();
        return a.asList();
    }

    private static Map<String, String> stringMap(JsonObject o, String key) {
        var out = new LinkedHashMap<String, String>();
        JsonElement e = o.get(key);
        if (e != null && e.isJsonObject()) {
            for (var entry : e.getAsJsonObject().entrySet()) {
                if (entry.getValue().isJsonPrimitive()) {
                    out.put(entry.getKey(), entry.getValue().getAsString());
                }
            }
        }
        return out;
    }
}
