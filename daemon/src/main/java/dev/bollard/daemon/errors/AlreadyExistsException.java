package dev.bollard.daemon.errors;

/** The name or object is taken already. */
public final class AlreadyExistsException extends DomainException {

    public AlreadyExistsException(String message) {
        super(message);
    }
}
