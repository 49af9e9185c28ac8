package dev.bollard.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.List;
import java.util.Map;

/**
 * Bollard as {@code bin/bollard daemon} runs it (its JVM flags, its class data sharing archive), from a copy of
 * the checkout's build made at the start ({@code bin/bollard}, {@code cli/target/bollard.jar}, an older build's
 * {@code lib/}), so that a rebuild in the checkout during the run changes nothing.
 */
final class BollardDaemon implements DaemonUnderTest {

    private final Path checkout;
    /** When set, the command that runs {@code bollard} instead of the checkout's bin/bollard (the smoke test's). */
    private final List<String> command;
    private final String logLevel;
    /** A --bollard-variant's name (null: plain Bollard) and its environment (BOLLARD_JAVA_OPTS, ...). */
    private final String variant;
    private final Map<String, String> env;
    /** [runtimes.runc] pods_per_shim; 0: not set (the default, a shim per pod). */
    private final int podsPerShim;
    private Path dist;

    BollardDaemon(Path checkout, List<String> command, String logLevel, String variant, Map<String, String> env) {
        this(checkout, command, logLevel, variant, env, 0);
    }

    BollardDaemon(Path checkout, List<String> command, String logLevel, String variant, Map<String, String> env,
                  int podsPerShim) {
        this.checkout = checkout;
        this.command = command;
        this.logLevel = logLevel;
        this.variant = variant;
        this.env = Map.copyOf(env);
        this.podsPerShim = podsPerShim;
    }

    /** The same Bollard with {@code opts} added to its JVM flags (BOLLARD_JAVA_OPTS). */
    BollardDaemon withJavaOpts(String opts) {
        var merged = new java.util.LinkedHashMap<>(env);
        merged.merge("BOLLARD_JAVA_OPTS", opts, (old, added) -> old + " " + added);
        return new BollardDaemon(checkout, command, logLevel, variant, merged, podsPerShim);
    }

    int podsPerShim() {
        return podsPerShim;
    }

    Map<String, String> env() {
        return env;
    }

    @Override
    public String name() {
        return variant == null ? "Bollard" : "Bollard-" + variant;
    }

    @Override
    public String version() {
        String head = Workspace.run(List.of("git", "-C", checkout.toString(), "rev-parse", "--short", "HEAD"));
        String dirty = Workspace.run(List.of("git", "-C", checkout.toString(), "status", "--porcelain", "--",
                "api", "daemon", "cli", "bin"));
        if (head.isEmpty() || head.contains("fatal")) {
            return "bollard built in " + checkout;
        }
        return "bollard " + head + (dirty.isEmpty() ? "" : " (with uncommitted changes in api/daemon/cli/bin)")
                + (env.isEmpty() ? "" : " " + env);
    }

    @Override
    public void prepare(Workspace ws, Path certsD) throws IOException, InterruptedException {
        if (command != null) {
            return;
        }
        Path jar = checkout.resolve("cli/target/bollard.jar");
        if (!Files.isRegularFile(jar)) {
            throw new IOException(jar + " is missing: build the checkout first");
        }
        // a copy per variant: each keeps the archives its own flags made
        dist = ws.path(name().toLowerCase() + "-dist");
        Files.createDirectories(dist.resolve("bin"));
        Files.createDirectories(dist.resolve("cli/target"));
        Files.copy(checkout.resolve("bin/bollard"), dist.resolve("bin/bollard"), StandardCopyOption.COPY_ATTRIBUTES);
        Files.copy(jar, dist.resolve("cli/target/bollard.jar"), StandardCopyOption.COPY_ATTRIBUTES);
        // a build from before the one jar names its libraries in lib/ (its jar's Class-Path)
        Path lib = checkout.resolve("cli/target/lib");
        if (Files.isDirectory(lib)) {
            Files.createDirectories(dist.resolve("cli/target/lib"));
            try (var libs = Files.list(lib)) {
                for (Path l : (Iterable<Path>) libs::iterator) {
                    Files.copy(l, dist.resolve("cli/target/lib").resolve(l.getFileName()),
                            StandardCopyOption.COPY_ATTRIBUTES);
                }
            }
        }
        aotCache(ws);
        // one unmeasured start and stop: bin/bollard's JVM writes its AOT cache (or CDS archive) at exit, as on a
        // node's first start; assembling a cache takes a while on a busy machine, so the stop waits for it
        Running r = start(ws, ws.path(name().toLowerCase() + "-prime"), certsD, null);
        long t0 = System.nanoTime();
        Workspace.stop(r.process(), 300);
        System.out.printf("%s: first start and stop (archives made at exit) took %.1f s to stop%n", name(),
                (System.nanoTime() - t0) / 1e9);
        Workspace.removeTree(r.dir());
    }

