package dev.bollard.daemon.errors;

/** A limit was reached. */
public final class ResourceExhaustedException extends DomainException {

    public ResourceExhaustedException(String message) {
        super(message);
    }
}
