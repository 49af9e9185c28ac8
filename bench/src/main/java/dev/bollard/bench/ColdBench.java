package dev.bollard.bench;

import dev.bollard.api.cri.v1.ContainerStatusRequest;
import dev.bollard.api.cri.v1.CreateContainerRequest;
import dev.bollard.api.cri.v1.PodSandboxConfig;
import dev.bollard.api.cri.v1.PodSandboxStatusRequest;
import dev.bollard.api.cri.v1.RemoveContainerRequest;
import dev.bollard.api.cri.v1.RemovePodSandboxRequest;
import dev.bollard.api.cri.v1.RunPodSandboxRequest;
import dev.bollard.api.cri.v1.StartContainerRequest;
import dev.bollard.api.cri.v1.StatusRequest;
import dev.bollard.api.cri.v1.StopContainerRequest;
import dev.bollard.api.cri.v1.StopPodSandboxRequest;
import dev.bollard.cli.CriClient;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.function.Supplier;

/**
 * What a node operator meets after a boot: a daemon started fresh on a root that already holds the images, and
 * then, at once, as kubelet: a Status call (runtime and network ready?), then (1) one pod with one container from scratch (RunPodSandbox + CreateContainer + StartContainer:
 * "first pod + container after start"), torn down again; (2) {@code --pod-cycles} sequential pod lifecycles
 * without containers (RunPodSandbox, PodSandboxStatus, StopPodSandbox, RemovePodSandbox); (3) one pod and in it
 * {@code --container-cycles} container lifecycles (CreateContainer, StartContainer, ContainerStatus,
 * StopContainer, RemoveContainer). Every call is timed as the client sees it; reported per call kind: p50 and p90
 * over the round, and the first {@code --first-calls} calls of each kind one by one (kubelet meets exactly these
 * after a node boots). One runtime runs at a time (the others' daemons are stopped); runtimes alternate per round.
 */
@Command(name = "cold", mixinStandardHelpOptions = true,
        description = "A fresh daemon's first calls: first pod + container, pod lifecycles, container lifecycles.")
final class ColdBench implements Callable<Integer> {

    @Mixin
    CommonOptions common;

    @Option(names = "--rounds", defaultValue = "1", description = "Fresh starts per runtime (default: ${DEFAULT-VALUE}).")
    int rounds;

    @Option(names = "--pod-cycles", defaultValue = "50",
            description = "Pod lifecycles without containers (default: ${DEFAULT-VALUE}).")
    int podCycles;

    @Option(names = "--container-cycles", defaultValue = "50",
            description = "Container lifecycles in one pod (default: ${DEFAULT-VALUE}).")
    int containerCycles;

    @Option(names = "--first-calls", defaultValue = "10",
            description = "Calls of each kind reported one by one (default: ${DEFAULT-VALUE}).")
    int firstCalls;

    @Option(names = "--stop-timeout", defaultValue = "2", description = "StopContainer's grace period in seconds (default: ${DEFAULT-VALUE}).")
    long stopTimeout;

    @Option(names = "--settle-ms", defaultValue = "2000",
            description = "Idle time before the memory reading after the calls (default: ${DEFAULT-VALUE}).")
    long settleMs;

    @Option(names = "--call-timeout", defaultValue = "120", description = "Deadline of each CRI call in seconds (default: ${DEFAULT-VALUE}).")
    int callTimeout;

    /** The JSON written by the last run (for {@code all}). */
    Path resultFile;

    static final List<String> KINDS = List.of("Status", "RunPodSandbox", "PodSandboxStatus", "StopPodSandbox",
            "RemovePodSandbox", "CreateContainer", "StartContainer", "ContainerStatus", "StopContainer",
            "RemoveContainer");

    /** One call: its kind, its place in the round's sequence, its time. */
    record Call(String kind, int seq, double millis) {
    }

