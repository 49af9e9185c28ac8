package dev.bollard.daemon.cri;

import dev.bollard.daemon.log.Log;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;

/**
 * Runs one call and turns its outcome into a gRPC status. Domain code signals bad input with
 * {@link IllegalArgumentException} (INVALID_ARGUMENT), a missing object with {@link java.util.NoSuchElementException}
 * or its {@code errors.NotFoundException} (NOT_FOUND), and other outcomes with a {@code errors.DomainException}
 * (ALREADY_EXISTS, FAILED_PRECONDITION, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED); a {@link StatusRuntimeException} passes through; anything else is a bug or an I/O
 * failure and becomes INTERNAL, logged with its stack.
 */
public final class Calls {

    private static final Log LOG = Log.get("cri");

    @FunctionalInterface
    public interface Body<T> {
        T run() throws Exception;
    }

    private Calls() {
    }

    @FunctionalInterface
    public interface StreamBody {
        void run() throws Exception;
    }

    public static <T> void unary(StreamObserver<T> observer, Body<T> body) {
        T response;
        try {
            response = body.run();
        } catch (Exception e) {
            observer.onError(toStatus(e));
            return;
        }
        observer.onNext(response);
        observer.onCompleted();
    }

    /** A server stream whose body sends its messages with {@code onNext}; completed or failed here. */
    public static <T> void stream(StreamObserver<T> observer, StreamBody body) {
        try {
            body.run();
        } catch (Exception e) {
            observer.onError(toStatus(e));
            return;
        }
        observer.onCompleted();
    }

    /** The one place a domain outcome becomes a gRPC code. */
    static Status code(dev.bollard.daemon.errors.DomainException e) {
        return switch (e) {
            case dev.bollard.daemon.errors.AlreadyExistsException x -> Status.ALREADY_EXISTS;
            case dev.bollard.daemon.errors.FailedPreconditionException x -> Status.FAILED_PRECONDITION;
            case dev.bollard.daemon.errors.DeadlineExceededException x -> Status.DEADLINE_EXCEEDED;
            case dev.bollard.daemon.errors.ResourceExhaustedException x -> Status.RESOURCE_EXHAUSTED;
        };
    }

    private static StatusRuntimeException toStatus(Exception e) {
        return switch (e) {
            case StatusRuntimeException s -> s;
            case dev.bollard.daemon.errors.DomainException d -> code(d).withDescription(d.getMessage()).asRuntimeException();
            case IllegalArgumentException iae -> Status.INVALID_ARGUMENT.withDescription(iae.getMessage()).asRuntimeException();
            case java.util.NoSuchElementException nse -> Status.NOT_FOUND.withDescription(nse.getMessage()).asRuntimeException();
            case java.io.IOException full when dev.bollard.daemon.store.DiskFullException.isDiskFull(full) -> Status.RESOURCE_EXHAUSTED.withDescription(full.getMessage()).asRuntimeException();
            case InterruptedException ie -> {
                Thread.currentThread().interrupt();
                yield Status.CANCELLED.withDescription("interrupted").asRuntimeException();
            }
            default -> {
                LOG.error("call failed", e);
                yield Status.INTERNAL.withDescription(String.valueOf(e.getMessage())).withCause(e).asRuntimeException();
            }
        };
    }
}
