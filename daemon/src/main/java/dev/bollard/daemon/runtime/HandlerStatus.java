package dev.bollard.daemon.runtime;

import java.nio.file.Path;
import java.util.Optional;

/**
 * Whether a RuntimeClass handler can run pods on this node, and why not.
 *
 * @param reason CamelCase, like a Kubernetes condition reason; empty when ready
 */
public record HandlerStatus(String name, boolean ready, String reason, String message,
                            Optional<Path> shim, Optional<Path> binary) {
}
