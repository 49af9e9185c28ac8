package dev.bollard.daemon.shim;

import io.grpc.Status.Code;

import java.io.IOException;

/**
 * A shim call that failed with a ttrpc status: the code as the shim sent it (containerd maps its errors onto gRPC
 * codes: NOT_FOUND, ALREADY_EXISTS, FAILED_PRECONDITION, …), or DEADLINE_EXCEEDED / UNAVAILABLE raised locally
 * for a timeout or a lost connection (a dead shim).
 */
public class ShimException extends IOException {

    private final Code code;
    private final String statusMessage;

    public ShimException(Code code, String what, String statusMessage, Throwable cause) {
        super(what + ": " + code + ": " + statusMessage, cause);
        this.code = code;
        this.statusMessage = statusMessage;
    }

    public Code code() {
        return code;
    }

    /** The shim's message alone, e.g. "container ab12 not found: not found" ("" if none). */
    public String statusMessage() {
        return statusMessage;
    }
}
