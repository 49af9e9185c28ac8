package dev.bollard.bench;

import com.google.gson.GsonBuilder;
import dev.bollard.api.cri.v1.ContainerState;
import dev.bollard.api.cri.v1.ContainerStateValue;
import dev.bollard.api.cri.v1.ContainerFilter;
import dev.bollard.api.cri.v1.CreateContainerRequest;
import dev.bollard.api.cri.v1.ExecSyncRequest;
import dev.bollard.api.cri.v1.ListContainersRequest;
import dev.bollard.api.cri.v1.RemoveContainerRequest;
import dev.bollard.api.cri.v1.RemovePodSandboxRequest;
import dev.bollard.api.cri.v1.RunPodSandboxRequest;
import dev.bollard.api.cri.v1.StartContainerRequest;
import dev.bollard.api.cri.v1.StopContainerRequest;
import dev.bollard.api.cri.v1.StopPodSandboxRequest;
import dev.bollard.cli.CriClient;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.function.Supplier;

/**
 * The pod lifecycle workload. Both runtimes run at once, each started once on a root of its own, with the same
 * CNI network, the same busybox and pause images, the same runc and shim. Then:
 * <ol>
 *   <li><b>cycles</b>, Bollard and containerd alternating: RunPodSandbox → CreateContainer ({@code sleep 3600})
 *       → StartContainer → ExecSync ({@code echo hi}) → StopContainer → RemoveContainer → StopPodSandbox →
 *       RemovePodSandbox, each call timed as the client sees it;</li>
 *   <li><b>density</b>, one runtime after the other: {@code --pods} pods of one {@code sleep 3600} container each,
 *       started {@code --concurrency} at a time; the time until all run, the daemon's RSS and PSS and the sum of
 *       its shims' RSS and PSS, and the time to tear them all down again.</li>
 * </ol>
 */
@Command(name = "pods", mixinStandardHelpOptions = true,
        description = "Pod lifecycle cycles and pod density: Bollard and containerd side by side, same CNI, images, runc, shim.")
final class PodsBench implements Callable<Integer> {

    @Mixin
    CommonOptions common;

    @Option(names = "--cycles", defaultValue = "50", description = "Measured lifecycle cycles per runtime (default: ${DEFAULT-VALUE}).")
    int cycles;

    @Option(names = "--warmup", defaultValue = "3",
            description = "Unmeasured cycles per runtime before the measured ones (default: ${DEFAULT-VALUE}).")
    int warmup;

    @Option(names = "--pods", defaultValue = "50", description = "Pods of the density phase (default: ${DEFAULT-VALUE}; 0 skips it).")
    int pods;

    @Option(names = "--concurrency", defaultValue = "10",
            description = "Pods started (and torn down) at the same time in the density phase (default: ${DEFAULT-VALUE}).")
    int concurrency;

    @Option(names = "--stop-timeout", defaultValue = "2",
            description = "StopContainer's grace period in seconds (default: ${DEFAULT-VALUE}; sleep ends on SIGTERM at once).")
    long stopTimeout;

    @Option(names = "--settle-ms", defaultValue = "2000",
            description = "Idle time before each memory reading (default: ${DEFAULT-VALUE}).")
    long settleMs;

    @Option(names = "--call-timeout", defaultValue = "120", description = "Deadline of each CRI call in seconds (default: ${DEFAULT-VALUE}).")
    int callTimeout;

    @Option(names = "--handler", defaultValue = "",
            description = "RuntimeClass handler of every pod (default: the daemon's default); e.g. runsc with --only bollard.")
    String handler;

    static final List<String> STEPS = List.of("RunPodSandbox", "CreateContainer", "StartContainer", "ExecSync",
            "StopContainer", "RemoveContainer", "StopPodSandbox", "RemovePodSandbox");

    /** One lifecycle cycle: milliseconds per step (in {@link #STEPS} order) and in total. */
    record Cycle(String runtime, int cycle, boolean ok, String error, Map<String, Double> stepMillis, double totalMillis,
                 List<String> failedAndRetried) {
    }

    /** The density phase of one runtime. Bytes, seconds, milliseconds. */
    record Density(String runtime, boolean ok, String error, int pods, double startSeconds, List<Double> podStartMillis,
                   double daemonCpuStartSeconds, long daemonRssIdle, long daemonPssIdle, long daemonRssLoaded,
                   long daemonPssLoaded, int shims, long shimRss, long shimPss, int daemonThreadsLoaded,
                   double teardownSeconds, double daemonCpuTeardownSeconds, long daemonRssAfterTeardown,
                   List<String> teardownErrors) {
        double overheadRssPerPod() {
            return (double) (daemonRssLoaded - daemonRssIdle + shimRss) / pods;
        }

        double overheadPssPerPod() {
            return (double) (daemonPssLoaded - daemonPssIdle + shimPss) / pods;
        }
    }

