package dev.bollard.daemon.registry;

import java.io.IOException;
import java.util.List;

/**
 * A pull step that failed, with a {@link Kind} the caller can act on and a message that names the registry and
 * repository. {@link #errorCodes()} holds the distribution-spec codes (e.g. {@code MANIFEST_UNKNOWN}) the
 * registry put in its JSON error body.
 */
public final class RegistryException extends IOException {

    public enum Kind {
        /** 401: no or wrong credentials. */
        UNAUTHORIZED,
        /** 403: authenticated but not allowed. */
        DENIED,
        /** 404 (or MANIFEST_UNKNOWN / NAME_UNKNOWN / BLOB_UNKNOWN). */
        NOT_FOUND,
        /** 5xx or 429 after the retries. */
        SERVER_ERROR,
        /** Another status the client cannot handle. */
        UNEXPECTED_STATUS,
        DIGEST_MISMATCH,
        SIZE_MISMATCH,
        /** A manifest above {@link RegistryClient#MAX_MANIFEST_BYTES}. */
        TOO_LARGE,
        /** Schema 1 or a media type that is no manifest. */
        UNSUPPORTED_MEDIA_TYPE,
        INVALID_MANIFEST,
        NO_MATCHING_PLATFORM,
        /** No bytes arrived for the progress timeout. */
        PROGRESS_TIMEOUT,
        /** Connection refused, reset, TLS failure, ... after the retries. */
        TRANSPORT,
        /** No endpoint has the capability the request needs. */
        NO_ENDPOINT,
        /** The token server failed or answered without a token. */
        AUTH_FAILED
    }

    private final Kind kind;
    private final int status;
    private final List<String> errorCodes;
    /** A server's Retry-After (429, 503), null when absent. */
    private java.time.Duration retryAfter;

    public RegistryException(Kind kind, String message) {
        this(kind, message, 0, List.of(), null);
    }

    public RegistryException(Kind kind, String message, Throwable cause) {
        this(kind, message, 0, List.of(), cause);
    }

    public RegistryException(Kind kind, String message, int status, List<String> errorCodes, Throwable cause) {
        super(message, cause);
        this.kind = kind;
        this.status = status;
        this.errorCodes = List.copyOf(errorCodes);
    }

    public Kind kind() {
        return kind;
    }

    /** The HTTP status behind this error, 0 when there was none. */
    public int status() {
        return status;
    }

    public List<String> errorCodes() {
        return errorCodes;
    }

    public java.util.Optional<java.time.Duration> retryAfter() {
        return java.util.Optional.ofNullable(retryAfter);
    }

    RegistryException withRetryAfter(java.time.Duration d) {
        retryAfter = d;
        return this;
    }

    /** The same error with context put in front of the message. */
    RegistryException withContext(String context) {
        var e = new RegistryException(kind, context + ": " + getMessage(), status, errorCodes, getCause());
        e.retryAfter = retryAfter;
        for (Throwable s : getSuppressed()) {
            e.addSuppressed(s);
        }
        return e;
    }
}
