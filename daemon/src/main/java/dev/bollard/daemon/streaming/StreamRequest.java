package dev.bollard.daemon.streaming;

import java.util.List;

/** A validated CRI streaming request, kept under a token until a client connects. */
public sealed interface StreamRequest {
    record Exec(String containerId, List<String> cmd, boolean tty, boolean stdin, boolean stdout, boolean stderr)
            implements StreamRequest {
        public Exec {
            cmd = List.copyOf(cmd);
        }
    }

    record Attach(String containerId, boolean tty, boolean stdin, boolean stdout, boolean stderr)
            implements StreamRequest {}

    record PortForward(String podSandboxId, List<Integer> ports) implements StreamRequest {
        public PortForward {
            ports = List.copyOf(ports);
        }
    }
}
