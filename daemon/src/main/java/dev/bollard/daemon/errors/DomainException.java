package dev.bollard.daemon.errors;

/**
 * An outcome the domain code reports to its caller by kind (missing, taken, wrong state, too slow, too much); the
 * CRI layer ({@code cri.Calls}) alone turns the kind into a gRPC code, the message becoming its description word for
 * word. Bad input stays an {@link IllegalArgumentException}.
 */
public abstract sealed class DomainException extends RuntimeException
        permits NotFoundException, AlreadyExistsException, FailedPreconditionException, DeadlineExceededException,
        ResourceExhaustedException {

    DomainException(String message) {
        super(message);
    }
}
