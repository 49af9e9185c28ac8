package dev.bollard.daemon.shim;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/** Runs one shim binary action ({@code start}, {@code delete}) to completion, with a deadline. */
final class ShimCommand {

    private ShimCommand() {
    }

    record Result(List<String> command, int exitCode, byte[] stdout, String stderr) {

        String stdoutText() {
            return new String(stdout, StandardCharsets.UTF_8).strip();
        }

        /** For error messages: the command, its exit code and what it printed. */
        String describe() {
            return String.join(" ", command) + " exited with " + exitCode
                    + (stderr.isBlank() ? "" : ", stderr: " + stderr.strip())
                    + (stdout.length == 0 ? "" : ", stdout: " + stdoutText());
        }
    }

    static Result run(List<String> command, Path cwd, Map<String, String> env, byte[] stdin, Duration timeout)
            throws IOException, InterruptedException {
        Path binary = Path.of(command.getFirst());
        if (!Files.isRegularFile(binary)) {
            throw new NoSuchFileException(binary.toString(), null, "shim binary not found (command: "
                    + String.join(" ", command) + ")");
        }
        if (!Files.isExecutable(binary)) {
            throw new IOException("shim binary " + binary + " is not executable");
        }
        var builder = new ProcessBuilder(command).directory(cwd.toFile());
        builder.environment().putAll(env);
        Process process;
        try {
            process = builder.start();
        } catch (IOException e) {
            throw new IOException("cannot run " + String.join(" ", command) + " in " + cwd + ": " + e.getMessage(), e);
        }
        CompletableFuture<byte[]> out = drain(process.getInputStream());
        CompletableFuture<byte[]> err = drain(process.getErrorStream());
        try (OutputStream in = process.getOutputStream()) {
            in.write(stdin);
        } catch (IOException e) {
            // The shim may exit without reading stdin; its exit status tells what happened.
        }
        try {
            if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                process.destroyForcibly();
                process.waitFor(2, TimeUnit.SECONDS);
                throw new IOException(String.join(" ", command) + " did not finish within " + timeout
                        + " and was killed; stderr: " + text(err).strip());
            }
            // The shim's daemon child must not hold our pipes (Go gives it /dev/null); bounded anyway.
            return new Result(List.copyOf(command), process.exitValue(), out.get(5, TimeUnit.SECONDS),
                    text(err));
        } catch (InterruptedException e) {
            process.destroyForcibly();
            throw e;
        } catch (ExecutionException | java.util.concurrent.TimeoutException e) {
            throw new IOException("cannot read the output of " + String.join(" ", command) + ": " + e, e);
        }
    }

    private static String text(CompletableFuture<byte[]> bytes) {
        try {
            return new String(bytes.get(2, TimeUnit.SECONDS), StandardCharsets.UTF_8);
        } catch (Exception e) {
            return "(unreadable: " + e + ")";
        }
    }

    private static CompletableFuture<byte[]> drain(InputStream stream) {
        var result = new CompletableFuture<byte[]>();
        Thread.ofVirtual().name("shim-command-output").start(() -> {
            try (stream) {
                result.complete(stream.readAllBytes());
            } catch (IOException e) {
                result.completeExceptionally(e);
            }
        });
        return result;
    }

    /**
     * Pids of running shim daemons for {@code id}: a shim's {@code start} re-executes itself as
     * {@code <shim> -namespace <ns> -id <id> -address <address>} (no action word), and that process serves the pod.
     */
    static List<Long> shimDaemons(String namespace, String id, String address) {
        var found = new ArrayList<Long>();
        shimDaemons(namespace, address).forEach((pid, shimId) -> {
            if (shimId.equals(id)) {
                found.add(pid);
            }
        });
        return found;
    }

    /** Every running shim daemon started with this {@code -namespace} and {@code -address}: pid → its {@code -id}. */
    static java.util.Map<Long, String> shimDaemons(String namespace, String address) {
        var found = new java.util.TreeMap<Long, String>();
        try (Stream<Path> procs = Files.list(Path.of("/proc"))) {
            for (Path proc : (Iterable<Path>) procs::iterator) {
                String name = proc.getFileName().toString();
                if (!name.chars().allMatch(Character::isDigit)) {
                    continue;
                }
                List<String> argv;
                try {
                    argv = Arrays.asList(Files.readString(proc.resolve("cmdline"), StandardCharsets.UTF_8).split("\0"));
                } catch (IOException e) {
                    continue; // gone meanwhile
                }
                int id = argv.indexOf("-id");
                if (flag(argv, "-namespace", namespace) && flag(argv, "-address", address) && id >= 0
                        && id + 1 < argv.size() && !argv.contains("start") && !argv.contains("delete")) {
                    found.put(Long.parseLong(name), argv.get(id + 1));
                }
            }
        } catch (IOException e) {
            // /proc unreadable: nothing can be identified, so nothing is killed.
        }
        return found;
    }

    private static boolean flag(List<String> argv, String flag, String value) {
        int i = argv.indexOf(flag);
        return i >= 0 && i + 1 < argv.size() && argv.get(i + 1).equals(value);
    }
}
