package dev.bollard.daemon.registry;

import java.util.List;

/**
 * What a reference resolves to on this node.
 *
 * @param top      what the reference names: an index (then its digest is the image's repo digest) or a manifest
 * @param indexes  the index chain walked from {@code top} to the manifest, empty when {@code top} is a manifest
 * @param manifest the node's platform manifest; equal to {@code top} when there was no index
 * @param image    {@code manifest} parsed
 */
public record ResolvedImage(ManifestBytes top, List<ManifestBytes> indexes, ManifestBytes manifest,
                            Manifest.Image image) {
    public ResolvedImage {
        indexes = List.copyOf(indexes);
    }
}
