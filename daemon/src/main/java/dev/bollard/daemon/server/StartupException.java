package dev.bollard.daemon.server;

/** Why the daemon did not start: one line for the operator, printed as is. */
public final class StartupException extends Exception {
    public StartupException(String message) {
        super(message);
    }

    public StartupException(String message, Throwable cause) {
        super(message, cause);
    }
}
