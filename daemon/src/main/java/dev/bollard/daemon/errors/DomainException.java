package dev.bollard.daemon.errors;

/**
 * An outcome the domain code reports to its caller by kind (taken, wrong state, too slow, too much); the CRI layer
 * ({@code cri.Calls}) alone turns the kind into a gRPC code, the message becoming its description word for word. Bad
 * input stays an {@link IllegalArgumentException}, a missing object is a {@link NotFoundException} (a
 * {@link java.util.NoSuchElementException}).
 */
public abstract sealed class DomainException extends RuntimeException
        permits AlreadyExistsException, FailedPreconditionException, DeadlineExceededException,
        ResourceExhaustedException {

    DomainException(String message) {
        super(message);
    }
}
