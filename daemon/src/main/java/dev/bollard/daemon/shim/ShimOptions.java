package dev.bollard.daemon.shim;

import java.nio.file.Path;
import java.util.Objects;
import java.util.Optional;

/**
 * How one RuntimeClass handler runs.
 *
 * @param shimBinary    the resolved shim binary, e.g. {@code /usr/bin/containerd-shim-runc-v2}
 * @param binaryName    the OCI runtime the shim runs: {@code runc}, {@code crun} or an absolute path (runc Options
 *                      {@code binary_name}; empty means the shim's default, runc from PATH)
 * @param runtimeRoot   the OCI runtime's state root (runc {@code --root}); the shim appends the namespace to it.
 *                      Empty: the shim's default, {@code /run/containerd/runc/<namespace>}
 * @param systemdCgroup whether the OCI runtime uses the systemd cgroup driver
 * @param environment   added to the environment of the shim's {@code start} and {@code delete} commands (the VM
 *                      shim's settings: it takes no runc Options)
 */
public record ShimOptions(Path shimBinary, String binaryName, Optional<Path> runtimeRoot, boolean systemdCgroup,
                          java.util.Map<String, String> environment) {

    public ShimOptions {
        Objects.requireNonNull(shimBinary, "shimBinary");
        binaryName = binaryName == null ? "" : binaryName;
        runtimeRoot = runtimeRoot == null ? Optional.empty() : runtimeRoot;
        environment = environment == null ? java.util.Map.of() : java.util.Map.copyOf(environment);
    }

    public ShimOptions(Path shimBinary, String binaryName, Optional<Path> runtimeRoot, boolean systemdCgroup) {
        this(shimBinary, binaryName, runtimeRoot, systemdCgroup, java.util.Map.of());
    }
}
