package dev.bollard.cli;

/** A failure to report as one line, without a stack trace. */
final class CliException extends RuntimeException {
    CliException(String message) {
        super(message);
    }
}
