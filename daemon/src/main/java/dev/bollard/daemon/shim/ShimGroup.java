package dev.bollard.daemon.shim;

import java.util.Map;
import java.util.Objects;

/**
 * Which shim a pod runs in: a shim of its own ({@link #OWN}), or one shared by up to {@code capacity} pods with the
 * same {@code key} (the handler and the pod's namespace or {@value #ANNOTATION} annotation).
 */
public record ShimGroup(String key, int capacity) {

    /** The pod annotation naming its shim group, whatever the handler's shim_grouping says. */
    public static final String ANNOTATION = "bollard.dev/shim-group";
    /** A shim of the pod's own. */
    public static final ShimGroup OWN = new ShimGroup("", 1);

    public ShimGroup {
        Objects.requireNonNull(key, "key");
        if (capacity < 1) {
            throw new IllegalArgumentException("a shim group holds at least one pod, not " + capacity);
        }
    }

    public boolean shared() {
        return capacity > 1 && !key.isEmpty();
    }

    /**
     * The group of a pod of {@code handler}: with {@code podsPerShim} 1, a shim of its own; otherwise the pods of its
     * namespace ({@code grouping} "namespace") or of its {@value #ANNOTATION} annotation (either grouping; with
     * "annotation", a pod without one gets a shim of its own). Groups never span handlers.
     */
    public static ShimGroup of(String handler, int podsPerShim, String grouping, String namespace,
                               Map<String, String> annotations) {
        if (podsPerShim <= 1) {
            return OWN;
        }
        String named = annotations.getOrDefault(ANNOTATION, "");
        if (!named.isEmpty()) {
            return new ShimGroup(handler + "/annotation/" + named, podsPerShim);
        }
        if (grouping.equals("annotation") || namespace.isEmpty()) {
            return OWN;
        }
        return new ShimGroup(handler + "/namespace/" + namespace, podsPerShim);
    }
}
