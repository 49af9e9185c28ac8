package dev.bollard.cli;

import dev.bollard.daemon.streaming.TerminalSize;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Optional;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;

/**
 * The local terminal for {@code exec -t} / {@code attach -t}: raw mode through stty on /dev/tty (restored on exit),
 * its size, and SIGWINCH turned into resizes.
 */
final class Terminal implements AutoCloseable {

    private static final File TTY = new File("/dev/tty");

    private final String saved;
    private final BlockingQueue<TerminalSize> resizes = new LinkedBlockingQueue<>();

    private Terminal(String saved) {
        this.saved = saved;
    }

    /** Empty when there is no controlling terminal (e.g. input piped in a script). */
    static Optional<Terminal> open() {
        // Since JDK 22 System.console() exists even when redirected; isTerminal() says whether it is one.
        if (System.console() == null || !System.console().isTerminal() || !TTY.canRead()) {
            return Optional.empty();
        }
        try {
            String saved = stty("-g").strip();
            stty("raw", "-echo");
            var terminal = new Terminal(saved);
            terminal.size().ifPresent(terminal.resizes::add);
            try {
                sun.misc.Signal.handle(new sun.misc.Signal("WINCH"),
                        signal -> terminal.size().ifPresent(terminal.resizes::add));
            } catch (IllegalArgumentException e) {
                // no SIGWINCH here: the first size is all the remote side gets
            }
            Runtime.getRuntime().addShutdownHook(new Thread(terminal::restore));
            return Optional.of(terminal);
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    BlockingQueue<TerminalSize> resizes() {
        return resizes;
    }

    Optional<TerminalSize> size() {
        try {
            String[] rowsCols = stty("size").strip().split("\\s+");
            return Optional.of(new TerminalSize(Integer.parseInt(rowsCols[1]), Integer.parseInt(rowsCols[0])));
        } catch (IOException | RuntimeException e) {
            return Optional.empty();
        }
    }

    private void restore() {
        try {
            stty(saved);
        } catch (IOException e) {
            // the terminal is gone
        }
    }

    @Override
    public void close() {
        restore();
    }

    private static String stty(String... args) throws IOException {
        var command = new java.util.ArrayList<String>();
        command.add("stty");
        command.addAll(java.util.List.of(args));
        var process = new ProcessBuilder(command).redirectInput(TTY).redirectError(ProcessBuilder.Redirect.DISCARD)
                .start();
        try {
            String out = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (process.waitFor() != 0) {
                throw new IOException("stty " + String.join(" ", args) + " failed");
            }
            return out;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted");
        }
    }
}
