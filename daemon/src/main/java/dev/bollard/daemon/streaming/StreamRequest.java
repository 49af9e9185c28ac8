package dev.bollard.daemon.streaming;

/** A validated CRI streaming request, kept under a token until a client connects. */
public sealed interface StreamRequest {
    record Exec(String containerId, java.util.List<String> cmd, boolean tty, boolean stdin, boolean stdout, boolean stderr) implements StreamRequest {}
    record Attach(String containerId, boolean tty, boolean stdin, boolean stdout, boolean stderr) implements StreamRequest {}
    record PortForward(String podSandboxId, java.util.List<Integer> ports) implements StreamRequest {}
}
