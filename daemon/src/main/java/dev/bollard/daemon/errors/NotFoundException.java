package dev.bollard.daemon.errors;

import java.util.NoSuchElementException;

/**
 * The object named does not exist (NOT_FOUND). A {@link NoSuchElementException}, so that the many places that already
 * catch or throw Java's own "not found" keep working; {@code cri.Calls} maps both to NOT_FOUND.
 */
public final class NotFoundException extends NoSuchElementException {

    public NotFoundException(String message) {
        super(message);
    }
}
