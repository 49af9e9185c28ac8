package dev.bollard.daemon.shim.ttrpc;

import com.google.rpc.Status;
import io.grpc.Status.Code;

/**
 * A ttrpc call that ended with a non-OK status: either the status the server sent (code, message and details as
 * received) or one raised locally with gRPC's meaning of the code:
 * <ul>
 *   <li>{@code DEADLINE_EXCEEDED}: the per-call timeout passed before the response;</li>
 *   <li>{@code UNAVAILABLE}: not connected, or the connection was lost or closed while the call was pending;</li>
 *   <li>{@code RESOURCE_EXHAUSTED}: a request or response over the 4 MiB frame limit;</li>
 *   <li>{@code INTERNAL}: a malformed response.</li>
 * </ul>
 * Handlers of a {@link TtrpcServer} throw it to answer with that status.
 */
public final class TtrpcException extends Exception {

    private final Status status;

    public TtrpcException(Code code, String message) {
        this(code, message, null);
    }

    public TtrpcException(Code code, String message, Throwable cause) {
        this(Status.newBuilder().setCode(code.value()).setMessage(message == null ? "" : message).build(), cause);
    }

    /** From a received status; its code must not be OK. */
    public TtrpcException(Status status) {
        this(status, null);
    }

    private TtrpcException(Status status, Throwable cause) {
        super(io.grpc.Status.fromCodeValue(status.getCode()).getCode() + ": " + status.getMessage(), cause);
        if (status.getCode() == Code.OK.value()) {
            throw new IllegalArgumentException("an OK status is not an error");
        }
        this.status = status;
    }

    /** The code as gRPC names it (an unknown number maps to UNKNOWN; {@link #codeValue()} keeps it). */
    public Code code() {
        return io.grpc.Status.fromCodeValue(status.getCode()).getCode();
    }

    public int codeValue() {
        return status.getCode();
    }

    /** The status message alone (without the code prefix of {@link #getMessage()}). */
    public String statusMessage() {
        return status.getMessage();
    }

    /** The whole status, details included, as sent or received on the wire. */
    public Status status() {
        return status;
    }
}
