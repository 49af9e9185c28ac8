package dev.bollard.daemon.streaming;

import java.io.IOException;

/** Thrown by the backend for a failure to report on the error stream as a Status (e.g. container not running). */
public final class StreamException extends IOException {
    public StreamException(String message) {
        super(message);
    }
}
