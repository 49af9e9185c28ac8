package dev.bollard.daemon.image;

import java.util.List;
import java.util.Map;

/**
 * What Bollard knows of one pulled or imported image, persisted as JSON. Identity is the config digest, as in
 * containerd and CRI-O: the same image pulled from two registries is one record with two repo digests.
 *
 * @param id          the config digest, {@code sha256:…}; what ListImages/ImageStatus report as {@code Image.id}
 * @param repoTags    normalized {@code name:tag} references
 * @param repoDigests normalized {@code name@sha256:…} references (the manifest digest per repository)
 * @param size        bytes of the manifest, config and compressed layers
 * @param layers      the manifest's layers, lowest first
 * @param uid         the numeric user the config names, or -1 when it names none or a user name
 * @param username    the user name the config names, or empty
 * @param updatedAt   epoch millis of the last change (reconciles a tag claimed by two records after a crash)
 */
public record ImageRecord(int schema, String id, List<String> repoTags, List<String> repoDigests, long size,
                          String manifestDigest, List<Layer> layers, long uid, String username, boolean pinned,
                          Map<String, String> annotations, long updatedAt) {

    public static final int SCHEMA = 1;

    /** One layer: its compressed blob and the digest of its uncompressed tar (the diff ID). */
    public record Layer(String digest, long size, String mediaType, String diffId) {
    }

    public ImageRecord {
        repoTags = List.copyOf(repoTags);
        repoDigests = List.copyOf(repoDigests);
        layers = List.copyOf(layers);
        annotations = Map.copyOf(annotations);
    }

    public ImageRecord withReferences(List<String> tags, List<String> digests, long now) {
        return new ImageRecord(schema, id, tags, digests, size, manifestDigest, layers, uid, username, pinned,
                annotations, now);
    }

    public ImageRecord withPinned(boolean pinned) {
        return new ImageRecord(schema, id, repoTags, repoDigests, size, manifestDigest, layers, uid, username, pinned,
                annotations, updatedAt);
    }

    public boolean unreferenced() {
        return repoTags.isEmpty() && repoDigests.isEmpty();
    }
}
