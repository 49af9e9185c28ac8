package dev.bollard.daemon.config;

/** A configuration problem, with a message that names the file, line and key where one is known. */
public final class ConfigException extends Exception {
    public ConfigException(String message) {
        super(message);
    }
}
