package dev.bollard.daemon.streaming;

/** What a protocol gives a backend for one exec/attach. Streams are null when not requested. */
public interface RemoteCommandStreams {
    java.io.InputStream stdin();    // EOF when the client half-closes stdin
    java.io.OutputStream stdout();
    java.io.OutputStream stderr();  // null with tty
    /** Blocks until the next resize from the client; empty when the client is gone / no more resizes. */
    java.util.Optional<TerminalSize> nextResize() throws InterruptedException;
}
