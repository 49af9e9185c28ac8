package dev.bollard.daemon.oci;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import dev.bollard.api.cri.v1.IDMapping;
import dev.bollard.api.cri.v1.NamespaceMode;
import dev.bollard.api.cri.v1.NamespaceOption;
import dev.bollard.api.cri.v1.UserNamespace;

import java.util.List;
import java.util.Optional;

/**
 * A pod's user namespace (KEP-127) as the CRI asks for it in {@code NamespaceOption.userns_options}: mode NODE (or
 * unset) keeps the node's, mode POD gives the pod one of its own with the kubelet's mappings. Like containerd 2.x,
 * one mapping line per kind only (an idmapped mount takes the same single range), and it must map container ID 0,
 * the ID the runtime sets the namespace up as.
 */
public final class UserNamespaces {

    /** One contiguous range: container IDs {@code containerId …} are host IDs {@code hostId …}. */
    public record Range(long containerId, long hostId, long size) {
        /** The host ID of container ID {@code id}. */
        public long toHost(long id) {
            return hostId + (id - containerId);
        }

        JsonObject json() {
            var o = new JsonObject();
            o.addProperty("containerID", containerId);
            o.addProperty("hostID", hostId);
            o.addProperty("size", size);
            return o;
        }
    }

    /** The mappings of a pod's own user namespace. */
    public record Mappings(Range uids, Range gids) {
        /** The host uid that is root inside. */
        public long hostRootUid() {
            return uids.toHost(0);
        }

        public long hostRootGid() {
            return gids.toHost(0);
        }

        /** OCI linux.uidMappings / gidMappings. */
        public void addTo(JsonObject linux) {
            var u = new JsonArray();
            u.add(uids.json());
            var g = new JsonArray();
            g.add(gids.json());
            linux.add("uidMappings", u);
            linux.add("gidMappings", g);
        }
    }

    private UserNamespaces() {
    }

    /**
     * The pod's own user namespace, or empty when it keeps the node's (NODE, or no options: what older kubelets
     * send). The sandbox's other namespace modes must allow one: with the node's network, PID or IPC namespace
     * a pod cannot have a user namespace of its own (the kernel would not let it mount sysfs or proc there).
     *
     * @throws IllegalArgumentException naming the bad field
     */
    public static Optional<Mappings> of(NamespaceOption ns, String field) {
        if (!ns.hasUsernsOptions()) {
            return Optional.empty();
        }
        UserNamespace u = ns.getUsernsOptions();
        String f = field + ".userns_options";
        switch (u.getMode()) {
            case NODE -> {
                if (u.getUidsCount() > 0 || u.getGidsCount() > 0) {
                    throw new IllegalArgumentException(f + ": mode NODE takes no mappings, got " + u.getUidsCount()
                            + " uid and " + u.getGidsCount() + " gid mappings");
                }
                return Optional.empty();
            }
            case POD -> {
                if (u.getUidsCount() == 0 || u.getGidsCount() == 0) {
                    throw new IllegalArgumentException(f + ": mode POD needs uid and gid mappings, got "
                            + u.getUidsCount() + " uid and " + u.getGidsCount() + " gid mappings");
                }
                var m = new Mappings(range(u.getUidsList(), f + ".uids"), range(u.getGidsList(), f + ".gids"));
                for (var e : List.of(new Object[] {"network", ns.getNetwork()}, new Object[] {"pid", ns.getPid()},
                        new Object[] {"ipc", ns.getIpc()})) {
                    if (e[1] == NamespaceMode.NODE) {
                        throw new IllegalArgumentException(f + ": a user namespace of the pod's own cannot be combined "
                                + "with the node's " + e[0] + " namespace (" + field + "." + e[0] + " is NODE)");
                    }
                }
                return Optional.of(m);
            }
            case CONTAINER, TARGET -> throw new IllegalArgumentException(f + ".mode " + u.getMode()
                    + " is not supported: a user namespace is the pod's (POD) or the node's (NODE)");
            default -> throw new IllegalArgumentException(f + ".mode: unknown value " + u.getModeValue());
        }
    }

    /**
     * An idmapped mount (KEP-127: the kubelet sets a volume's uidMappings/gidMappings to the pod's) is made through
     * the pod's user namespace, so it must have one, and the mount's mappings must be the pod's.
     *
     * @throws IllegalArgumentException naming the mount
     */
    public static void checkMountMappings(dev.bollard.api.cri.v1.Mount m, Optional<Mappings> pod, String field) {
        if (pod.isEmpty()) {
            throw new IllegalArgumentException(field + ": uidMappings/gidMappings need a pod with a user namespace of "
                    + "its own (userns_options mode POD)");
        }
        if (m.getUidMappingsCount() == 0 || m.getGidMappingsCount() == 0) {
            throw new IllegalArgumentException(field + ": an idmapped mount needs both uidMappings and gidMappings");
        }
        var own = new Mappings(range(m.getUidMappingsList(), field + ".uidMappings"),
                range(m.getGidMappingsList(), field + ".gidMappings"));
        if (!own.equals(pod.get())) {
            throw new IllegalArgumentException(field + ": idmapped mounts take the pod's user namespace mappings ("
                    + pod.get() + "), got " + own);
        }
    }

    private static Range range(List<IDMapping> lines, String field) {
        if (lines.size() > 1) {
            throw new IllegalArgumentException(field + ": only one mapping is supported, got " + lines.size());
        }
        IDMapping m = lines.getFirst();
        long container = Integer.toUnsignedLong(m.getContainerId());
        long host = Integer.toUnsignedLong(m.getHostId());
        long size = Integer.toUnsignedLong(m.getLength());
        if (size == 0) {
            throw new IllegalArgumentException(field + "[0].length must be at least 1");
        }
        // the kernel's IDs end at 2^32 - 2 (2^32 - 1 is "no ID")
        if (container + size > 0xFFFF_FFFFL || host + size > 0xFFFF_FFFFL) {
            throw new IllegalArgumentException(field + "[0]: range " + describe(container, host, size)
                    + " goes past the last ID 4294967294");
        }
        if (container != 0) {
            throw new IllegalArgumentException(field + "[0]: container ID 0 is not mapped (" + describe(container, host,
                    size) + "); the container's root must have a host ID");
        }
        return new Range(container, host, size);
    }

    private static String describe(long container, long host, long size) {
        return "container_id " + container + " host_id " + host + " length " + size;
    }
}
