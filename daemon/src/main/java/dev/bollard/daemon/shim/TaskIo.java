package dev.bollard.daemon.shim;

import java.util.Objects;

/**
 * A process's stdio as the shim wires it: FIFO paths (the shim opens them for writing, or for reading for stdin), or
 * "" for none. containerd-shim-runc-v2 1.6 copies stdout and stderr together: either both are FIFOs or both are ""
 * (it fails Create with {@code opening file "" failed} otherwise), so that is enforced here. With {@code terminal}
 * the process gets a pty on stdout and {@code stderr} must be "".
 */
public record TaskIo(String stdin, String stdout, String stderr, boolean terminal) {

    public static final TaskIo NONE = new TaskIo("", "", "", false);

    public TaskIo {
        stdin = Objects.requireNonNullElse(stdin, "");
        stdout = Objects.requireNonNullElse(stdout, "");
        stderr = Objects.requireNonNullElse(stderr, "");
        if (terminal && !stderr.isEmpty()) {
            throw new IllegalArgumentException("a terminal process has no separate stderr: " + stderr);
        }
        if (!terminal && stdout.isEmpty() != stderr.isEmpty()) {
            throw new IllegalArgumentException("stdout and stderr must both be FIFOs or both be empty (the shim "
                    + "copies them together): stdout=\"" + stdout + "\" stderr=\"" + stderr + "\"");
        }
    }
}
