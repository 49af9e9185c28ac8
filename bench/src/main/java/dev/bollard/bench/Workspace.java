package dev.bollard.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The temporary directory a benchmark works in and the processes it started. Every process started here has its
 * pid appended to {@code <dir>/pids} (so bench/run.sh's trap can end exactly those if this JVM dies) and is stopped
 * by {@link #close}, which also unmounts anything left mounted under the directory and deletes it.
 */
final class Workspace implements AutoCloseable {

    private final Path dir;
    private final boolean keep;
    private final Deque<Process> processes = new ArrayDeque<>();
    private final Thread hook;

    Workspace(Path dir, boolean keep) throws IOException {
        this.dir = dir.toAbsolutePath();
        this.keep = keep;
        Files.createDirectories(this.dir);
        this.hook = new Thread(this::stopAll, "bench-workspace-cleanup");
        Runtime.getRuntime().addShutdownHook(hook);
    }

    Path dir() {
        return dir;
    }

    Path path(String first, String... more) {
        return dir.resolve(Path.of(first, more));
    }

    /** Starts {@code command} with stdout and stderr appended to {@code log}, recording its pid. */
    synchronized Process start(List<String> command, Path log, Map<String, String> env) throws IOException {
        var pb = new ProcessBuilder(command).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
        pb.environment().putAll(env);
        Process p = pb.start();
        processes.push(p);
        Files.writeString(dir.resolve("pids"), p.pid() + "\n", StandardCharsets.UTF_8,
                StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        return p;
    }

    /** SIGTERM, then SIGKILL after {@code graceSeconds}; waits for the process to be gone. */
    static void stop(Process p, int graceSeconds) {
        if (!p.isAlive()) {
            return;
        }
        p.destroy();
        try {
            if (!p.waitFor(graceSeconds, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                p.waitFor(10, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
        }
    }

    private synchronized void stopAll() {
        while (!processes.isEmpty()) {
            stop(processes.pop(), 10);
        }
    }

    /** Unmounts every mount point at or below {@code under} (deepest first), as containerd may leave some. */
    static List<String> unmountBelow(Path under) {
        var left = new ArrayList<String>();
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
                String mp = line.split(" ")[4].replace("\\040", " ");
                if (mp.equals(under.toString()) || mp.startsWith(under + "/")) {
                    left.add(mp);
                }
            }
        } catch (IOException e) {
            return left;
        }
        left.sort((a, b) -> b.length() - a.length());
        for (String mp : left) {
            run(List.of("umount", "-l", mp));
        }
        return left;
    }

    /** Removes a tree with {@code rm -rf --one-file-system} (overlay dirs, device-node whiteouts and all). */
    static void removeTree(Path p) {
        unmountBelow(p);
        run(List.of("rm", "-rf", "--one-file-system", p.toString()));
    }

    static String run(List<String> command) {
        try {
            Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            p.waitFor();
            return out.trim();
        } catch (IOException e) {
            return "";
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "";
        }
    }

    @Override
    public void close() {
        stopAll();
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException shuttingDown) {
            // the hook runs anyway
        }
        List<String> mounts = unmountBelow(dir);
        if (!mounts.isEmpty()) {
            System.err.println("bench: unmounted leftovers: " + mounts);
        }
        if (!keep) {
            removeTree(dir);
        }
    }
}
