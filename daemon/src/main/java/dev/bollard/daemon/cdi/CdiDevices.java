package dev.bollard.daemon.cdi;

import com.google.gson.JsonObject;
import dev.bollard.api.cri.v1.CDIDevice;
import dev.bollard.api.cri.v1.ContainerConfig;
import dev.bollard.daemon.config.BollardConfig;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The one call container creation makes: the CDI devices a container asks for, injected into its OCI spec. The
 * node's registry is set once by the daemon at start ({@link #configure}); until then the default directories
 * apply.
 */
public final class CdiDevices {

    /** Annotations naming devices, as kubelet's device plugins and DRA drivers write them. */
    public static final String ANNOTATION_PREFIX = "cdi.k8s.io/";

    private static volatile CdiRegistry registry = new CdiRegistry(
            new BollardConfig.Cdi(true, List.of(Path.of("/etc/cdi"), Path.of("/var/run/cdi"))));

    private CdiDevices() {
    }

    public static void configure(BollardConfig.Cdi config) {
        registry = new CdiRegistry(config);
    }

    /**
     * Applies the edits of every device {@code config} names (its cdi_devices, then its cdi.k8s.io/ annotations).
     *
     * @throws IllegalArgumentException a malformed or ambiguous device name (INVALID_ARGUMENT)
     * @throws java.util.NoSuchElementException a device no spec file defines (NOT_FOUND)
     */
    public static void inject(JsonObject spec, ContainerConfig config) throws IOException {
        List<String> names = requested(config);
        if (!names.isEmpty()) {
            CdiEdits.apply(spec, registry.resolve(names));
        }
    }

    /** The devices named by a container config, in order, duplicates kept (resolution drops them). */
    static List<String> requested(ContainerConfig config) {
        var names = new ArrayList<String>();
        for (CDIDevice d : config.getCDIDevicesList()) {
            names.add(d.getName());
        }
        // annotations in key order, so that the edits do not depend on a map's iteration order
        for (var e : new java.util.TreeMap<>(config.getAnnotationsMap()).entrySet()) {
            if (e.getKey().startsWith(ANNOTATION_PREFIX)) {
                checkAnnotationKey(e);
                for (String name : e.getValue().split(",")) {
                    if (!name.isBlank()) {
                        names.add(name.strip());
                    }
                }
            }
        }
        return names;
    }

    private static void checkAnnotationKey(Map.Entry<String, String> e) {
        String key = e.getKey().substring(ANNOTATION_PREFIX.length());
        if (key.isEmpty() || !key.matches("[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?")) {
            throw new IllegalArgumentException("annotation " + e.getKey() + ": invalid CDI annotation key");
        }
    }
}
