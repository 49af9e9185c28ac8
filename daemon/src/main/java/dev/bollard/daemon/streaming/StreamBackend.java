package dev.bollard.daemon.streaming;

import java.io.IOException;
import java.nio.channels.SocketChannel;

/** The runtime side of streaming, backed by lifecycle.ExecContainer and the pods in the SandboxStore. */
public interface StreamBackend {
    /** Runs the exec; returns its exit code when it ends (or when the client goes away and the process was killed). */
    int exec(StreamRequest.Exec r, RemoteCommandStreams io) throws IOException, InterruptedException;

    /** Attaches to the container's primary process until it exits or the client goes away. */
    void attach(StreamRequest.Attach r, RemoteCommandStreams io) throws IOException, InterruptedException;

    /** A connected TCP channel to localhost:port inside the pod's network namespace. */
    SocketChannel portForward(String podSandboxId, int port) throws IOException;
}
