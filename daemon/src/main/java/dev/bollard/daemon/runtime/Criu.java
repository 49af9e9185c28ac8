package dev.bollard.daemon.runtime;

import dev.bollard.daemon.linux.Executables;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * Whether CRIU, which runc checkpoints and restores through, works on this node: {@code criu check} answers that
 * for this kernel and this CRIU build. Asked on each checkpoint (it takes some tens of milliseconds), so installing
 * a working CRIU needs no restart.
 */
public final class Criu {

    static final long CHECK_TIMEOUT_SECONDS = 30;

    private Criu() {
    }

    /** Empty when CRIU works here; else why not, in words for a gRPC status. */
    public static Optional<String> problem() {
        Optional<Path> criu = Executables.find("criu");
        if (criu.isEmpty()) {
            return Optional.of("criu not found on PATH; runc checkpoints through CRIU (Debian: apt-get install criu)");
        }
        try {
            var process = new ProcessBuilder(criu.get().toString(), "check").redirectErrorStream(true).start();
            process.getOutputStream().close();
            byte[] out = process.getInputStream().readNBytes(64 << 10);
            if (!process.waitFor(CHECK_TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                return Optional.of("criu check did not answer within " + CHECK_TIMEOUT_SECONDS + " s");
            }
            if (process.exitValue() == 0) {
                return Optional.empty();
            }
            return Optional.of(describeFailure(criu.get(), process.exitValue(), new String(out, StandardCharsets.UTF_8)));
        } catch (IOException e) {
            return Optional.of("cannot run " + criu.get() + " check: " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return Optional.of("interrupted while running criu check");
        }
    }

    /** The failure in one line: criu's error lines, and what they mean when we know it. */
    static String describeFailure(Path criu, int exit, String output) {
        List<String> errors = new ArrayList<>();
        for (String line : output.split("\n")) {
            if (line.contains("Error")) {
                errors.add(line.strip());
            }
        }
        if (errors.isEmpty()) {
            errors.add(output.strip());
        }
        String joined = String.join("; ", errors);
        if (joined.endsWith(".")) {
            joined = joined.substring(0, joined.length() - 1);
        }
        var text = new StringBuilder("criu check failed (" + criu + ", exit " + exit + "): " + joined);
        if (output.contains("Unexpected rt vDSO area bounds")) {
            // Linux 6.13 split the vvar mapping in two (vvar, vvar_vclock); CRIU learnt of it in 4.1.
            text.append(". This CRIU predates Linux 6.13's vvar_vclock mapping (kernel ")
                    .append(System.getProperty("os.version"))
                    .append("): it cannot checkpoint any process on this kernel; CRIU 4.1 or later is needed");
        }
        return text.toString();
    }
}
