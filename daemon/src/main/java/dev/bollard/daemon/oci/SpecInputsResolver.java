package dev.bollard.daemon.oci;

import com.google.gson.JsonObject;
import dev.bollard.api.cri.v1.ContainerConfig;
import dev.bollard.api.cri.v1.Device;
import dev.bollard.api.cri.v1.SecurityProfile;

import java.io.IOException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Everything a spec needs from the host and the image, read before {@link SpecBuilder} runs: the host device nodes,
 * the image's users, the real paths of mounted host paths, a localhost seccomp profile, the node's hostname. It reads
 * only what the spec will use (no device stat for a container that gets the node's devices, no profile for a
 * privileged one), and every file a request names through {@link dev.bollard.daemon.linux.RequestedFiles}.
 */
public final class SpecInputsResolver {

    private static final Path HOST_DEV = Path.of("/dev");

    private SpecInputsResolver() {
    }

    /** For the infra container of a pod. */
    public static SpecInputs.Sandbox sandbox(PodContext pod) throws IOException {
        var sc = pod.config().getLinux().getSecurityContext();
        if (sc.getPrivileged()) {
            return SpecInputs.Sandbox.NONE;
        }
        return new SpecInputs.Sandbox(seccomp(sc.hasSeccomp() ? Optional.of(sc.getSeccomp()) : Optional.empty(),
                sc.getSeccompProfilePath()));
    }

    /**
     * For a CRI container of a pod.
     *
     * @param rootfs    the container's image rootfs, for /etc/passwd and /etc/group
     * @param targetPid the pid of the container named by namespace_options.target_id when pid mode is TARGET
     * @throws IllegalArgumentException naming the field whose file is missing or unusable
     */
    public static SpecInputs.Container container(PodContext pod, ContainerConfig config, RootfsFiles rootfs,
                                                 int targetPid, SpecInputs.Handler handler) throws IOException {
        var sc = config.getLinux().getSecurityContext();
        boolean privileged = sc.getPrivileged();
        boolean hostDevices = privileged && !handler.privilegedWithoutHostDevices();
        var devices = new ArrayList<Devices.Device>();
        List<SpecInputs.HostDevice> nodeDevices = hostDevices ? hostDevices(HOST_DEV) : List.of();
        if (!hostDevices) {
            for (int i = 0; i < config.getDevicesCount(); i++) {
                devices.add(device(config.getDevices(i), "devices[" + i + "]"));
            }
        }
        Optional<JsonObject> seccomp = privileged ? Optional.empty()
                : seccomp(sc.hasSeccomp() ? Optional.of(sc.getSeccomp()) : Optional.empty(), sc.getSeccompProfilePath());
        String hostname = pod.config().getHostname().isEmpty() ? NodeHostname.current() : pod.config().getHostname();
        return new SpecInputs.Container(Users.ImageUsers.read(rootfs), hostname, devices, nodeDevices,
                mountSources(config), seccomp, targetPid, handler);
    }

    private static Devices.Device device(Device d, String field) throws IOException {
        if (!d.getHostPath().startsWith("/")) {
            throw new IllegalArgumentException(field + ".host_path must be absolute, got \"" + d.getHostPath() + "\"");
        }
        return Devices.stat(Path.of(d.getHostPath()), field + ".host_path");
    }

    /** A symlink is mounted as its target, as the CRI asks; the builder refuses a path that has no entry here. */
    private static Map<Integer, String> mountSources(ContainerConfig config) throws IOException {
        var out = new HashMap<Integer, String>();
        for (int i = 0; i < config.getMountsCount(); i++) {
            String src = config.getMounts(i).getHostPath();
            if (!src.startsWith("/")) {
                continue;
            }
            try {
                out.put(i, Path.of(src).toRealPath().toString());
            } catch (NoSuchFileException e) {
                // left out: SpecBuilder names the mount, after its other checks
            }
        }
        return out;
    }

    private static Optional<JsonObject> seccomp(Optional<SecurityProfile> profile, String legacyPath)
            throws IOException {
        Seccomp.Choice choice = Seccomp.choose(profile, legacyPath, "linux.security_context");
        if (choice instanceof Seccomp.Choice.Localhost local) {
            return Optional.of(Seccomp.readLocalhost(local));
        }
        return Optional.empty();
    }

    /** Every device node under a /dev tree. */
    static List<SpecInputs.HostDevice> hostDevices(Path devRoot) throws IOException {
        var out = new ArrayList<SpecInputs.HostDevice>();
        for (var e : Devices.hostDevices(devRoot)) {
            out.add(new SpecInputs.HostDevice(e.getKey().toString(), e.getValue()));
        }
        return out;
    }
}
