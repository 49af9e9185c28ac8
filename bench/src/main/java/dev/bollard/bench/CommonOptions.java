package dev.bollard.bench;

import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;

/** Options every workload takes. */
final class CommonOptions {

    @Option(names = "--checkout", required = true, description = "The Bollard checkout (bin/bollard is run from it).")
    Path checkout;

    @Option(names = "--bollard-checkout",
            description = "A built Bollard checkout to measure instead of --checkout (e.g. a clean build of a commit).")
    Path bollardCheckout;

    @Option(names = "--work-dir", required = true,
            description = "Temporary directory for registries, daemons and their roots; deleted at the end.")
    Path workDir;

    @Option(names = "--results-dir", required = true, description = "Where the JSON result is written.")
    Path resultsDir;

    @Option(names = "--cache-dir", required = true, description = "Where generated inputs are cached between runs.")
    Path cacheDir;

    @Option(names = "--keep", description = "Keep the work directory (logs, roots) for inspection.")
    boolean keep;

    @Option(names = "--runtimes", split = ",", defaultValue = "bollard,containerd,containerd21",
            description = "Which runtimes, in the order each round runs them: bollard, containerd (Debian 12's 1.6), "
                    + "containerd21 (Debian sid's 2.1, left out when --containerd21-dir is not given) "
                    + "(default: ${DEFAULT-VALUE}).")
    java.util.List<String> runtimes;

    @Option(names = "--only", description = "Measure one runtime only: bollard, containerd or containerd21 (overrides --runtimes).")
    String only;

    @Option(names = "--containerd21-dir",
            description = "Where bench/fetch-containerd21.sh unpacked Debian sid's containerd 2.1 (usr/bin/containerd "
                    + "below it); bench/run.sh passes it. Without it the bench runs with containerd 1.6 alone.")
    Path containerd21Dir;

    @Option(names = "--bollard-log-level", defaultValue = "info", description = "Bollard's log level (default: info).")
    String bollardLogLevel;

    @Option(names = "--bollard-classpath", hidden = true,
            description = "Run Bollard as `java -cp <this> dev.bollard.cli.Main` instead of the checkout's bin/bollard "
                    + "(the smoke test: the code under test, without packaging).")
    String bollardClasspath;

    /** The checkout whose Bollard is measured. */
    Path bollardHome() {
        return (bollardCheckout != null ? bollardCheckout : checkout).toAbsolutePath();
    }

    /** The {@code bollard} command: the checkout's bin/bollard, or this JVM's java on {@code --bollard-classpath}. */
    java.util.List<String> bollardCommand() {
        if (bollardClasspath == null) {
            return java.util.List.of(bollardHome().resolve("bin/bollard").toString());
        }
        return java.util.List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow", "-XX:+UseSerialGC",
                "-cp", bollardClasspath, "dev.bollard.cli.Main");
    }

    @Option(names = "--bollard-variant", paramLabel = "NAME=FLAGS",
            description = "Measure Bollard once per variant instead of once: NAME=FLAGS runs it as Bollard-NAME with "
                    + "FLAGS in BOLLARD_JAVA_OPTS (bin/bollard appends them to its own); a word VAR=value in FLAGS "
                    + "is set in the environment instead (e.g. BOLLARD_ARCHIVE=cds, MALLOC_ARENA_MAX=2), except "
                    + "BOLLARD_CHECKOUT=DIR, which runs that built checkout (before/after in one run). Repeatable; "
                    + "variants alternate like runtimes.")
    java.util.List<String> bollardVariants = new java.util.ArrayList<>();

    @Option(names = "--bollard-pods-per-shim", paramLabel = "N[,N...]", split = ",",
            description = "Measure Bollard once per value, as Bollard-ppsN, with [runtimes.runc] pods_per_shim = N "
                    + "(pods of a namespace share a shim, N at most each); e.g. 1,10,100. With --bollard-variant, "
                    + "each variant once per value.")
    java.util.List<Integer> podsPerShim = new java.util.ArrayList<>();

    java.util.List<String> runtimeNames() {
        return only != null ? java.util.List.of(only) : runtimes;
    }

    private boolean warnedNo21;

    java.util.List<DaemonUnderTest> daemons() {
        var out = new java.util.ArrayList<DaemonUnderTest>();
        for (String r : runtimeNames()) {
            switch (r) {
                case "bollard" -> {
                    var command = bollardClasspath == null ? null : bollardCommand();
                    var perShim = podsPerShim.isEmpty() ? java.util.List.of(0) : podsPerShim;
                    if (bollardVariants.isEmpty()) {
                        for (int n : perShim) {
                            out.add(new BollardDaemon(bollardHome(), command, bollardLogLevel,
                                    n > 0 ? "pps" + n : null, java.util.Map.of(), n));
                        }
                    }
                    for (String v : bollardVariants) {
                        int eq = v.indexOf('=');
                        if (eq <= 0) {
                            throw new IllegalArgumentException("--bollard-variant " + v + ": expected NAME=FLAGS");
                        }
                        var env = new java.util.LinkedHashMap<String, String>();
                        var flags = new java.util.ArrayList<String>();
                        for (String w : v.substring(eq + 1).trim().split("\\s+")) {
                            if (w.matches("[A-Z_][A-Z0-9_]*=.*")) {
                                env.put(w.substring(0, w.indexOf('=')), w.substring(w.indexOf('=') + 1));
                            } else if (!w.isEmpty()) {
                                flags.add(w);
                            }
                        }
                        env.put("BOLLARD_JAVA_OPTS", String.join(" ", flags));
                        // BOLLARD_CHECKOUT=<dir>: this variant runs that built checkout (two builds in one run)
                        String own = env.remove("BOLLARD_CHECKOUT");
                        for (int n : perShim) {
                            out.add(new BollardDaemon(own != null ? Path.of(own) : bollardHome(), command,
                                    bollardLogLevel, v.substring(0, eq) + (n > 0 ? "-pps" + n : ""), env, n));
                        }
                    }
                }
                case ContainerdDaemon.V16 -> out.add(ContainerdDaemon.debian12());
                case ContainerdDaemon.V21 -> {
                    if (containerd21Dir != null && Files.isExecutable(containerd21Dir.resolve("usr/bin/containerd"))) {
                        out.add(ContainerdDaemon.sid(containerd21Dir));
                    } else if (!warnedNo21) {
                        warnedNo21 = true;
                        System.out.println("containerd 2.1: not available (bench/fetch-containerd21.sh could not fetch "
                                + "Debian sid's package); this run compares with containerd 1.6 alone");
                    }
                }
                default -> throw new IllegalArgumentException("unknown runtime " + r
                        + " (bollard, containerd, containerd21)");
            }
        }
        return out;
    }
}