    private PodRig rig;

    /** The JSON written by the last run (for {@code all}). */
    Path resultFile;

    @Override
    public Integer call() throws Exception {
        List<DaemonUnderTest> daemons = common.daemons();
        var cyclesDone = new ArrayList<Cycle>();
        var densities = new ArrayList<Density>();
        boolean cleanOk;
        rig = new PodRig(common, callTimeout, handler);
        try (var ws = new Workspace(common.workDir, common.keep)) {
            try {
                rig.open(ws, daemons);
                for (int i = 1; i <= warmup; i++) {
                    for (DaemonUnderTest d : daemons) {
                        var c = cycle(d.name(), -i);
                        if (!c.ok()) {
                            throw new IOException(d.name() + ": warm-up cycle failed: " + c.error());
                        }
                    }
                }
                System.out.printf("warm-up: %d unmeasured cycles per runtime%n", warmup);
                for (int i = 1; i <= cycles; i++) {
                    for (DaemonUnderTest d : daemons) {
                        var c = cycle(d.name(), i);
                        cyclesDone.add(c);
                        if (!c.ok()) {
                            System.out.printf("cycle %d %-10s FAILED: %s%n", i, d.name(), c.error());
                            rig.printTail(d.name());
                        } else if (i % 10 == 0 || i == cycles) {
                            System.out.printf("cycle %d %-10s %7.1f ms%n", i, d.name(), c.totalMillis());
                        }
                    }
                }
                if (pods > 0) {
                    for (DaemonUnderTest d : daemons) {
                        var dens = density(d.name());
                        densities.add(dens);
                        System.out.println(dens.ok()
                                ? "density %-10s %d pods running after %.2f s, torn down in %.2f s".formatted(
                                d.name(), dens.pods(), dens.startSeconds(), dens.teardownSeconds())
                                : "density %-10s FAILED: %s".formatted(d.name(), dens.error()));
                        dens.teardownErrors().forEach(e -> System.out.println("  teardown error (retried): " + e));
                        if (!dens.ok()) {
                            rig.printTail(d.name());
                        }
                    }
                }
                var names = daemons.stream().map(DaemonUnderTest::name).toList();
                var rows = table(names, cyclesDone, densities);
                System.out.println();
                System.out.println("Every row: lower is better; ratio < 1 means " + names.getFirst() + " took less.");
                System.out.print(Report.markdown(rows));
                resultFile = writeJson(daemons, rows, cyclesDone, densities);
                System.out.println("results: " + resultFile);
            } finally {
                cleanOk = rig.tearDown(ws);
            }
        } finally {
            rig.cleanUpHost();
        }
        boolean ok = cyclesDone.stream().allMatch(Cycle::ok) && densities.stream().allMatch(Density::ok) && cleanOk;
        return ok ? 0 : 1;
    }

    private CriClient client(String runtime) {
        return rig.client(runtime);
    }

    private static <T> T timed(Map<String, Double> into, String step, Supplier<T> call) {
        long t0 = System.nanoTime();
        T out = call.get();
        into.put(step, (System.nanoTime() - t0) / 1e6);
        return out;
    }

