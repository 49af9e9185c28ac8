package dev.bollard.daemon.shim.ttrpc;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.MessageLite;
import com.google.protobuf.Parser;
import io.grpc.Status.Code;

/**
 * Serves one ttrpc method: marshalled request in, marshalled response out. Runs on a virtual thread of its own, so
 * it may block. Throw a {@link TtrpcException} to answer with that status; any other exception answers UNKNOWN
 * with its message (and is logged). {@link TtrpcServer#currentCall()} gives the call's metadata and deadline.
 */
@FunctionalInterface
public interface TtrpcHandler {

    byte[] handle(byte[] request) throws TtrpcException;

    /** A typed method body. */
    @FunctionalInterface
    interface Typed<Q> {
        MessageLite handle(Q request) throws TtrpcException;
    }

    /**
     * Adapts a typed method: parses the request with {@code parser} (a malformed one answers INTERNAL, as in the
     * reference implementation) and marshals the returned message.
     */
    static <Q> TtrpcHandler of(Parser<Q> parser, Typed<Q> body) {
        return bytes -> {
            Q request;
            try {
                request = parser.parseFrom(bytes);
            } catch (InvalidProtocolBufferException e) {
                throw new TtrpcException(Code.INTERNAL, "ttrpc: error unmarshalling payload: " + e.getMessage(), e);
            }
            MessageLite response = body.handle(request);
            if (response == null) {
                throw new TtrpcException(Code.INTERNAL, "ttrpc: handler returned no response message");
            }
            return response.toByteArray();
        };
    }
}
