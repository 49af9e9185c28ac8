package dev.bollard.daemon.streaming;

/** The runtime side, implemented by stream-core (backed by ContainerManager / SandboxManager). */
public interface StreamBackend {
    /** Runs the exec; returns its exit code when it ends (or when the client goes away and the process was killed). */
    int exec(StreamRequest.Exec r, RemoteCommandStreams io) throws java.io.IOException, InterruptedException;
    /** Attaches to the container's primary process until it exits or the client goes away. */
    void attach(StreamRequest.Attach r, RemoteCommandStreams io) throws java.io.IOException, InterruptedException;
    /** A connected TCP channel to localhost:port inside the pod's network namespace. */
    java.nio.channels.SocketChannel portForward(String podSandboxId, int port) throws java.io.IOException;
}