    /** One full lifecycle; on failure, whatever was created is removed (untimed) and the error recorded. */
    private Cycle cycle(String runtime, int n) throws IOException {
        var c = client(runtime);
        var cfg = rig.podConfig(runtime, "cycle-" + (n < 0 ? "warmup" + (-n) : n));
        var steps = new LinkedHashMap<String, Double>();
        var retries = new ArrayList<String>();
        String pod = null;
        String step = STEPS.getFirst();
        try {
            pod = timed(steps, step, () -> c.runtimeLong(s -> s.runPodSandbox(
                    RunPodSandboxRequest.newBuilder().setConfig(cfg).setRuntimeHandler(handler).build())).getPodSandboxId());
            String podId = pod;
            step = "CreateContainer";
            String ctr = timed(steps, step, () -> c.runtimeLong(s -> s.createContainer(CreateContainerRequest.newBuilder()
                    .setPodSandboxId(podId).setConfig(PodRig.sleepConfig("sleep")).setSandboxConfig(cfg).build())).getContainerId());
            step = "StartContainer";
            timed(steps, step, () -> c.runtimeLong(s -> s.startContainer(
                    StartContainerRequest.newBuilder().setContainerId(ctr).build())));
            step = "ExecSync";
            var exec = timed(steps, step, () -> c.runtimeFor(10, s -> s.execSync(ExecSyncRequest.newBuilder()
                    .setContainerId(ctr).addAllCmd(List.of("echo", "hi")).setTimeout(10).build())));
            if (exec.getExitCode() != 0 || !exec.getStdout().toStringUtf8().equals("hi\n")) {
                throw new IllegalStateException("ExecSync echo hi: exit " + exec.getExitCode() + ", stdout "
                        + exec.getStdout().toStringUtf8().strip() + ", stderr " + exec.getStderr().toStringUtf8().strip());
            }
            step = "StopContainer";
            timed(steps, step, () -> c.runtimeFor(stopTimeout, s -> s.stopContainer(
                    StopContainerRequest.newBuilder().setContainerId(ctr).setTimeout(stopTimeout).build())));
            step = "RemoveContainer";
            timed(steps, step, () -> c.runtime(s -> s.removeContainer(
                    RemoveContainerRequest.newBuilder().setContainerId(ctr).build())));
            step = "StopPodSandbox";
            // kubelet retries a failed stop at once: the step's time includes the failed attempts, which are counted
            timed(steps, step, () -> {
                for (int attempt = 1; ; attempt++) {
                    try {
                        return c.runtimeLong(s -> s.stopPodSandbox(
                                StopPodSandboxRequest.newBuilder().setPodSandboxId(podId).build()));
                    } catch (RuntimeException e) {
                        retries.add("StopPodSandbox attempt " + attempt + ": " + e.getMessage());
                        if (attempt == 3) {
                            throw e;
                        }
                    }
                }
            });
            step = "RemovePodSandbox";
            timed(steps, step, () -> c.runtimeLong(s -> s.removePodSandbox(
                    RemovePodSandboxRequest.newBuilder().setPodSandboxId(podId).build())));
            double total = steps.values().stream().mapToDouble(Double::doubleValue).sum();
            return new Cycle(runtime, n, true, null, steps, total, retries);
        } catch (RuntimeException e) {
            if (pod != null) {
                PodRig.removePod(c, pod);
            }
            return new Cycle(runtime, n, false, step + ": " + e.getMessage(), steps, Double.NaN, retries);
        }
    }

    /** {@code --pods} pods started {@code --concurrency} at a time, measured, then torn down the same way. */
    private Density density(String runtime) throws InterruptedException {
        var c = client(runtime);
        var run = rig.run(runtime);
        long pid = run.pid();
        Thread.sleep(settleMs);
        long rssIdle = Proc.rssBytes(pid);
        long pssIdle = Proc.pssBytes(pid);
        double cpu0 = Proc.cpuSeconds(pid);
        long t0 = System.nanoTime();
        var started = rig.startPods(runtime, "density-", pods, concurrency);
        double startSeconds = (System.nanoTime() - t0) / 1e9;
        double cpuStart = Proc.cpuSeconds(pid) - cpu0;
        String error = started.error();
        if (error == null) {
            long running = c.runtime(s -> s.listContainers(ListContainersRequest.newBuilder().setFilter(ContainerFilter
                    .newBuilder().setState(ContainerStateValue.newBuilder().setState(ContainerState.CONTAINER_RUNNING))
                    .build()).build())).getContainersList()
                    .stream().filter(ct -> started.containers().containsValue(ct.getId())).count();
            if (running != pods) {
                error = "ListContainers shows " + running + " of " + pods + " containers running";
            }
        }
        Thread.sleep(settleMs);
        long rssLoaded = Proc.rssBytes(pid);
        long pssLoaded = Proc.pssBytes(pid);
        int threads = Proc.threads(pid);
        var shims = shimsOf(run);
        long shimRss = shims.stream().mapToLong(Proc::rssBytes).filter(v -> v > 0).sum();
        long shimPss = shims.stream().mapToLong(Proc::pssBytes).filter(v -> v > 0).sum();

        var teardownErrors = Collections.synchronizedList(new ArrayList<String>());
        // teardown as kubelet does it: stop the container with its grace period, then stop and remove the pod
        double cpu1 = Proc.cpuSeconds(pid);
        long t1 = System.nanoTime();
        String teardownError = rig.tearDownPods(runtime, started.podIds(), started.containers(), concurrency,
                stopTimeout, teardownErrors);
        error = error == null ? teardownError : error;
        double teardown = (System.nanoTime() - t1) / 1e9;
        double cpuTeardown = Proc.cpuSeconds(pid) - cpu1;
        Thread.sleep(settleMs);
        long rssAfter = Proc.rssBytes(pid);
        return new Density(runtime, error == null, error, pods, startSeconds, started.podMillis(), cpuStart,
                rssIdle, pssIdle, rssLoaded, pssLoaded, shims.size(), shimRss, shimPss, threads, teardown,
                cpuTeardown, rssAfter, List.copyOf(teardownErrors));
    }

