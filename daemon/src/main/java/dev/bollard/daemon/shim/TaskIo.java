package dev.bollard.daemon.shim;

import java.util.Objects;

/**
 * A process's stdio as the shim wires it: FIFO paths (the shim opens them for writing, or for reading for stdin), or
 * "" for none. With {@code terminal} the process gets a pty and {@code stderr} must be "".
 */
public record TaskIo(String stdin, String stdout, String stderr, boolean terminal) {

    public static final TaskIo NONE = new TaskIo("", "", "", false);

    public TaskIo {
        stdin = Objects.requireNonNullElse(stdin, "");
        stdout = Objects.requireNonNullElse(stdout, "");
        stderr = Objects.requireNonNullElse(stderr, "");
    }
}
