package dev.bollard.daemon.cri;

import dev.bollard.daemon.log.Log;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;

/**
 * Runs one unary CRI call and turns its outcome into a gRPC status. Domain code signals bad input with
 * {@link IllegalArgumentException} (INVALID_ARGUMENT) or throws a {@link StatusRuntimeException} for a precise
 * code; anything else is a bug or an I/O failure and becomes INTERNAL, logged with its stack.
 */
final class Calls {

    private static final Log LOG = Log.get("cri");

    @FunctionalInterface
    interface Body<T> {
        T run() throws Exception;
    }

    private Calls() {
    }

    static <T> void unary(StreamObserver<T> observer, Body<T> body) {
        T response;
        try {
            response = body.run();
        } catch (StatusRuntimeException e) {
            observer.onError(e);
            return;
        } catch (IllegalArgumentException e) {
            observer.onError(Status.INVALID_ARGUMENT.withDescription(e.getMessage()).asRuntimeException());
            return;
        } catch (Exception e) {
            LOG.error("call failed", e);
            observer.onError(Status.INTERNAL.withDescription(String.valueOf(e.getMessage())).withCause(e).asRuntimeException());
            return;
        }
        observer.onNext(response);
        observer.onCompleted();
    }
}
