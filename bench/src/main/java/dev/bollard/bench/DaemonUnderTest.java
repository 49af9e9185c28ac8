package dev.bollard.bench;

import dev.bollard.api.cri.v1.VersionRequest;
import dev.bollard.cli.CriClient;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * A CRI runtime the benchmarks compare: started on a fresh root, state and socket in a directory of its own, and
 * spoken to only through the CRI socket it serves (with Bollard's {@link CriClient}, the same for every runtime).
 */
interface DaemonUnderTest {

    /** Short name: the column header in reports. */
    String name();

    /** The daemon's version, for the report. */
    String version();

    /**
     * Once before the rounds: whatever makes every measured start alike (Bollard: a frozen copy of the build and
     * its class data sharing archive, made by one unmeasured start).
     */
    default void prepare(Workspace ws, Path certsD) throws IOException, InterruptedException {
    }

    /** Starts the daemon with everything under {@code dir} and waits until its CRI socket answers Version. */
    default Running start(Workspace ws, Path dir, Path certsD) throws IOException, InterruptedException {
        return start(ws, dir, certsD, null);
    }

    /**
     * As {@link #start(Workspace, Path, Path)}, set up for pods when {@code pods} is not null: its CNI
     * configuration directory and sandbox (pause) image instead of the pull benchmark's empty network.
     */
    Running start(Workspace ws, Path dir, Path certsD, PodSetup pods) throws IOException, InterruptedException;

    /**
     * What both runtimes share for pods: one CNI configuration directory (plugins from {@link #CNI_BIN_DIR}) and
     * one pause image, already imported, as the sandbox image. Bollard also finds plugins in {@code <conf>/../bin}
     * when a workload made it (the soak's failing wrapper).
     */
    record PodSetup(Path cniConfDir, String sandboxImage) {
    }

    Path CNI_BIN_DIR = Path.of("/usr/lib/cni");

    /** A started daemon. {@link #stop} ends it; the caller then removes its directory. */
    record Running(String name, Process process, Path dir, Path socket, Path log, String runtimeVersion) {
        long pid() {
            return process.pid();
        }

        String endpoint() {
            return "unix://" + socket;
        }

        void stop() {
            Workspace.stop(process, 20);
        }
    }

    /** Waits for {@code socket} to exist and answer CRI Version; fails with the log's tail if the daemon exits. */
    static String awaitCri(Process p, Path socket, Path log, Duration timeout) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        RuntimeException last = null;
        while (System.nanoTime() < deadline) {
            if (!p.isAlive()) {
                throw new IOException("exited with " + p.exitValue() + " before serving " + socket + "; log tail:\n"
                        + tail(log, 30));
            }
            if (Files.exists(socket)) {
                try (var client = new CriClient("unix://" + socket, 5)) {
                    var v = client.runtime(s -> s.version(VersionRequest.newBuilder().setVersion("v1").build()));
                    return v.getRuntimeName() + " " + v.getRuntimeVersion();
                } catch (RuntimeException e) {
                    last = e;
                }
            }
            Thread.sleep(5); // fine enough for the daemon workload's start-up time
        }
        throw new IOException("no CRI answer on " + socket + " within " + timeout.toSeconds() + " s"
                + (last == null ? "" : " (" + last.getMessage() + ")") + "; log tail:\n" + tail(log, 30));
    }

    static String tail(Path log, int lines) {
        try {
            List<String> all = Files.readAllLines(log, StandardCharsets.UTF_8);
            return String.join("\n", all.subList(Math.max(0, all.size() - lines), all.size()));
        } catch (IOException e) {
            return "(no log: " + e.getMessage() + ")";
        }
    }

    /** TOML basic string. */
    static String toml(Object s) {
        return "\"" + s.toString().replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
    }
}
