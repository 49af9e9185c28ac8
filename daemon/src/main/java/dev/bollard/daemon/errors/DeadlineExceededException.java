package dev.bollard.daemon.errors;

/** The operation did not finish in the time it had. */
public final class DeadlineExceededException extends DomainException {

    public DeadlineExceededException(String message) {
        super(message);
    }
}
