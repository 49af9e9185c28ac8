package dev.bollard.bench;

import picocli.CommandLine.Option;

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

    @Option(names = "--runtimes", split = ",", defaultValue = "bollard,containerd",
            description = "Which runtimes, in the order each round runs them (default: ${DEFAULT-VALUE}).")
    java.util.List<String> runtimes;

    @Option(names = "--only", description = "Measure one runtime only: bollard or containerd (overrides --runtimes).")
    String only;

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

    java.util.List<String> runtimeNames() {
        return only != null ? java.util.List.of(only) : runtimes;
    }

    java.util.List<DaemonUnderTest> daemons() {
        return runtimeNames().stream().map(r -> switch (r) {
            case "bollard" -> (DaemonUnderTest) new BollardDaemon(bollardHome(),
                    bollardClasspath == null ? null : bollardCommand(), bollardLogLevel);
            case "containerd" -> new ContainerdDaemon();
            default -> throw new IllegalArgumentException("unknown runtime " + r + " (bollard, containerd)");
        }).toList();
    }
}
