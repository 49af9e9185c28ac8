package dev.bollard.daemon.registry;

import java.util.List;
import java.util.Map;

/** A parsed manifest: an image manifest (OCI or Docker schema 2) or an index (OCI index or Docker manifest list). */
public sealed interface Manifest {

    String mediaType();

    Map<String, String> annotations();

    /** One image: its config blob and its layers, base layer first. */
    record Image(String mediaType, Descriptor config, List<Descriptor> layers, Map<String, String> annotations)
            implements Manifest {
        public Image {
            layers = List.copyOf(layers);
            annotations = Map.copyOf(annotations);
        }
    }

    /** Several manifests, usually one per platform. */
    record Index(String mediaType, List<Descriptor> manifests, Map<String, String> annotations) implements Manifest {
        public Index {
            manifests = List.copyOf(manifests);
            annotations = Map.copyOf(annotations);
        }
    }
}
