package dev.bollard.daemon.streaming.client;

import java.io.IOException;

/** The server refused the stream (HTTP status and its message) or reported a failure on the error stream. */
public final class StreamClientException extends IOException {
    private final int httpStatus;

    public StreamClientException(String message) {
        this(0, message);
    }

    public StreamClientException(int httpStatus, String message) {
        super(message);
        this.httpStatus = httpStatus;
    }

    /** The HTTP status of a refused upgrade; 0 when the upgrade succeeded. */
    public int httpStatus() {
        return httpStatus;
    }
}