    /** One fresh start of one runtime and what followed. */
    record Round(String runtime, int round, boolean ok, String error, double readyMillis, double firstPodMillis,
                 long rssReady, long rssAfter, double cpuSeconds, List<Call> calls) {
        List<Double> millis(String kind) {
            return calls.stream().filter(c -> c.kind().equals(kind)).map(Call::millis).toList();
        }
    }

    private PodRig rig;

    @Override
    public Integer call() throws Exception {
        List<DaemonUnderTest> daemons = common.daemons();
        var names = daemons.stream().map(DaemonUnderTest::name).toList();
        var done = new ArrayList<Round>();
        rig = new PodRig(common, callTimeout, "");
        boolean clean;
        try (var ws = new Workspace(common.workDir, common.keep)) {
            try {
                // every daemon once with the images imported, then stopped: the roots are what a node has after a boot
                rig.open(ws, daemons);
                for (var d : daemons) {
                    rig.stopDaemon(d.name());
                }
                for (int r = 1; r <= rounds; r++) {
                    var order = new ArrayList<>(daemons);
                    if (r % 2 == 0) {
                        java.util.Collections.reverse(order);
                    }
                    for (var d : order) {
                        var round = round(ws, d, r);
                        done.add(round);
                        System.out.println(round.ok()
                                ? "round %d %-14s ready %5.0f ms, first pod + container %5.0f ms, RSS %5.1f MB ready, %5.1f MB after"
                                .formatted(r, d.name(), round.readyMillis(), round.firstPodMillis(),
                                        round.rssReady() / 1e6, round.rssAfter() / 1e6)
                                : "round %d %-14s FAILED: %s".formatted(r, d.name(), round.error()));
                        if (!round.ok()) {
                            rig.printTail(d.name());
                        }
                        rig.stopDaemon(d.name());
                    }
                }
            } finally {
                clean = rig.tearDown(ws);
            }
        } finally {
            rig.cleanUpHost();
        }
        var rows = rows(names, done);
        System.out.println();
        System.out.println("Every row: lower is better; a fresh daemon per round, calls at once after its first answer.");
        System.out.print(Report.markdown("metric (ms unless said; " + rounds + " round(s))", names, rows));
        var body = new LinkedHashMap<String, Object>();
        var method = new LinkedHashMap<String, Object>();
        method.put("rounds", rounds);
        method.put("sequence", List.of("start on a root holding the images; at once:",
                "first pod + container: RunPodSandbox, CreateContainer, StartContainer (then StopContainer, "
                        + "RemoveContainer, StopPodSandbox, RemovePodSandbox)",
                podCycles + " pod lifecycles: RunPodSandbox, PodSandboxStatus, StopPodSandbox, RemovePodSandbox",
                "one pod, " + containerCycles + " container lifecycles: CreateContainer, StartContainer, "
                        + "ContainerStatus, StopContainer, RemoveContainer"));
        method.put("container", "busybox /bin/sleep 3600; StopContainer timeout " + stopTimeout + " s");
        method.put("oneRuntimeAtATime", true);
        body.put("method", method);
        body.put("table", Report.tableJson(names, rows));
        body.put("rounds", done);
        resultFile = Report.writeJson(common.resultsDir, "cold", Instant.now(), daemons, body);
        System.out.println("results: " + resultFile);
        return done.stream().allMatch(Round::ok) && clean ? 0 : 1;
    }

