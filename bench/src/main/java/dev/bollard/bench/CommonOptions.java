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

    @Option(names = "--bollard-log-level", defaultValue = "info", description = "Bollard's log level (default: info).")
    String bollardLogLevel;

    java.util.List<DaemonUnderTest> daemons() {
        return runtimes.stream().map(r -> switch (r) {
            case "bollard" -> (DaemonUnderTest) new BollardDaemon(
                    (bollardCheckout != null ? bollardCheckout : checkout).toAbsolutePath(), bollardLogLevel);
            case "containerd" -> new ContainerdDaemon();
            default -> throw new IllegalArgumentException("unknown runtime " + r + " (bollard, containerd)");
        }).toList();
    }
}