    /**
     * The daemon's AOT cache trained at build time ({@code scripts/aot-train.sh}), which bin/bollard starts from
     * while it is newer than the jars: copied with its time when the checkout has one, else trained here for the
     * copy (about a minute) when the checkout can train one and this variant would use it. A checkout from before
     * the cache has neither, and runs as it always did.
     */
    private void aotCache(Workspace ws) throws IOException, InterruptedException {
        Path cache = checkout.resolve("cli/target/bollard-daemon.aot");
        String archive = env.getOrDefault("BOLLARD_ARCHIVE", "auto");
        if (!archive.equals("auto") && !archive.equals("aot")) {
            return;
        }
        if (Files.isRegularFile(cache)) {
            Files.copy(cache, dist.resolve("cli/target/bollard-daemon.aot"), StandardCopyOption.COPY_ATTRIBUTES);
            System.out.printf("%s: AOT cache from %s%n", name(), cache);
            return;
        }
        Path train = checkout.resolve("scripts/aot-train.sh");
        if (Files.isExecutable(train)) {
            long t0 = System.nanoTime();
            Path log = ws.path(name().toLowerCase() + "-aot-train.log");
            Process p = ws.start(List.of(train.toString(), dist.toString()), log, Map.of());
            p.waitFor();
            boolean made = Files.isRegularFile(dist.resolve("cli/target/bollard-daemon.aot"));
            System.out.printf("%s: AOT cache %s in %.1f s (%s)%n", name(), made ? "trained" : "NOT trained",
                    (System.nanoTime() - t0) / 1e9, made ? "scripts/aot-train.sh" : Files.readString(log).strip());
        }
    }

    @Override
    public Running start(Workspace ws, Path dir, Path certsD, PodSetup pods) throws IOException, InterruptedException {
        Files.createDirectories(dir);
        Path config = dir.resolve("bollard.toml");
        // without pods, an empty CNI directory of its own: never the node's /etc/cni/net.d, never a default written
        Path cniConf = pods == null ? Files.createDirectories(dir.resolve("cni-conf")) : pods.cniConfDir();
        // a workload's own plugins (the soak's failing wrapper) in <conf>/../bin, found before the node's
        Path ownBin = pods == null ? null : pods.cniConfDir().resolveSibling("bin");
        String binDirs = ownBin != null && Files.isDirectory(ownBin) ? ownBin + ":" + CNI_BIN_DIR : CNI_BIN_DIR.toString();
        Files.writeString(config, """
                [daemon]
                log_level = %s

                [registry]
                config_path = %s

                [cni]
                conf_dir = %s
                bin_dirs = %s
                write_default_config = false
                %s""".formatted(DaemonUnderTest.toml(logLevel), DaemonUnderTest.toml(certsD),
                DaemonUnderTest.toml(cniConf), DaemonUnderTest.toml(binDirs),
                (pods == null ? "" : "\n[runtime]\nsandbox_image = " + DaemonUnderTest.toml(pods.sandboxImage()) + "\n")
                        + (podsPerShim > 0 ? "\n[runtimes.runc]\npods_per_shim = " + podsPerShim + "\n" : "")));
        Path socket = dir.resolve("bollard.sock");
        Path log = dir.resolve("bollard.log");
        var cmd = new java.util.ArrayList<>(command != null ? command
                : List.of((dist != null ? dist : checkout).resolve("bin/bollard").toString()));
        cmd.addAll(List.of("daemon", "--socket", socket.toString(), "--root", dir.resolve("root").toString(),
                "--state", dir.resolve("state").toString(), "--config", config.toString()));
        Process p = ws.start(cmd, log, env);
        try {
            String v = DaemonUnderTest.awaitCri(p, socket, log, Duration.ofSeconds(60));
            return new Running(name(), p, dir, socket, log, v);
        } catch (IOException | RuntimeException e) {
            Workspace.stop(p, 10);
            throw new IOException("bollard daemon: " + e.getMessage(), e);
        }
    }
}
