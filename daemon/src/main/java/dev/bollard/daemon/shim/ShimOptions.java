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
 */
public record ShimOptions(Path shimBinary, String binaryName, Optional<Path> runtimeRoot, boolean systemdCgroup) {

    public ShimOptions {
        Objects.requireNonNull(shimBinary, "shimBinary");
        binaryName = binaryName == null ? "" : binaryName;
        runtimeRoot = runtimeRoot == null ? Optional.empty() : runtimeRoot;
    }
}
