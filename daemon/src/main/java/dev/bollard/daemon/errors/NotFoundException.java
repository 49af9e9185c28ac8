package dev.bollard.daemon.errors;

/** The object named does not exist. */
public final class NotFoundException extends DomainException {

    public NotFoundException(String message) {
        super(message);
    }
}