    private Round round(Workspace ws, DaemonUnderTest d, int r) throws InterruptedException {
        var calls = new ArrayList<Call>();
        long t0 = System.nanoTime();
        DaemonUnderTest.Running run;
        try {
            run = rig.restart(ws, d);
        } catch (IOException e) {
            return new Round(d.name(), r, false, "start: " + e.getMessage(), 0, 0, 0, 0, 0, calls);
        }
        double ready = (System.nanoTime() - t0) / 1e6;
        long pid = run.pid();
        long rssReady = Proc.rssBytes(pid);
        var c = rig.client(d.name());
        String step = "first pod";
        String pod = null;
        try {
            // kubelet asks for the runtime's and the network's readiness before it runs a pod
            timed(calls, "Status", () -> c.runtime(s -> s.status(StatusRequest.getDefaultInstance())));
            var cfg = rig.podConfig(d.name(), "cold-first-" + r);
            long f0 = System.nanoTime();
            String first = timed(calls, "RunPodSandbox", () -> runPod(c, cfg));
            pod = first;
            String ctr = timed(calls, "CreateContainer", () -> createContainer(c, first, cfg, "first"));
            timed(calls, "StartContainer", () -> c.runtimeLong(s -> s.startContainer(
                    StartContainerRequest.newBuilder().setContainerId(ctr).build())));
            double firstPod = (System.nanoTime() - f0) / 1e6;
            stopAndRemoveContainer(c, calls, ctr);
            stopAndRemovePod(c, calls, pod);
            pod = null;

            step = "pod lifecycles";
            for (int i = 0; i < podCycles; i++) {
                var pc = rig.podConfig(d.name(), "cold-pod-" + r + "-" + i);
                pod = timed(calls, "RunPodSandbox", () -> runPod(c, pc));
                String id = pod;
                timed(calls, "PodSandboxStatus", () -> c.runtime(s -> s.podSandboxStatus(
                        PodSandboxStatusRequest.newBuilder().setPodSandboxId(id).build())));
                stopAndRemovePod(c, calls, pod);
                pod = null;
            }

            step = "container lifecycles";
            var cc = rig.podConfig(d.name(), "cold-containers-" + r);
            pod = timed(new ArrayList<>(), "RunPodSandbox", () -> runPod(c, cc)); // not one of the pod lifecycles
            String podId = pod;
            for (int i = 0; i < containerCycles; i++) {
                String id = timed(calls, "CreateContainer", () -> createContainer(c, podId, cc, "sleep"));
                timed(calls, "StartContainer", () -> c.runtimeLong(s -> s.startContainer(
                        StartContainerRequest.newBuilder().setContainerId(id).build())));
                timed(calls, "ContainerStatus", () -> c.runtime(s -> s.containerStatus(
                        ContainerStatusRequest.newBuilder().setContainerId(id).build())));
                stopAndRemoveContainer(c, calls, id);
            }
            PodRig.removePod(c, pod);
            pod = null;
            Thread.sleep(settleMs);
            long rssAfter = Proc.rssBytes(pid);
            double cpu = Proc.cpuSeconds(pid);
            return new Round(d.name(), r, true, null, ready, firstPod, rssReady, rssAfter, cpu, calls);
        } catch (RuntimeException | IOException e) {
            if (pod != null) {
                PodRig.removePod(c, pod);
            }
            return new Round(d.name(), r, false, step + ": " + e.getMessage(), ready, 0, rssReady, 0, 0, calls);
        }
    }

    private static String runPod(CriClient c, PodSandboxConfig cfg) {
        return c.runtimeLong(s -> s.runPodSandbox(RunPodSandboxRequest.newBuilder().setConfig(cfg).build()))
                .getPodSandboxId();
    }

    private static String createContainer(CriClient c, String pod, PodSandboxConfig cfg, String name) {
        return c.runtimeLong(s -> s.createContainer(CreateContainerRequest.newBuilder().setPodSandboxId(pod)
                .setConfig(PodRig.sleepConfig(name)).setSandboxConfig(cfg).build())).getContainerId();
    }

    private void stopAndRemoveContainer(CriClient c, List<Call> calls, String ctr) {
        timed(calls, "StopContainer", () -> c.runtimeFor(stopTimeout, s -> s.stopContainer(
                StopContainerRequest.newBuilder().setContainerId(ctr).setTimeout(stopTimeout).build())));
        timed(calls, "RemoveContainer", () -> c.runtime(s -> s.removeContainer(
                RemoveContainerRequest.newBuilder().setContainerId(ctr).build())));
    }

