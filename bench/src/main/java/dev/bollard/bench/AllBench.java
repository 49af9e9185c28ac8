package dev.bollard.bench;

import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * Every workload with its defaults, one after the other in this JVM (each in a directory of its own below the work
 * directory, each writing its own JSON), then one table over all of them and the charts ({@link Summary}). The
 * defaults fit a full run into about 12 minutes on a 2-core machine; {@code --smoke} runs each with tiny numbers.
 */
@Command(name = "all", mixinStandardHelpOptions = true,
        description = "Every workload (pull, pods, cri, daemon, cold) with its defaults, then one table and the PNG charts.")
final class AllBench implements Callable<Integer> {

    @Mixin
    CommonOptions common;

    @Option(names = "--skip", split = ",", defaultValue = "",
            description = "Workloads to leave out: pull, pods, cri, daemon, cold.")
    List<String> skip;

    @Option(names = "--smoke", description = "Tiny numbers everywhere: checks that every workload works, measures nothing.")
    boolean smoke;

    @Option(names = "--pull-rounds", defaultValue = "3", description = "pull: rounds (default: ${DEFAULT-VALUE}).")
    int pullRounds;

    @Option(names = "--cycles", defaultValue = "100", description = "pods: lifecycle cycles per runtime (default: ${DEFAULT-VALUE}).")
    int cycles;

    @Option(names = "--pods", defaultValue = "100", description = "pods: density pods; cri: pods present (default: ${DEFAULT-VALUE}).")
    int pods;

    @Option(names = "--duration", defaultValue = "20", description = "cri: measured seconds per call and runtime (default: ${DEFAULT-VALUE}).")
    double duration;

    @Option(names = "--stats-containers", defaultValue = "200",
            description = "cri: containers for ListContainerStats' cost (default: ${DEFAULT-VALUE}).")
    int statsContainers;

    @Option(names = "--daemon-rounds", defaultValue = "5", description = "daemon: starts per runtime (default: ${DEFAULT-VALUE}).")
    int daemonRounds;

    @Option(names = "--cold-rounds", defaultValue = "2",
            description = "cold: fresh starts per runtime, each followed by the cold sequence (default: ${DEFAULT-VALUE}).")
    int coldRounds;

    @Override
    public Integer call() throws Exception {
        Instant start = Instant.now();
        var files = new ArrayList<Path>();
        var codes = new LinkedHashMap<String, Object>();
        var seconds = new LinkedHashMap<String, Object>();
        for (String w : List.of("pull", "pods", "cri", "daemon", "cold")) {
            if (skip.contains(w)) {
                continue;
            }
            var args = new ArrayList<>(commonArgs(w));
            Callable<Integer> workload;
            switch (w) {
                case "pull" -> {
                    workload = new PullBench();
                    args.addAll(smoke ? List.of("--rounds", "1", "--layers", "1", "--layer-mib", "1", "--settle-ms", "200")
                            : List.of("--rounds", Integer.toString(pullRounds)));
                }
                case "pods" -> {
                    workload = new PodsBench();
                    args.addAll(smoke ? List.of("--cycles", "1", "--warmup", "0", "--pods", "2", "--settle-ms", "200")
                            : List.of("--cycles", Integer.toString(cycles), "--pods", Integer.toString(pods)));
                }
                case "cri" -> {
                    workload = new CriCallsBench();
                    args.addAll(smoke ? List.of("--pods", "2", "--clients", "2", "--duration", "0.5", "--warmup-seconds", "0.2", "--rewarm-seconds", "0.1",
                            "--stats-containers", "3", "--stats-seconds", "0.5", "--stats-paced-seconds", "1")
                            : List.of("--pods", Integer.toString(pods), "--duration", Double.toString(duration),
                            "--stats-containers", Integer.toString(statsContainers)));
                }
                case "cold" -> {
                    workload = new ColdBench();
                    args.addAll(smoke ? List.of("--pod-cycles", "2", "--container-cycles", "2", "--first-calls", "2",
                            "--settle-ms", "200")
                            : List.of("--rounds", Integer.toString(coldRounds)));
                }
                default -> {
                    workload = new DaemonBench();
                    args.addAll(smoke ? List.of("--rounds", "1", "--settle-ms", "200")
                            : List.of("--rounds", Integer.toString(daemonRounds)));
                }
            }
            System.out.println();
            System.out.println("==== " + w + " ====");
            long t0 = System.nanoTime();
            int code = new CommandLine(workload).setOverwrittenOptionsAllowed(true).execute(args.toArray(String[]::new));
            seconds.put(w, Math.round((System.nanoTime() - t0) / 1e8) / 10.0);
            codes.put(w, code);
            Path result = switch (workload) {
                case PullBench p -> p.resultFile;
                case PodsBench p -> p.resultFile;
                case CriCallsBench c -> c.resultFile;
                case DaemonBench d -> d.resultFile;
                case ColdBench c -> c.resultFile;
                default -> null;
            };
            if (result != null) {
                files.add(result);
            }
        }
        System.out.println();
        System.out.println("==== all ====");
        var extra = new LinkedHashMap<String, Object>();
        extra.put("smoke", smoke);
        extra.put("exitCodes", codes);
        extra.put("seconds", seconds);
        extra.put("totalSeconds", Math.round((Instant.now().toEpochMilli() - start.toEpochMilli()) / 100.0) / 10.0);
        Summary.write(files, resultsDir(), start, extra, System.out);
        System.out.printf("all: %.0f s; exit codes %s%n", (Instant.now().toEpochMilli() - start.toEpochMilli()) / 1e3, codes);
        return codes.values().stream().allMatch(c -> (int) c == 0) ? 0 : 1;
    }

    /** Where this run's results go: a smoke run's numbers mean nothing, so they stay out of the committed ones. */
    private Path resultsDir() {
        return smoke ? common.resultsDir.resolve("smoke") : common.resultsDir;
    }

    /** The common options again, with a work directory of the workload's own (each removes its own at the end). */
    private List<String> commonArgs(String workload) {
        var a = new ArrayList<>(List.of("--checkout", common.checkout.toString(),
                "--work-dir", common.workDir.resolve(workload).toString(),
                "--results-dir", resultsDir().toString(), "--cache-dir", common.cacheDir.toString(),
                "--runtimes", String.join(",", common.runtimes), "--bollard-log-level", common.bollardLogLevel));
        if (common.containerd21Dir != null) {
            a.addAll(List.of("--containerd21-dir", common.containerd21Dir.toString()));
        }
        if (common.bollardCheckout != null) {
            a.addAll(List.of("--bollard-checkout", common.bollardCheckout.toString()));
        }
        if (common.only != null) {
            a.addAll(List.of("--only", common.only));
        }
        if (common.bollardClasspath != null) {
            a.addAll(List.of("--bollard-classpath", common.bollardClasspath));
        }
        if (common.keep) {
            a.add("--keep");
        }
        return a;
    }
}
