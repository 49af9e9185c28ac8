package dev.bollard.daemon.shim;

import io.grpc.Status.Code;

/** The shim answered NOT_FOUND: no such task or exec (e.g. already deleted). */
public final class ShimNotFoundException extends ShimException {

    public ShimNotFoundException(String what, String statusMessage, Throwable cause) {
        super(Code.NOT_FOUND, what, statusMessage, cause);
    }
}