    /** The shim processes of a daemon: their command line names the daemon's directory. */
    static List<Long> shimsOf(DaemonUnderTest.Running run) {
        String dir = run.dir().toString();
        return Proc.find(cmd -> !cmd.isEmpty() && cmd.getFirst().endsWith("containerd-shim-runc-v2")
                && String.join(" ", cmd).contains(dir));
    }


    /** Nearest-rank percentile. */
    static double percentile(List<Double> xs, double q) {
        if (xs.isEmpty()) {
            return Double.NaN;
        }
        var s = xs.stream().sorted().toList();
        int rank = (int) Math.ceil(q * s.size());
        return s.get(Math.max(0, Math.min(s.size() - 1, rank - 1)));
    }

    private record Row(String label, String format, Map<String, Double> values) {
    }

    private List<Row> rowValues(List<String> names, List<Cycle> cs, List<Density> ds) {
        var rows = new ArrayList<Row>();
        var stepsAndTotal = new ArrayList<>(STEPS);
        stepsAndTotal.add("total cycle");
        for (String step : stepsAndTotal) {
            for (var q : List.of(new double[]{0.5}, new double[]{0.9}, new double[]{0.99})) {
                var vals = new LinkedHashMap<String, Double>();
                for (String n : names) {
                    var xs = cs.stream().filter(c -> c.ok() && c.runtime().equals(n))
                            .map(c -> step.equals("total cycle") ? c.totalMillis() : c.stepMillis().get(step)).toList();
                    vals.put(n, percentile(xs, q[0]));
                }
                rows.add(new Row("%s p%d (ms)".formatted(step, Math.round(q[0] * 100)), "%.1f", vals));
            }
        }
        var failed = new LinkedHashMap<String, Double>();
        for (String n : names) {
            failed.put(n, (double) cs.stream().filter(c -> c.runtime().equals(n))
                    .mapToInt(c -> c.failedAndRetried().size()).sum());
        }
        rows.add(new Row("cycles: failed StopPodSandbox calls (retried)", "%.0f", failed));
        record M(String label, String format, java.util.function.ToDoubleFunction<Density> f) {
        }
        var ms = List.of(
                new M("density: %d pods running after (s)".formatted(pods), "%.2f", Density::startSeconds),
                new M("density: one pod's run+create+start p50 (ms)", "%.0f", d -> percentile(d.podStartMillis(), 0.5)),
                new M("density: one pod's run+create+start p99 (ms)", "%.0f", d -> percentile(d.podStartMillis(), 0.99)),
                new M("density: daemon CPU while starting (s)", "%.2f", Density::daemonCpuStartSeconds),
                new M("density: daemon RSS idle, no pods (MB)", "%.1f", d -> d.daemonRssIdle() / 1e6),
                new M("density: daemon RSS with the pods (MB)", "%.1f", d -> d.daemonRssLoaded() / 1e6),
                new M("density: daemon PSS with the pods (MB)", "%.1f", d -> d.daemonPssLoaded() / 1e6),
                new M("density: shim processes", "%.0f", d -> d.shims()),
                new M("density: shims' RSS, sum (MB)", "%.1f", d -> d.shimRss() / 1e6),
                new M("density: shims' PSS, sum (MB)", "%.1f", d -> d.shimPss() / 1e6),
                new M("density: per pod, daemon growth + shim RSS (MB)", "%.2f", d -> d.overheadRssPerPod() / 1e6),
                new M("density: per pod, daemon growth + shim PSS (MB)", "%.2f", d -> d.overheadPssPerPod() / 1e6),
                new M("density: teardown of all pods (s)", "%.2f", Density::teardownSeconds),
                new M("density: failed StopPodSandbox calls (retried)", "%.0f", d -> d.teardownErrors().size()),
                new M("density: daemon CPU while tearing down (s)", "%.2f", Density::daemonCpuTeardownSeconds),
                new M("density: daemon RSS after teardown (MB)", "%.1f", d -> d.daemonRssAfterTeardown() / 1e6));
        if (!ds.isEmpty()) {
            for (M m : ms) {
                var vals = new LinkedHashMap<String, Double>();
                for (String n : names) {
                    vals.put(n, ds.stream().filter(d -> d.ok() && d.runtime().equals(n)).findFirst()
                            .map(d -> m.f().applyAsDouble(d)).orElse(Double.NaN));
                }
                rows.add(new Row(m.label(), m.format(), vals));
            }
        }
        return rows;
    }

