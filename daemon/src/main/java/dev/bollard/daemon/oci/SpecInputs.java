package dev.bollard.daemon.oci;

import com.google.gson.JsonObject;

import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * What {@link SpecBuilder} needs besides the request and the node's profile: read from the host and the image by
 * {@link SpecInputsResolver} before the spec is built, so that building it reads no file and asks no system call.
 */
public final class SpecInputs {

    private SpecInputs() {
    }

    /**
     * What the pod's runtime handler decides about its containers' specs.
     *
     * @param privilegedWithoutHostDevices a privileged container gets the requested devices only, not the node's
     * @param standaloneContainers         each container is a sandbox of its own (gVisor): see
     *                                     {@link SpecBuilder#standalone}
     */
    public record Handler(boolean privilegedWithoutHostDevices, boolean standaloneContainers) {
        public static final Handler DEFAULT = new Handler(false, false);
    }

    /** A device node of the host at a path. */
    public record HostDevice(String path, Devices.Device device) {
    }

    /**
     * The infra container's.
     *
     * @param seccompProfile the localhost seccomp profile's JSON, when the pod asks for one
     */
    public record Sandbox(Optional<JsonObject> seccompProfile) {
        public static final Sandbox NONE = new Sandbox(Optional.empty());
    }

    /**
     * A CRI container's.
     *
     * @param users          the image's /etc/passwd and /etc/group
     * @param hostname       the container's HOSTNAME: the pod's hostname, or the node's when the pod has none
     * @param devices        the host node of each {@code config.devices[i]}, in order (empty when the container
     *                       gets the node's devices instead)
     * @param hostDevices    every device of the node's /dev, for a privileged container its handler lets have them
     * @param mountSources   {@code config.mounts[i].host_path} by index, with symlinks resolved; a path that does not
     *                       exist (or is not absolute) has no entry
     * @param seccompProfile the localhost seccomp profile's JSON, when the container asks for one
     * @param targetPid      the pid of the container named by namespace_options.target_id when pid mode is TARGET
     */
    public record Container(Users.ImageUsers users, String hostname, List<Devices.Device> devices,
                            List<HostDevice> hostDevices, Map<Integer, String> mountSources,
                            Optional<JsonObject> seccompProfile, int targetPid, Handler handler) {
        public Container {
            devices = List.copyOf(devices);
            hostDevices = List.copyOf(hostDevices);
            mountSources = Map.copyOf(mountSources);
        }
    }
}
