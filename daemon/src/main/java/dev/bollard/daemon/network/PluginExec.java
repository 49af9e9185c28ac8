package dev.bollard.daemon.network;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

/** Finds and runs one CNI plugin executable as the spec's execution protocol says. */
final class PluginExec {

    /** A plugin's environment is clean but for the CNI variables and this. */
    private static final String PATH = Optional.ofNullable(System.getenv("PATH"))
            .orElse("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");

    private final List<Path> binDirs;
    private final Duration timeout;

    PluginExec(List<Path> binDirs, Duration timeout) {
        this.binDirs = binDirs;
        this.timeout = timeout;
    }

    /** The executable for a plugin type, first in the directory list. */
    Optional<Path> find(String type) {
        if (type.isEmpty() || type.contains("/") || type.equals(".") || type.equals("..")) {
            return Optional.empty();
        }
        for (Path dir : binDirs) {
            Path p = dir.resolve(type);
            if (Files.isRegularFile(p) && Files.isExecutable(p)) {
                return Optional.of(p);
            }
        }
        return Optional.empty();
    }

    String searchedDirs() {
        return binDirs.stream().map(Path::toString).collect(Collectors.joining(", "));
    }

    /** The variables of one invocation; {@code netns} may be empty (DEL of a namespace that is gone). */
    record Invocation(String command, String containerId, String netns, String ifName, String args) {
    }

    /** Runs the plugin, returning its stdout; a non-zero exit becomes a {@link CniException}. */
    byte[] run(String type, Invocation inv, byte[] stdin) throws IOException, InterruptedException {
        Path binary = find(type).orElseThrow(() -> new CniException.NotRun(type, inv.command(),
                "plugin executable \"" + type + "\" not found in " + searchedDirs()));
        var pb = new ProcessBuilder(binary.toString());
        Map<String, String> env = pb.environment();
        env.clear();
        env.put("CNI_COMMAND", inv.command());
        env.put("CNI_PATH", binDirs.stream().map(Path::toString).collect(Collectors.joining(":")));
        if (!inv.command().equals("VERSION")) {
            env.put("CNI_CONTAINERID", inv.containerId());
            env.put("CNI_NETNS", inv.netns());
            env.put("CNI_IFNAME", inv.ifName());
            env.put("CNI_ARGS", inv.args());
        }
        env.put("PATH", PATH);
        Process p;
        try {
            p = pb.start();
        } catch (IOException e) {
            // e.g. E2BIG: CNI_ARGS carry the pod's name and namespace, which can exceed the kernel's limit
            throw new CniException.NotRun(type, inv.command(), "cannot start " + binary + ": " + e.getMessage());
        }
        CompletableFuture<byte[]> out = drain(p.getInputStream());
        CompletableFuture<byte[]> err = drain(p.getErrorStream());
        try (OutputStream in = p.getOutputStream()) {
            in.write(stdin);
        } catch (IOException e) {
            // The plugin may exit without reading its config; its exit status tells what happened.
        }
        boolean exited;
        try {
            exited = p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            kill(p);
            throw e;
        }
        if (!exited) {
            kill(p);
            throw new CniException(type, inv.command(), CniException.RUNTIME_FAILURE,
                    binary + " did not finish within " + timeout.toSeconds() + "s and was killed", "",
                    text(err.getNow(new byte[0])));
        }
        byte[] stdout = out.join();
        String stderr = text(err.join());
        int status = p.exitValue();
        if (status != 0) {
            throw failure(type, inv.command(), status, stdout, stderr);
        }
        return stdout;
    }

    /** The plugin's error JSON ({@code code}, {@code msg}, {@code details}) or, when it printed none, its exit. */
    private static CniException failure(String type, String command, int status, byte[] stdout, String stderr) {
        String raw = text(stdout).strip();
        try {
            JsonObject e = JsonParser.parseString(raw).getAsJsonObject();
            int code = e.has("code") ? e.get("code").getAsInt() : CniException.RUNTIME_FAILURE;
            String msg = e.has("msg") ? e.get("msg").getAsString() : raw;
            String details = e.has("details") ? e.get("details").getAsString() : "";
            return new CniException(type, command, code, msg, details, stderr);
        } catch (RuntimeException notJson) {
            return new CniException(type, command, CniException.RUNTIME_FAILURE,
                    "exit status " + status + (raw.isEmpty() ? "" : ", output: " + raw), "", stderr);
        }
    }

    /** Plugins run their IPAM plugin as a child; a killed plugin must not leave it behind. */
    private static void kill(Process p) {
        p.descendants().forEach(ProcessHandle::destroyForcibly);
        p.destroyForcibly();
        try {
            p.waitFor(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static CompletableFuture<byte[]> drain(InputStream s) {
        var f = new CompletableFuture<byte[]>();
        Thread.ofVirtual().name("cni-plugin-output").start(() -> {
            try (s) {
                var buf = new ByteArrayOutputStream();
                s.transferTo(buf);
                f.complete(buf.toByteArray());
            } catch (IOException e) {
                f.complete(new byte[0]);
            }
        });
        return f;
    }

    private static String text(byte[] b) {
        return new String(b, StandardCharsets.UTF_8);
    }
}
