package dev.bollard.daemon.runtime;

import java.nio.file.Path;
import java.util.Optional;

/**
 * Whether a RuntimeClass handler can run pods on this node, and why not.
 *
 * @param reason      CamelCase, like a Kubernetes condition reason; empty when ready
 * @param binary      what the shim runs as BinaryName: the runtime itself or a launcher Bollard wrote for it
 * @param runtimeRoot the OCI runtime's state root the shim passes as --root; empty for the shim's default
 */
public record HandlerStatus(String name, boolean ready, String reason, String message,
                            Optional<Path> shim, Optional<Path> binary, Optional<Path> runtimeRoot) {

    public HandlerStatus(String name, boolean ready, String reason, String message,
                         Optional<Path> shim, Optional<Path> binary) {
        this(name, ready, reason, message, shim, binary, Optional.empty());
    }
}
