package dev.bollard.daemon.image;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import dev.bollard.daemon.content.ContentStore;
import dev.bollard.daemon.content.Digest;
import dev.bollard.daemon.registry.MediaTypes;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.apache.commons.compress.archivers.tar.TarConstants;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Image archives for nodes without a registry: reading an OCI image layout or a {@code docker save} archive, and
 * writing an OCI image layout. Reading never extracts to disk: every file of the tar is streamed into the content
 * store under the digest it has, and the archive's own paths only index that content (so no archive path is ever
 * opened, and a {@code ../} in one is harmless).
 */
final class ImageArchives {

    static final String OCI_LAYOUT = "oci-layout";
    static final String INDEX_JSON = "index.json";
    static final String DOCKER_MANIFEST_JSON = "manifest.json";
    static final String ANNOTATION_IMAGE_NAME = "io.containerd.image.name";
    static final String ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name";
    /** Archive metadata files are read into memory; larger ones are refused. */
    private static final long MAX_METADATA_BYTES = 4 << 20;

    /** An archive read into the content store: its files by path, and its JSON metadata. */
    record Loaded(Map<String, Digest> files, JsonObject ociIndex, JsonArray dockerManifest) {
        boolean isOciLayout() {
            return ociIndex != null;
        }

        Digest file(String path) throws IOException {
            Digest d = files.get(normalize(path));
            if (d == null) {
                throw new IOException("image archive: " + path + " is referenced but not in the archive");
            }
            return d;
        }
    }

    private ImageArchives() {
    }

    static Loaded load(Path archive, ContentStore content) throws IOException {
        var files = new HashMap<String, Digest>();
        JsonObject index = null;
        JsonArray dockerManifest = null;
        try (var in = new TarArchiveInputStream(new BufferedInputStream(Files.newInputStream(archive), 1 << 16))) {
            TarArchiveEntry e;
            while ((e = in.getNextEntry()) != null) {
                if (!e.isFile()) {
                    continue;
                }
                String name = normalize(e.getName());
                if (name.equals(INDEX_JSON) || name.equals(DOCKER_MANIFEST_JSON)) {
                    if (e.getSize() > MAX_METADATA_BYTES) {
                        throw new IOException("image archive: " + name + " is larger than 4 MiB");
                    }
                    byte[] bytes = in.readAllBytes();
                    files.put(name, content.putStream(new java.io.ByteArrayInputStream(bytes)));
                    JsonElement json = parse(name, bytes);
                    if (name.equals(INDEX_JSON)) {
                        index = json.getAsJsonObject();
                    } else {
                        dockerManifest = json.getAsJsonArray();
                    }
                } else {
                    files.put(name, content.putStream(in));
                }
            }
        } catch (IOException e) {
            throw new IOException("image archive " + archive + ": " + e.getMessage(), e);
        }
        if (index == null && dockerManifest == null) {
            throw new IOException("image archive " + archive + " has neither index.json (OCI image layout) nor"
                    + " manifest.json (docker save)");
        }
        return new Loaded(files, index, dockerManifest);
    }

    private static JsonElement parse(String name, byte[] bytes) throws IOException {
        try {
            JsonElement json = JsonParser.parseString(new String(bytes, StandardCharsets.UTF_8));
            boolean ok = name.equals(INDEX_JSON) ? json.isJsonObject() : json.isJsonArray();
            if (!ok) {
                throw new IOException("image archive: " + name + " has the wrong JSON shape");
            }
            return json;
        } catch (JsonParseException e) {
            throw new IOException("image archive: " + name + " is not valid JSON: " + e.getMessage(), e);
        }
    }

    /** Archive paths as keys: no leading "./" or "/", no empty components. */
    static String normalize(String path) {
        String p = path.replace('\\', '/');
        while (p.startsWith("./") || p.startsWith("/")) {
            p = p.startsWith("./") ? p.substring(2) : p.substring(1);
        }
        return p.replaceAll("/+", "/");
    }

    /** One image to write: its manifest, config and layers (all in the content store), and the name to give it. */
    record Export(Digest manifest, String manifestMediaType, long manifestSize, Digest config, List<Digest> layers,
                  String name, String tag) {
    }

    /** Writes an OCI image layout archive holding one image. */
    static void write(OutputStream out, Export image, ContentStore content) throws IOException {
        try (var tar = new TarArchiveOutputStream(out)) {
            tar.setLongFileMode(TarArchiveOutputStream.LONGFILE_POSIX);
            tar.setBigNumberMode(TarArchiveOutputStream.BIGNUMBER_POSIX);
            file(tar, OCI_LAYOUT, "{\"imageLayoutVersion\":\"1.0.0\"}".getBytes(StandardCharsets.UTF_8));
            var annotations = new LinkedHashMap<String, String>();
            if (image.name() != null) {
                annotations.put(ANNOTATION_IMAGE_NAME, image.name() + (image.tag() == null ? "" : ":" + image.tag()));
            }
            if (image.tag() != null) {
                annotations.put(ANNOTATION_REF_NAME, image.tag());
            }
            var descriptor = new JsonObject();
            descriptor.addProperty("mediaType", image.manifestMediaType());
            descriptor.addProperty("digest", image.manifest().toString());
            descriptor.addProperty("size", image.manifestSize());
            if (!annotations.isEmpty()) {
                var a = new JsonObject();
                annotations.forEach(a::addProperty);
                descriptor.add("annotations", a);
            }
            var index = new JsonObject();
            index.addProperty("schemaVersion", 2);
            index.addProperty("mediaType", MediaTypes.OCI_INDEX);
            var manifests = new JsonArray();
            manifests.add(descriptor);
            index.add("manifests", manifests);
            file(tar, INDEX_JSON, index.toString().getBytes(StandardCharsets.UTF_8));
            var blobs = new ArrayList<Digest>();
            blobs.add(image.manifest());
            blobs.add(image.config());
            image.layers().stream().filter(d -> !blobs.contains(d)).forEach(blobs::add);
            for (Digest d : blobs) {
                var entry = new TarArchiveEntry("blobs/" + d.algorithm() + "/" + d.hex(), TarConstants.LF_NORMAL);
                entry.setSize(content.size(d).orElseThrow(() -> new IOException("blob " + d + " is not in the content store")));
                entry.setMode(0100644);
                tar.putArchiveEntry(entry);
                try (InputStream in = content.open(d)) {
                    in.transferTo(tar);
                }
                tar.closeArchiveEntry();
            }
        }
    }

    private static void file(TarArchiveOutputStream tar, String name, byte[] bytes) throws IOException {
        var entry = new TarArchiveEntry(name);
        entry.setSize(bytes.length);
        entry.setMode(0100644);
        tar.putArchiveEntry(entry);
        tar.write(bytes);
        tar.closeArchiveEntry();
    }
}
