package dev.bollard.daemon.streaming;

import java.io.InputStream;
import java.io.OutputStream;
import java.util.Optional;

/** What a protocol gives a backend for one exec/attach. Streams are null when not requested. */
public interface RemoteCommandStreams {
    /** EOF when the client half-closes stdin. */
    InputStream stdin();

    OutputStream stdout();

    /** Null with tty. */
    OutputStream stderr();

    /** Blocks until the next resize from the client; empty when the client is gone / no more resizes. */
    Optional<TerminalSize> nextResize() throws InterruptedException;
}
