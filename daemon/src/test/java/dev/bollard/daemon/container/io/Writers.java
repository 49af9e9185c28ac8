package dev.bollard.daemon.container.io;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Real writer processes ({@code /bin/sh -c}) for the tests, killed at the end whatever happened. */
final class Writers implements AutoCloseable {

    private final Path dir;
    private final List<Process> started = new ArrayList<>();
    private int count;

    Writers(Path dir) {
        this.dir = dir;
    }

    /** Runs {@code script} in {@code dir}; its own stdio is /dev/null and a file, the FIFOs are named in the script. */
    Process sh(String script) throws IOException {
        Path err = dir.resolve("sh-" + (count++) + ".stderr");
        var p = new ProcessBuilder("/bin/sh", "-c", script)
                .directory(dir.toFile())
                .redirectInput(new File("/dev/null"))
                .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .redirectError(err.toFile())
                .start();
        started.add(p);
        return p;
    }

    /** Waits for a clean exit, naming the script's stderr otherwise. */
    static void exitsZero(Process p) throws Exception {
        assertTrue(p.waitFor(30, TimeUnit.SECONDS), "writer did not exit: " + p.info().commandLine().orElse("?"));
        assertEquals(0, p.exitValue(), "writer failed: " + p.info().commandLine().orElse("?"));
    }

    static String quote(Path p) {
        return "'" + p.toString().replace("'", "'\\''") + "'";
    }

    static String read(Path p) throws IOException {
        return Files.readString(p, StandardCharsets.UTF_8);
    }

    @Override
    public void close() {
        for (Process p : started) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
        }
    }
}