    private static void stopAndRemovePod(CriClient c, List<Call> calls, String pod) {
        timed(calls, "StopPodSandbox", () -> c.runtimeLong(s -> s.stopPodSandbox(
                StopPodSandboxRequest.newBuilder().setPodSandboxId(pod).build())));
        timed(calls, "RemovePodSandbox", () -> c.runtimeLong(s -> s.removePodSandbox(
                RemovePodSandboxRequest.newBuilder().setPodSandboxId(pod).build())));
    }

    private static <T> T timed(List<Call> calls, String kind, Supplier<T> call) {
        long t0 = System.nanoTime();
        T out = call.get();
        calls.add(new Call(kind, calls.size(), (System.nanoTime() - t0) / 1e6));
        return out;
    }

    private List<Report.Row> rows(List<String> names, List<Round> done) {
        var rows = new ArrayList<Report.Row>();
        var ok = done.stream().filter(Round::ok).toList();
        rows.add(row(names, ok, "start to first Version answer", "%.0f", rd -> List.of(rd.readyMillis())));
        rows.add(row(names, ok, "first pod + container after start (run+create+start)", "%.1f",
                rd -> List.of(rd.firstPodMillis())));
        for (String k : KINDS) {
            rows.add(row(names, ok, k + " p50", "%.2f", rd -> rd.millis(k)));
        }
        for (String k : KINDS) {
            rows.add(row(names, ok, k + " p90", "%.2f", rd -> rd.millis(k)));
        }
        // the sum of the medians of every lifecycle step: the "summed lifecycle medians"
        var sum = new LinkedHashMap<String, Double>();
        for (String n : names) {
            double s = 0;
            for (String k : KINDS.subList(1, KINDS.size())) { // Status is no lifecycle step
                s += Report.median(ok.stream().filter(rd -> rd.runtime().equals(n)).flatMap(rd -> rd.millis(k).stream()).toList());
            }
            sum.put(n, s);
        }
        rows.add(new Report.Row("summed lifecycle medians", "%.1f", sum));
        for (String k : KINDS) {
            for (int i = 0; i < (k.equals("Status") ? 1 : firstCalls); i++) {
                int idx = i;
                var vals = new LinkedHashMap<String, Double>();
                for (String n : names) {
                    vals.put(n, Report.median(ok.stream().filter(rd -> rd.runtime().equals(n))
                            .map(rd -> rd.millis(k)).filter(xs -> xs.size() > idx).map(xs -> xs.get(idx)).toList()));
                }
                rows.add(new Report.Row(k + " call " + (i + 1), "%.2f", vals));
            }
        }
        rows.add(row(names, ok, "daemon RSS at first answer (MB)", "%.1f", rd -> List.of(rd.rssReady() / 1e6)));
        rows.add(row(names, ok, "daemon RSS after the calls (MB)", "%.1f", rd -> List.of(rd.rssAfter() / 1e6)));
        rows.add(row(names, ok, "daemon CPU from start to the end (s)", "%.2f", rd -> List.of(rd.cpuSeconds())));
        return rows;
    }

    /** A row whose value per runtime is the p50 (or, for a "p90" label, the p90) of what {@code f} gives per round. */
    private static Report.Row row(List<String> names, List<Round> ok, String label, String format,
                                  java.util.function.Function<Round, List<Double>> f) {
        var vals = new LinkedHashMap<String, Double>();
        double q = label.endsWith(" p90") ? 0.9 : 0.5;
        for (String n : names) {
            var xs = ok.stream().filter(rd -> rd.runtime().equals(n)).flatMap(rd -> f.apply(rd).stream()).toList();
            vals.put(n, q == 0.5 ? Report.median(xs) : Report.percentile(xs, q));
        }
        return new Report.Row(label.endsWith(" p50") || label.endsWith(" p90") ? label + " (ms)" : label, format, vals);
    }
}