    private List<Row> lastRows = List.of();

    private List<List<String>> table(List<String> names, List<Cycle> cs, List<Density> ds) {
        lastRows = rowValues(names, cs, ds);
        var out = new ArrayList<List<String>>();
        var header = new ArrayList<String>();
        long ok = cs.stream().filter(Cycle::ok).count();
        header.add("metric (%d ok cycles of %d; lower is better)".formatted(ok, cs.size()));
        header.addAll(names);
        if (Report.ratioHeader(names) != null) {
            header.add(Report.ratioHeader(names));
        }
        out.add(header);
        for (Row r : lastRows) {
            var row = new ArrayList<String>();
            row.add(r.label());
            var vals = names.stream().map(n -> r.values().get(n)).toList();
            vals.forEach(v -> row.add(v == null || Double.isNaN(v) ? "-" : r.format().formatted(v)));
            if (names.size() >= 2) {
                row.add(Report.ratioText(r.label(), vals));
            }
            out.add(row);
        }
        return out;
    }

    private Path writeJson(List<DaemonUnderTest> daemons, List<List<String>> rows, List<Cycle> cs, List<Density> ds)
            throws IOException {
        Instant when = Instant.now();
        var json = new LinkedHashMap<String, Object>();
        json.put("workload", "pods");
        json.put("time", when.toString());
        json.put("machine", Machine.describe());
        var versions = new LinkedHashMap<String, Object>();
        for (var d : daemons) {
            versions.put(d.name(), d.version());
        }
        json.put("runtimes", versions);
        var method = new LinkedHashMap<String, Object>();
        method.put("handler", handler.isEmpty() ? "(default)" : handler);
        method.put("cycles", cycles);
        method.put("warmupCycles", warmup);
        method.put("order", common.runtimeNames());
        method.put("cycleSteps", STEPS);
        method.put("container", "busybox /bin/sleep 3600, pid namespace shared with the pod (POD)");
        method.put("exec", "ExecSync echo hi, timeout 10 s");
        method.put("stopTimeoutSeconds", stopTimeout);
        method.put("densityPods", pods);
        method.put("densityConcurrency", concurrency);
        method.put("settleMillis", settleMs);
        method.put("network", Map.of("bridge", rig.host().bridge, "subnet", rig.host().subnetPrefix + ".0/24",
                "plugins", "bridge (isGateway, ipMasq, hairpinMode) + host-local, portmap, loopback from /usr/lib/cni"));
        method.put("images", Map.of("container", PodHost.BUSYBOX, "sandbox", PodHost.PAUSE + " (/usr/bin/catatonit -P)"));
        method.put("cgroupParent", rig.host().cgroupParent + "/pod<uid> (cgroupfs)");
        method.put("client", "dev.bollard.cli.CriClient (grpc-java over the unix socket), one per runtime");
        method.put("shim", Workspace.run(List.of("containerd-shim-runc-v2", "-v")).replace('\n', ' '));
        json.put("method", method);
        var table = new LinkedHashMap<String, Object>();
        for (Row r : lastRows) {
            var e = new LinkedHashMap<String, Object>();
            r.values().forEach((k, v) -> e.put(k, v == null || Double.isNaN(v) ? null : Double.valueOf(r.format().formatted(v))));
            if (r.values().size() >= 2) {
                e.put("ratio", Report.ratioJson(r.label(), List.copyOf(r.values().values())));
            }
            table.put(r.label(), e);
        }
        json.put("table", table);
        json.put("cycles", cs);
        json.put("density", ds);
        Files.createDirectories(common.resultsDir);
        String stamp = DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss").withZone(ZoneOffset.UTC).format(when);
        Path file = common.resultsDir.resolve("pods-" + stamp + ".json");
        Path tmp = common.resultsDir.resolve(file.getFileName() + ".tmp");
        Files.writeString(tmp, new GsonBuilder().setPrettyPrinting().serializeNulls().disableHtmlEscaping()
                .serializeSpecialFloatingPointValues().create().toJson(json) + "\n");
        Files.move(tmp, file, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        return file;
    }
}
