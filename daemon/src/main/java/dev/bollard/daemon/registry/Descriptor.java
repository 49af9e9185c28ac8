package dev.bollard.daemon.registry;

import dev.bollard.daemon.content.Digest;

import java.util.List;
import java.util.Map;
import java.util.Optional;

/** An OCI content descriptor: what a manifest or index says about one blob or child manifest. */
public record Descriptor(String mediaType, Digest digest, long size, Optional<Platform> platform,
                        Map<String, String> annotations, List<String> urls) {

    public Descriptor {
        annotations = Map.copyOf(annotations);
        urls = List.copyOf(urls);
    }

    public Descriptor(String mediaType, Digest digest, long size) {
        this(mediaType, digest, size, Optional.empty(), Map.of(), List.of());
    }
}
