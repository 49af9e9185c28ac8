package dev.bollard.bench;

import dev.bollard.api.cri.v1.ContainerStatusRequest;
import dev.bollard.api.cri.v1.ListContainerStatsRequest;
import dev.bollard.api.cri.v1.ListContainersRequest;
import dev.bollard.api.cri.v1.ListPodSandboxRequest;
import dev.bollard.cli.CriClient;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The CRI call workload: with {@code --pods} pods present (one {@code sleep} container each), each of
 * ListContainers, ListPodSandbox, ContainerStatus (a random one of the containers) and ListContainerStats is called
 * by {@code --clients} concurrent clients (one connection each, closed loop: the next call as soon as the last
 * answered) for {@code --duration} seconds, after {@code --warmup-seconds} of every call unmeasured (the JIT) and
 * {@code --rewarm-seconds} of the same load right before; runtimes
 * alternate per call, the order flipped from one call to the next. Measured: calls per second, latency p50/p90/p99
 * as the client sees it, the daemon's CPU per call.
 * <p>
 * Then the stats cost (issue 8): a second and further {@code sleep} containers are added until
 * {@code --stats-containers} exist, and ListContainerStats is called back to back for {@code --stats-seconds}
 * and once a second (kubelet's pace) for {@code --stats-paced-seconds}; the daemon's own utime + stime
 * ({@code /proc/<pid>/stat}, before/after) divided by calls and containers is the CPU per container. Work the
 * daemon does in the background meanwhile (Bollard's collector samples every cgroup each second) counts too.
 */
@Command(name = "cri", mixinStandardHelpOptions = true,
        description = "CRI call throughput and latency with many pods present, and ListContainerStats' CPU cost per container.")
final class CriCallsBench implements Callable<Integer> {

    @Mixin
    CommonOptions common;

    @Option(names = "--pods", defaultValue = "100", description = "Pods present during the calls (default: ${DEFAULT-VALUE}).")
    int pods;

    @Option(names = "--concurrency", defaultValue = "10",
            description = "Pods started (and torn down) at the same time (default: ${DEFAULT-VALUE}).")
    int concurrency;

    @Option(names = "--clients", defaultValue = "8", description = "Concurrent clients, one connection each (default: ${DEFAULT-VALUE}).")
    int clients;

    @Option(names = "--duration", defaultValue = "20", description = "Measured seconds per call and runtime (default: ${DEFAULT-VALUE}).")
    double duration;

    @Option(names = "--warmup-seconds", defaultValue = "5",
            description = "Unmeasured seconds of each call per runtime before any measurement, so that the JIT has "
                    + "compiled every call's path (default: ${DEFAULT-VALUE}).")
    double warmupSeconds;

    @Option(names = "--settle-ms", defaultValue = "2000",
            description = "Idle time after the calls before each daemon's RSS is read (default: ${DEFAULT-VALUE}).")
    long settleMs;

    @Option(names = "--rewarm-seconds", defaultValue = "1",
            description = "Unmeasured seconds of the same load right before each measurement (default: ${DEFAULT-VALUE}).")
    double rewarmSeconds;

    @Option(names = "--calls", split = ",", defaultValue = "ListContainers,ListPodSandbox,ContainerStatus,ListContainerStats",
            description = "Which calls (default: ${DEFAULT-VALUE}).")
    List<String> calls;

    @Option(names = "--stats-containers", defaultValue = "200",
            description = "Containers present for the ListContainerStats cost (default: ${DEFAULT-VALUE}; 0 skips it).")
    int statsContainers;

    @Option(names = "--stats-seconds", defaultValue = "5",
            description = "Seconds of back-to-back ListContainerStats from one client for the cost (default: ${DEFAULT-VALUE}).")
    double statsSeconds;

    @Option(names = "--stats-paced-seconds", defaultValue = "10",
            description = "Seconds of one ListContainerStats per second, kubelet's pace (default: ${DEFAULT-VALUE}; 0 skips).")
    int statsPacedSeconds;

    @Option(names = "--stop-timeout", defaultValue = "2", description = "StopContainer's grace period at teardown (default: ${DEFAULT-VALUE}).")
    long stopTimeout;

    @Option(names = "--call-timeout", defaultValue = "120", description = "Deadline of each set-up call in seconds (default: ${DEFAULT-VALUE}).")
    int callTimeout;

    /** The JSON written by the last run (for {@code all}). */
    Path resultFile;

    /** One call measured against one runtime. Latencies in milliseconds. */
    record CallResult(String call, String runtime, int clients, double seconds, long calls, long errors,
                      String firstError, double callsPerSecond, double p10, double p50, double p90, double p99,
                      double max, double daemonCpuSeconds, double daemonCpuMicrosPerCall) {
    }

    /** The ListContainerStats cost against one runtime. */
    record StatsCost(String runtime, String mode, int containersReported, long calls, double seconds,
                     double daemonCpuSeconds, double cpuMillisPerCall, double cpuMicrosPerContainer,
                     double p50Millis) {
    }

    private PodRig rig;
    /** Each daemon's RSS in bytes, --settle-ms after the last measured call. */
    private final Map<String, Double> rssAfterCalls = new LinkedHashMap<>();

    @Override
    public Integer call() throws Exception {
        List<DaemonUnderTest> daemons = common.daemons();
        var names = daemons.stream().map(DaemonUnderTest::name).toList();
        var results = new ArrayList<CallResult>();
        var costs = new ArrayList<StatsCost>();
        var containers = new LinkedHashMap<String, List<String>>();
        String error = null;
        boolean cleanOk;
        rig = new PodRig(common, callTimeout, "");
        var started = new LinkedHashMap<String, PodRig.Started>();
        try (var ws = new Workspace(common.workDir, common.keep)) {
            try {
                rig.open(ws, daemons);
                for (String n : names) {
                    long t0 = System.nanoTime();
                    var s = rig.startPods(n, "cri-", pods, concurrency);
                    started.put(n, s);
                    if (s.error() != null) {
                        throw new IOException(n + ": starting " + pods + " pods: " + s.error());
                    }
                    containers.put(n, new ArrayList<>(s.containers().values()));
                    System.out.printf("%-10s %d pods running after %.1f s%n", n, pods, (System.nanoTime() - t0) / 1e9);
                }
                // a JVM compiles a call's path only after many calls (C2 takes tens of seconds on 2 busy cores):
                // warm every call up first, or the first call measured would pay for the JIT
                for (String call : calls) {
                    for (String n : names) {
                        measure(call, n, containers.get(n), warmupSeconds);
                    }
                }
                for (int i = 0; i < calls.size(); i++) {
                    String call = calls.get(i);
                    var order = new ArrayList<>(names);
                    if (i % 2 == 1) {
                        java.util.Collections.reverse(order);
                    }
                    for (String n : order) {
                        measure(call, n, containers.get(n), rewarmSeconds);
                        var r = measure(call, n, containers.get(n), duration);
                        results.add(r);
                        System.out.printf("%-18s %-10s %8.0f calls/s  p50 %6.2f ms  p99 %7.2f ms  CPU %5.0f µs/call%s%n",
                                call, n, r.callsPerSecond(), r.p50(), r.p99(), r.daemonCpuMicrosPerCall(),
                                r.errors() == 0 ? "" : "  " + r.errors() + " errors: " + r.firstError());
                    }
                }
                // what the burst of calls left behind: read once every daemon has been idle for --settle-ms
                Thread.sleep(settleMs);
                for (String n : names) {
                    rssAfterCalls.put(n, (double) Proc.rssBytes(rig.run(n).pid()));
                }
                System.out.println("daemon RSS " + settleMs + " ms after the calls (MB): " + rssAfterCalls.entrySet()
                        .stream().map(e -> e.getKey() + " " + String.format("%.1f", e.getValue() / 1e6)).toList());
                if (statsContainers > 0) {
                    for (String n : names) {
                        addContainers(n, started.get(n), containers.get(n));
                    }
                    for (String n : names) {
                        costs.add(statsBackToBack(n));
                        System.out.println(costs.getLast());
                    }
                    if (statsPacedSeconds > 0) {
                        for (String n : names) {
                            costs.add(statsPaced(n));
                            System.out.println(costs.getLast());
                        }
                    }
                }
                for (String n : names) {
                    var s = started.get(n);
                    var retried = new ArrayList<String>();
                    String e = rig.tearDownPods(n, s.podIds(), Map.of(), concurrency, stopTimeout, retried);
                    if (e != null) {
                        error = error == null ? n + ": " + e : error;
                    }
                }
                var rows = rows(names, results, costs);
                System.out.println();
                System.out.println("calls/s: higher is better (ratio > 1: " + names.getFirst()
                        + " answered more); every other row: lower is better.");
                System.out.print(Report.markdown("metric (" + clients + " clients, " + pods + " pods)", names, rows));
                var body = new LinkedHashMap<String, Object>();
                var method = new LinkedHashMap<String, Object>();
                method.put("pods", pods);
                method.put("clients", clients + " (one CriClient, i.e. one gRPC channel and connection, each; closed loop)");
                method.put("durationSeconds", duration);
                method.put("warmupSeconds", warmupSeconds + " per call and runtime before any measurement, then "
                        + rewarmSeconds + " right before each");
                method.put("calls", calls);
                method.put("requests", Map.of("ListContainers", "no filter", "ListPodSandbox", "no filter",
                        "ContainerStatus", "a random container of the pods, verbose false",
                        "ListContainerStats", "no filter"));
                method.put("order", "per call, the runtimes alternate; the order flips from one call to the next");
                method.put("statsContainers", statsContainers);
                method.put("rssAfterCalls", "each daemon's RSS " + settleMs + " ms after the last measured call");
                method.put("statsSeconds", statsSeconds);
                method.put("statsPacedSeconds", statsPacedSeconds);
                method.put("daemonCpu", "utime + stime of /proc/<pid>/stat, before and after");
                body.put("method", method);
                body.put("table", Report.tableJson(names, rows));
                body.put("calls", results);
                body.put("statsCost", costs);
                resultFile = Report.writeJson(common.resultsDir, "cri", Instant.now(), daemons, body);
                System.out.println("results: " + resultFile);
            } catch (IOException | RuntimeException e) {
                error = e.toString();
                System.err.println("cri: " + e);
                for (String n : names) {
                    rig.printTail(n);
                }
            } finally {
                cleanOk = rig.tearDown(ws);
            }
        } finally {
            rig.cleanUpHost();
        }
        boolean ok = error == null && cleanOk && results.stream().allMatch(r -> r.errors() == 0 && r.calls() > 0);
        return ok ? 0 : 1;
    }

    /** {@code --clients} threads, each with its own connection, calling {@code call} for {@code seconds}. */
    private CallResult measure(String call, String runtime, List<String> containers, double seconds)
            throws InterruptedException {
        var run = rig.run(runtime);
        var latencies = new long[clients][];
        var counts = new int[clients];
        var errors = new long[clients];
        var firstError = new AtomicReference<String>();
        var threads = new ArrayList<Thread>();
        var connections = new ArrayList<CriClient>();
        for (int i = 0; i < clients; i++) {
            var c = new CriClient(run.endpoint(), 30);
            connections.add(c);
            // connect before the clock starts
            c.runtime(s -> s.version(dev.bollard.api.cri.v1.VersionRequest.newBuilder().setVersion("v1").build()));
        }
        long cpu0 = Proc.cpuTicks(run.pid());
        long t0 = System.nanoTime();
        long end = t0 + (long) (seconds * 1e9);
        for (int i = 0; i < clients; i++) {
            int k = i;
            var c = connections.get(i);
            threads.add(Thread.ofPlatform().name("cri-client-" + i).start(() -> {
                long[] lat = new long[4096];
                int n = 0;
                var rnd = ThreadLocalRandom.current();
                while (System.nanoTime() < end) {
                    long s0 = System.nanoTime();
                    try {
                        invoke(c, call, containers.get(rnd.nextInt(containers.size())));
                    } catch (RuntimeException e) {
                        errors[k]++;
                        firstError.compareAndSet(null, e.getMessage());
                        continue;
                    }
                    if (n == lat.length) {
                        lat = Arrays.copyOf(lat, n * 2);
                    }
                    lat[n++] = System.nanoTime() - s0;
                }
                latencies[k] = lat;
                counts[k] = n;
            }));
        }
        for (Thread t : threads) {
            t.join();
        }
        double elapsed = (System.nanoTime() - t0) / 1e9;
        long cpu = Proc.cpuTicks(run.pid()) - cpu0;
        connections.forEach(CriClient::close);
        int total = Arrays.stream(counts).sum();
        long[] all = new long[total];
        int at = 0;
        for (int i = 0; i < clients; i++) {
            System.arraycopy(latencies[i], 0, all, at, counts[i]);
            at += counts[i];
        }
        Arrays.sort(all);
        long errs = Arrays.stream(errors).sum();
        double cpuSeconds = cpu / Proc.TICKS_PER_SECOND;
        return new CallResult(call, runtime, clients, elapsed, total, errs, firstError.get(), total / elapsed,
                Report.percentileSorted(all, 0.10) / 1e6, Report.percentileSorted(all, 0.50) / 1e6,
                Report.percentileSorted(all, 0.90) / 1e6, Report.percentileSorted(all, 0.99) / 1e6,
                total == 0 ? Double.NaN : all[total - 1] / 1e6, cpuSeconds,
                total == 0 ? Double.NaN : cpuSeconds * 1e6 / total);
    }

    private static int invoke(CriClient c, String call, String container) {
        return switch (call) {
            case "ListContainers" -> c.runtime(s -> s.listContainers(ListContainersRequest.getDefaultInstance()))
                    .getContainersCount();
            case "ListPodSandbox" -> c.runtime(s -> s.listPodSandbox(ListPodSandboxRequest.getDefaultInstance()))
                    .getItemsCount();
            case "ContainerStatus" -> c.runtime(s -> s.containerStatus(ContainerStatusRequest.newBuilder()
                    .setContainerId(container).build())).hasStatus() ? 1 : 0;
            case "ListContainerStats" -> c.runtime(s -> s.listContainerStats(
                    ListContainerStatsRequest.getDefaultInstance())).getStatsCount();
            default -> throw new IllegalArgumentException("unknown call " + call
                    + " (ListContainers, ListPodSandbox, ContainerStatus, ListContainerStats)");
        };
    }

    /** More {@code sleep} containers, round-robin over the pods, until {@code --stats-containers} exist. */
    private void addContainers(String runtime, PodRig.Started s, List<String> containers) throws InterruptedException {
        int missing = statsContainers - containers.size();
        if (missing <= 0) {
            return;
        }
        long t0 = System.nanoTime();
        var added = java.util.Collections.synchronizedList(new ArrayList<String>());
        var gate = new java.util.concurrent.Semaphore(concurrency);
        try (var pool = java.util.concurrent.Executors.newVirtualThreadPerTaskExecutor()) {
            var futures = new ArrayList<java.util.concurrent.Future<?>>();
            for (int i = 0; i < missing; i++) {
                String pod = s.podIds().get(i % s.podIds().size());
                String name = "sleep-" + (2 + i / s.podIds().size());
                futures.add(pool.submit(() -> {
                    gate.acquire();
                    try {
                        added.add(rig.startContainer(runtime, pod, s.configs().get(pod), name));
                    } finally {
                        gate.release();
                    }
                    return null;
                }));
            }
            for (var f : futures) {
                try {
                    f.get();
                } catch (java.util.concurrent.ExecutionException e) {
                    throw new IllegalStateException(runtime + ": adding containers: " + e.getCause().getMessage(), e);
                }
            }
        }
        containers.addAll(added);
        System.out.printf("%-10s %d containers running after adding %d in %.1f s%n", runtime, containers.size(),
                missing, (System.nanoTime() - t0) / 1e9);
    }

    /** ListContainerStats back to back from one client; the daemon's CPU per call and per container. */
    private StatsCost statsBackToBack(String runtime) throws InterruptedException {
        var run = rig.run(runtime);
        try (var c = new CriClient(run.endpoint(), 60)) {
            int n = (int) invoke(c, "ListContainerStats", null);
            // let a sampling collector see every container twice before the clock starts
            Thread.sleep(2500);
            invoke(c, "ListContainerStats", null);
            var lat = new ArrayList<Double>();
            long cpu0 = Proc.cpuTicks(run.pid());
            long t0 = System.nanoTime();
            long end = t0 + (long) (statsSeconds * 1e9);
            while (System.nanoTime() < end) {
                long s0 = System.nanoTime();
                n = invoke(c, "ListContainerStats", null);
                lat.add((System.nanoTime() - s0) / 1e6);
            }
            double seconds = (System.nanoTime() - t0) / 1e9;
            double cpu = (Proc.cpuTicks(run.pid()) - cpu0) / Proc.TICKS_PER_SECOND;
            return new StatsCost(runtime, "back-to-back", n, lat.size(), seconds, cpu, cpu * 1e3 / lat.size(),
                    cpu * 1e6 / lat.size() / Math.max(1, n), Report.percentile(lat, 0.5));
        }
    }

    /** One ListContainerStats a second (kubelet's pace); the daemon's CPU over the window per call and container. */
    private StatsCost statsPaced(String runtime) throws InterruptedException {
        var run = rig.run(runtime);
        try (var c = new CriClient(run.endpoint(), 60)) {
            int n = invoke(c, "ListContainerStats", null);
            Thread.sleep(1000);
            var lat = new ArrayList<Double>();
            long cpu0 = Proc.cpuTicks(run.pid());
            long t0 = System.nanoTime();
            for (int i = 0; i < statsPacedSeconds; i++) {
                long s0 = System.nanoTime();
                n = invoke(c, "ListContainerStats", null);
                lat.add((System.nanoTime() - s0) / 1e6);
                long next = t0 + (i + 1) * 1_000_000_000L;
                long sleep = next - System.nanoTime();
                if (sleep > 0) {
                    Thread.sleep(sleep / 1_000_000, (int) (sleep % 1_000_000));
                }
            }
            double seconds = (System.nanoTime() - t0) / 1e9;
            double cpu = (Proc.cpuTicks(run.pid()) - cpu0) / Proc.TICKS_PER_SECOND;
            return new StatsCost(runtime, "1 call/s", n, lat.size(), seconds, cpu, cpu * 1e3 / lat.size(),
                    cpu * 1e6 / lat.size() / Math.max(1, n), Report.percentile(lat, 0.5));
        }
    }

    private List<Report.Row> rows(List<String> names, List<CallResult> results, List<StatsCost> costs) {
        var rows = new ArrayList<Report.Row>();
        record M(String label, String format, java.util.function.ToDoubleFunction<CallResult> f) {
        }
        var ms = List.of(new M("calls/s (higher is better)", "%.0f", CallResult::callsPerSecond),
                new M("p50 (ms)", "%.2f", CallResult::p50), new M("p90 (ms)", "%.2f", CallResult::p90),
                new M("p99 (ms)", "%.2f", CallResult::p99),
                new M("daemon CPU per call (µs)", "%.0f", CallResult::daemonCpuMicrosPerCall),
                new M("errors", "%.0f", r -> r.errors()));
        for (String call : calls) {
            for (M m : ms) {
                var vals = new LinkedHashMap<String, Double>();
                for (String n : names) {
                    vals.put(n, results.stream().filter(r -> r.call().equals(call) && r.runtime().equals(n))
                            .findFirst().map(r -> m.f().applyAsDouble(r)).orElse(Double.NaN));
                }
                rows.add(new Report.Row(call + " " + m.label(), m.format(), vals));
            }
        }
        if (!rssAfterCalls.isEmpty()) {
            var vals = new LinkedHashMap<String, Double>();
            for (String n : names) {
                vals.put(n, rssAfterCalls.getOrDefault(n, Double.NaN) / 1e6);
            }
            rows.add(new Report.Row("daemon RSS %d ms after the calls (MB)".formatted(settleMs), "%.1f", vals));
        }
        for (String mode : List.of("back-to-back", "1 call/s")) {
            if (costs.stream().noneMatch(c -> c.mode().equals(mode))) {
                continue;
            }
            int containers = costs.stream().filter(c -> c.mode().equals(mode)).mapToInt(StatsCost::containersReported)
                    .max().orElse(0);
            record C(String label, String format, java.util.function.ToDoubleFunction<StatsCost> f) {
            }
            for (C m : List.of(
                    new C("ListContainerStats, %d containers, %s: daemon CPU per call (ms)".formatted(containers, mode),
                            "%.2f", StatsCost::cpuMillisPerCall),
                    new C("ListContainerStats, %d containers, %s: daemon CPU per container (µs)".formatted(containers, mode),
                            "%.1f", StatsCost::cpuMicrosPerContainer),
                    new C("ListContainerStats, %d containers, %s: p50 (ms)".formatted(containers, mode),
                            "%.2f", StatsCost::p50Millis))) {
                var vals = new LinkedHashMap<String, Double>();
                for (String n : names) {
                    vals.put(n, costs.stream().filter(c -> c.mode().equals(mode) && c.runtime().equals(n))
                            .findFirst().map(c -> m.f().applyAsDouble(c)).orElse(Double.NaN));
                }
                rows.add(new Report.Row(m.label(), m.format(), vals));
            }
        }
        return rows;
    }
}
