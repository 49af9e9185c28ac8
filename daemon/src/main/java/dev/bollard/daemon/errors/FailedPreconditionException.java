package dev.bollard.daemon.errors;

/** The object is not in a state that allows the operation (a stopped pod, an exited container). */
public final class FailedPreconditionException extends DomainException {

    public FailedPreconditionException(String message) {
        super(message);
    }
}
