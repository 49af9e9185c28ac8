package dev.bollard.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A real {@code bollard daemon} process for tests, started with this JVM's classpath (so it runs the code under
 * test, not an installed build) on its own temporary socket, root and state.
 */
final class DaemonProcess implements AutoCloseable {

    final Path dir;
    final Path socket;
    final Path root;
    final Path state;
    final Path log;
    /** Null for a daemon running in this JVM ({@link #startInProcess}). */
    final Process process;
    /** The daemon in this JVM, for tests that reach inside it (the streaming backend); null for a child process. */
    final dev.bollard.daemon.server.Daemon inProcess;
    private volatile boolean inProcessStopped;

    private DaemonProcess(Path dir, Path socket, Path root, Path state, Path log, Process process,
                          dev.bollard.daemon.server.Daemon inProcess) {
        this.dir = dir;
        this.socket = socket;
        this.root = root;
        this.state = state;
        this.log = log;
        this.process = process;
        this.inProcess = inProcess;
    }

    /**
     * A daemon in this JVM on the same layout as {@link #start}: for tests of what the CRI cannot reach (the
     * streaming backend before a streaming server serves it). Its log goes to this JVM's output.
     */
    static DaemonProcess startInProcess(Path dir) throws Exception {
        daemonArgs(dir); // the same isolated CNI configuration
        Path socket = dir.resolve("run/bollard.sock");
        Path root = dir.resolve("root");
        Path state = dir.resolve("state");
        var d = dev.bollard.daemon.server.Daemon.start(new dev.bollard.daemon.server.Daemon.Options(
                dir.resolve("bollard.toml"), socket, root, state, dev.bollard.daemon.config.BollardConfig.LogLevel.INFO));
        return new DaemonProcess(dir, socket, root, state, dir.resolve("daemon.log"), null, d);
    }

    boolean isAlive() {
        return inProcess != null ? !inProcessStopped : process.isAlive();
    }

    static List<String> command(String... args) {
        return command(List.of(), args);
    }

    /** The command with extra JVM options (e.g. {@code -Dbollard.crashpoint=…}) before the main class. */
    static List<String> command(List<String> jvmOptions, String... args) {
        var cmd = new ArrayList<String>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.addAll(jvmOptions);
        cmd.addAll(List.of("--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow",
                "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-cp", System.getProperty("java.class.path"),
                Main.class.getName()));
        cmd.addAll(List.of(args));
        return cmd;
    }

    /** Runs a command to completion: exit code, stdout and stderr. */
    record Result(int exit, String out, String err) {
    }

    static Result run(Path workDir, String... args) throws IOException, InterruptedException {
        Path out = Files.createTempFile(workDir, "out", ".txt");
        Path err = Files.createTempFile(workDir, "err", ".txt");
        var p = new ProcessBuilder(command(args)).redirectOutput(out.toFile()).redirectError(err.toFile()).start();
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("bollard " + String.join(" ", args) + " did not finish");
        }
        var r = new Result(p.exitValue(), Files.readString(out), Files.readString(err));
        Files.delete(out);
        Files.delete(err);
        return r;
    }

    /** {@code daemon} with the socket, root, state and config under {@code dir} (its CNI configuration isolated). */
    static List<String> daemonArgs(Path dir) throws IOException {
        LeakCheckExtension.track(dir);
        isolateCni(dir.resolve("bollard.toml"));
        return new ArrayList<>(List.of("daemon", "--socket", dir.resolve("run/bollard.sock").toString(),
                "--root", dir.resolve("root").toString(), "--state", dir.resolve("state").toString(),
                "--config", dir.resolve("bollard.toml").toString()));
    }

    /** Starts a daemon under {@code dir} and waits until its socket exists, i.e. until it answers. */
    static DaemonProcess start(Path dir, String... extraArgs) throws IOException, InterruptedException {
        return start(dir, List.of(), extraArgs);
    }

    /** {@link #start(Path, String...)} with extra JVM options. */
    static DaemonProcess start(Path dir, List<String> jvmOptions, String... extraArgs)
            throws IOException, InterruptedException {
        Path socket = dir.resolve("run/bollard.sock");
        Path root = dir.resolve("root");
        Path state = dir.resolve("state");
        Path log = dir.resolve("daemon.log");
        var args = daemonArgs(dir);
        args.addAll(List.of(extraArgs));
        var p = new ProcessBuilder(command(jvmOptions, args.toArray(String[]::new)))
                .redirectErrorStream(true).redirectOutput(log.toFile()).start();
        var d = new DaemonProcess(dir, socket, root, state, log, p, null);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        // The socket appearing is the readiness signal; the log line covers a stale socket present from the start.
        while (!Files.exists(socket) || !Files.readString(log).contains("bollard ready")) {
            if (!p.isAlive()) {
                throw new AssertionError("daemon exited " + p.exitValue() + ": " + Files.readString(log));
            }
            if (System.nanoTime() > deadline) {
                p.destroyForcibly();
                throw new AssertionError("daemon did not create its socket: " + Files.readString(log));
            }
            Thread.sleep(20);
        }
        return d;
    }

    /**
     * Keeps a test daemon out of the node's /etc/cni/net.d: unless the test configures [cni] itself, the daemon reads
     * an empty configuration directory of its own and writes no default there.
     */
    static void isolateCni(Path config) throws IOException {
        String text = Files.exists(config) ? Files.readString(config) : "";
        if (!text.contains("[cni]")) {
            Files.writeString(config, text + "\n[cni]\nconf_dir = \"" + config.resolveSibling("cni-conf")
                    + "\"\nwrite_default_config = false\n");
        }
    }

    String endpoint() {
        return "unix://" + socket;
    }

    /** SIGTERM, then the exit code. */
    int stop() throws InterruptedException {
        if (inProcess != null) {
            inProcess.close();
            inProcessStopped = true;
            return 143; // what SIGTERM gives a child daemon: the same orderly shutdown
        }
        process.destroy();
        if (!process.waitFor(30, TimeUnit.SECONDS)) {
            process.destroyForcibly().waitFor();
            throw new AssertionError("daemon ignored SIGTERM");
        }
        return process.exitValue();
    }

    String logText() throws IOException {
        return Files.readString(log);
    }

    @Override
    public void close() throws Exception {
        if (isAlive()) {
            stop();
        }
        LeakCheckExtension.daemonClosed(dir);
    }
}
