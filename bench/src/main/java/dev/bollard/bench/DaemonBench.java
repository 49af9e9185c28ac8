package dev.bollard.bench;

import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.function.ToDoubleFunction;

/**
 * The daemon workload: each round starts every runtime on an empty root (runtimes alternating) and measures the
 * time from starting the process to its first answer to CRI {@code Version} (the client polls the socket every
 * 5 ms), the CPU it used until then, its RSS at that moment and after {@code --settle-ms} idle (and PSS, threads),
 * and how long SIGTERM takes to end it. Bollard runs through bin/bollard with its JVM flags and archives, as a node
 * runs it; one unmeasured start before the rounds creates those archives, as a node's first start would.
 */
@Command(name = "daemon", mixinStandardHelpOptions = true,
        description = "Daemon start-up: time to the first Version answer, idle RSS; Bollard and containerd alternating.")
final class DaemonBench implements Callable<Integer> {

    @Mixin
    CommonOptions common;

    @Option(names = "--rounds", defaultValue = "5", description = "Starts per runtime (default: ${DEFAULT-VALUE}).")
    int rounds;

    @Option(names = "--settle-ms", defaultValue = "3000",
            description = "Idle time after the first answer before the idle RSS is read (default: ${DEFAULT-VALUE}).")
    long settleMs;

    /** The JSON written by the last run (for {@code all}). */
    Path resultFile;

    /** One start. Milliseconds, seconds, bytes. */
    record Start(String runtime, int round, boolean ok, String error, double readyMillis, double cpuToReadySeconds,
                 long rssReady, long rssIdle, long pssIdle, int threadsIdle, double stopMillis) {
    }

    @Override
    public Integer call() throws Exception {
        List<DaemonUnderTest> daemons = common.daemons();
        var names = daemons.stream().map(DaemonUnderTest::name).toList();
        var starts = new ArrayList<Start>();
        try (var ws = new Workspace(common.workDir, common.keep)) {
            Path certsD = Files.createDirectories(ws.path("certs.d"));
            for (DaemonUnderTest d : daemons) {
                d.prepare(ws, certsD);
            }
            for (int r = 1; r <= rounds; r++) {
                // alternate who starts first, so neither always follows the other's shutdown
                var order = new ArrayList<>(daemons);
                if (r % 2 == 0) {
                    java.util.Collections.reverse(order);
                }
                for (DaemonUnderTest d : order) {
                    var s = start(ws, d, r, certsD);
                    starts.add(s);
                    System.out.println(s.ok()
                            ? "round %d %-10s Version after %6.0f ms (CPU %.2f s)  RSS %5.1f MB ready, %5.1f MB idle  stop %4.0f ms"
                            .formatted(r, d.name(), s.readyMillis(), s.cpuToReadySeconds(), s.rssReady() / 1e6,
                                    s.rssIdle() / 1e6, s.stopMillis())
                            : "round %d %-10s FAILED: %s".formatted(r, d.name(), s.error()));
                }
            }
        }
        record M(String label, String format, ToDoubleFunction<Start> f) {
        }
        var rows = new ArrayList<Report.Row>();
        for (M m : List.of(
                new M("start to first Version answer (ms)", "%.0f", Start::readyMillis),
                new M("CPU until then (s)", "%.2f", Start::cpuToReadySeconds),
                new M("RSS at first answer (MB)", "%.1f", s -> s.rssReady() / 1e6),
                new M("RSS idle after start (MB)", "%.1f", s -> s.rssIdle() / 1e6),
                new M("PSS idle after start (MB)", "%.1f", s -> s.pssIdle() / 1e6),
                new M("threads idle", "%.0f", Start::threadsIdle),
                new M("SIGTERM to exit (ms)", "%.0f", Start::stopMillis))) {
            var vals = new LinkedHashMap<String, Double>();
            for (String n : names) {
                vals.put(n, Report.median(starts.stream().filter(s -> s.ok() && s.runtime().equals(n))
                        .map(s -> m.f().applyAsDouble(s)).toList()));
            }
            rows.add(new Report.Row(m.label(), m.format(), vals));
        }
        System.out.println();
        System.out.print(Report.markdown("metric (median of " + rounds + " starts; lower is better)", names, rows));
        var body = new LinkedHashMap<String, Object>();
        var method = new LinkedHashMap<String, Object>();
        method.put("rounds", rounds);
        method.put("order", "alternating; the first runtime of a round alternates too");
        method.put("readiness", "CRI Version answered on the socket, polled every 5 ms from process start");
        method.put("settleMillis", settleMs);
        method.put("root", "empty root, state and socket per start; no CNI configuration (an empty directory)");
        body.put("method", method);
        body.put("table", Report.tableJson(names, rows));
        body.put("starts", starts);
        resultFile = Report.writeJson(common.resultsDir, "daemon", Instant.now(), daemons, body);
        System.out.println("results: " + resultFile);
        return starts.stream().allMatch(Start::ok) ? 0 : 1;
    }

    private Start start(Workspace ws, DaemonUnderTest d, int round, Path certsD) throws InterruptedException {
        Path dir = ws.path(d.name().toLowerCase() + "-start-" + round);
        long t0 = System.nanoTime();
        DaemonUnderTest.Running run;
        try {
            run = d.start(ws, dir, certsD);
        } catch (java.io.IOException e) {
            return new Start(d.name(), round, false, e.getMessage(), 0, 0, 0, 0, 0, 0, 0);
        }
        double ready = (System.nanoTime() - t0) / 1e6;
        try {
            long pid = run.pid();
            double cpu = Proc.cpuTicks(pid) / Proc.TICKS_PER_SECOND;
            long rssReady = Proc.rssBytes(pid);
            Thread.sleep(settleMs);
            long rssIdle = Proc.rssBytes(pid);
            long pssIdle = Proc.pssBytes(pid);
            int threads = Proc.threads(pid);
            long s0 = System.nanoTime();
            run.stop();
            double stop = (System.nanoTime() - s0) / 1e6;
            return new Start(d.name(), round, true, null, ready, cpu, rssReady, rssIdle, pssIdle, threads, stop);
        } finally {
            run.stop();
            if (!common.keep) {
                Workspace.removeTree(dir);
            }
        }
    }
}
