package dev.bollard.daemon.runtime;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.bollard.daemon.store.AtomicFiles;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.Optional;

/**
 * What {@code runc features} answered, kept in a file of the daemon's root across restarts, keyed by the binary's
 * identity: its path, size, modification time (nanoseconds), file key (device and inode) and the kernel release (the
 * features Bollard reports also depend on the kernel). A restarted daemon answers kubelet's first Status from it
 * at once instead of waiting for runc (a Go binary: 10-150 ms to start, more on a busy node); a runc replaced or
 * upgraded in place, or a new kernel, no longer matches, and runc is asked again. A file that cannot be read or
 * parsed is a miss, never an error: it is only a cache.
 */
final class RuncFeaturesCache {

    /** The binary as found now; a different identity means a different runc (or kernel), whose answer may differ. */
    record BinaryIdentity(String path, long size, long modifiedNanos, String fileKey, String kernel) {

        /** The identity of {@code binary} (links followed), or empty when it cannot be read. */
        static Optional<BinaryIdentity> of(Path binary) {
            try {
                var a = Files.readAttributes(binary, BasicFileAttributes.class);
                var modified = a.lastModifiedTime().toInstant();
                return Optional.of(new BinaryIdentity(binary.toAbsolutePath().toString(), a.size(),
                        modified.getEpochSecond() * 1_000_000_000L + modified.getNano(),
                        String.valueOf(a.fileKey()), System.getProperty("os.version", "")));
            } catch (IOException e) {
                return Optional.empty();
            }
        }
    }

    private final Path file;

    /** @param file where the answers are kept (created on the first answer) */
    RuncFeaturesCache(Path file) {
        this.file = file;
    }

    /** The answer stored for exactly this binary, if any. */
    Optional<RuntimeHandlers.Features> lookup(BinaryIdentity id) {
        for (var e : entries()) {
            if (e.isJsonObject() && id.equals(identity(e.getAsJsonObject()))) {
                var o = e.getAsJsonObject();
                try {
                    return Optional.of(new RuntimeHandlers.Features(o.get("recursiveReadOnlyMounts").getAsBoolean(),
                            o.get("userNamespaces").getAsBoolean()));
                } catch (RuntimeException malformed) {
                    return Optional.empty();
                }
            }
        }
        return Optional.empty();
    }

    /** Keeps {@code features} for {@code id}, replacing what was kept for the same path. */
    synchronized void store(BinaryIdentity id, RuntimeHandlers.Features features) throws IOException {
        var kept = new JsonArray();
        for (var e : entries()) {
            if (e.isJsonObject() && e.getAsJsonObject().has("path")
                    && !e.getAsJsonObject().get("path").getAsString().equals(id.path())) {
                kept.add(e);
            }
        }
        var o = new JsonObject();
        o.addProperty("path", id.path());
        o.addProperty("size", id.size());
        o.addProperty("modifiedNanos", id.modifiedNanos());
        o.addProperty("fileKey", id.fileKey());
        o.addProperty("kernel", id.kernel());
        o.addProperty("recursiveReadOnlyMounts", features.recursiveReadOnlyMounts());
        o.addProperty("userNamespaces", features.userNamespaces());
        kept.add(o);
        var all = new JsonObject();
        all.add("runc", kept);
        Files.createDirectories(file.getParent());
        AtomicFiles.write(file, all.toString().getBytes(StandardCharsets.UTF_8));
    }

    private JsonArray entries() {
        try {
            var all = JsonParser.parseString(Files.readString(file)).getAsJsonObject();
            return all.has("runc") ? all.getAsJsonArray("runc") : new JsonArray();
        } catch (IOException | RuntimeException e) { // none yet, or torn or foreign content: a miss, rewritten on store
            return new JsonArray();
        }
    }

    private static BinaryIdentity identity(JsonObject o) {
        try {
            return new BinaryIdentity(o.get("path").getAsString(), o.get("size").getAsLong(),
                    o.get("modifiedNanos").getAsLong(), o.get("fileKey").getAsString(), o.get("kernel").getAsString());
        } catch (RuntimeException e) {
            return null;
        }
    }
}
