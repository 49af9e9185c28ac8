package dev.bollard.bench;

import dev.bollard.api.cri.v1.CreateContainerRequest;
import dev.bollard.api.cri.v1.RemovePodSandboxRequest;
import dev.bollard.api.cri.v1.RunPodSandboxRequest;
import dev.bollard.api.cri.v1.StartContainerRequest;
import dev.bollard.api.cri.v1.StopPodSandboxRequest;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.function.ToDoubleFunction;

/**
 * The vm workload: one Bollard daemon, pods on the {@code vm} handler (each in a qemu VM, through
 * containerd-shim-bollard-vm-v2 from the checkout's bin/) beside pods on the {@code runc} handler, alternating,
 * one pod at a time. Per pod: RunPodSandbox, CreateContainer + StartContainer of busybox {@code sleep}, and
 * StopPodSandbox + RemovePodSandbox, timed; and after {@code --settle-ms}, the memory of what runs the pod — the
 * pod's shim and every process below it (vm: the shim's JVM, qemu, virtiofsd; runc: the shim, pause and sleep) —
 * as RSS and PSS. The accelerator is what the node's KVM probe chose (printed); on these nodes, TCG.
 */
@Command(name = "vm", mixinStandardHelpOptions = true,
        description = "VM pods (handler vm) beside runc pods: start and stop time, memory per pod (shim + qemu + virtiofsd).")
final class VmBench implements Callable<Integer> {

    @Mixin
    CommonOptions common;

    @Option(names = "--cycles", defaultValue = "3", description = "Pods per handler (default: ${DEFAULT-VALUE}).")
    int cycles;

    @Option(names = "--settle-ms", defaultValue = "3000",
            description = "Time after the container started before memory is read (default: ${DEFAULT-VALUE}).")
    long settleMs;

    @Option(names = "--call-timeout", defaultValue = "300", description = "CRI call timeout, s (default: ${DEFAULT-VALUE}).")
    int callTimeout;

    static final List<String> HANDLERS = List.of("runc", "vm");

    /** One pod. Milliseconds and bytes; {@code parts} is memory by component (RSS and PSS, bytes). */
    record Cycle(String handler, int n, boolean ok, String error, double runPodMillis, double containerMillis,
                 double stopRemoveMillis, long rss, long pss, Map<String, long[]> parts) {
        double startMillis() {
            return runPodMillis + containerMillis;
        }
    }

    @Override
    public Integer call() throws Exception {
        Path checkout = common.bollardHome();
        for (Path needed : List.of(checkout.resolve("vm/target/bollard-vm.jar"), checkout.resolve("vm/guest/out/vmlinux"),
                checkout.resolve("vm/guest/out/initrd.img"))) {
            if (!Files.isRegularFile(needed)) {
                throw new IOException(needed + " is missing: mvn -DskipTests package and vm/guest/build.sh first");
            }
        }
        var cyclesDone = new ArrayList<Cycle>();
        var rig = new PodRig(common, callTimeout, "");
        boolean cleanOk;
        String accel;
        var measured = new ArrayList<DaemonUnderTest>();
        try (var ws = new Workspace(common.workDir, common.keep)) {
            // the vm handler's default shim, containerd-shim-bollard-vm-v2, from the checkout's bin/ on PATH; the VM
            // state of this run's pods under the work directory
            var env = Map.of("PATH", checkout.resolve("bin") + ":" + System.getenv().getOrDefault("PATH", "/usr/bin:/bin"),
                    "BOLLARD_VM_STATE_ROOT", ws.path("vmstate").toString());
            var bollard = new BollardDaemon(checkout, common.bollardClasspath == null ? null : common.bollardCommand(),
                    common.bollardLogLevel, null, env);
            measured.add(bollard);
            try {
                rig.open(ws, List.of(bollard));
                accel = accelerator(rig, bollard.name());
                System.out.println("vm handler: " + accel);
                for (int i = 1; i <= cycles; i++) {
                    for (String handler : (i % 2 == 1 ? HANDLERS : HANDLERS.reversed())) {
                        var c = cycle(rig, bollard.name(), handler, i);
                        cyclesDone.add(c);
                        System.out.println(c.ok()
                                ? "%-4s pod %d: RunPodSandbox %6.0f ms, container %5.0f ms, stop+remove %5.0f ms; RSS %6.1f MB, PSS %6.1f MB %s"
                                .formatted(handler, i, c.runPodMillis(), c.containerMillis(), c.stopRemoveMillis(),
                                        c.rss() / 1e6, c.pss() / 1e6, parts(c.parts()))
                                : "%-4s pod %d FAILED: %s".formatted(handler, i, c.error()));
                        if (!c.ok()) {
                            rig.printTail(bollard.name());
                        }
                    }
                }
            } finally {
                cleanOk = rig.tearDown(ws);
            }
        } finally {
            rig.cleanUpHost();
        }
        record M(String label, String format, ToDoubleFunction<Cycle> f) {
        }
        var rows = new ArrayList<Report.Row>();
        for (M m : List.of(
                new M("RunPodSandbox (ms)", "%.0f", Cycle::runPodMillis),
                new M("CreateContainer + StartContainer (ms)", "%.0f", Cycle::containerMillis),
                new M("pod start: both (ms)", "%.0f", Cycle::startMillis),
                new M("StopPodSandbox + RemovePodSandbox (ms)", "%.0f", Cycle::stopRemoveMillis),
                new M("memory per pod, RSS (MB)", "%.1f", c -> c.rss() / 1e6),
                new M("memory per pod, PSS (MB)", "%.1f", c -> c.pss() / 1e6),
                new M("  shim RSS (MB)", "%.1f", c -> part(c, "shim", 0)),
                new M("  shim PSS (MB)", "%.1f", c -> part(c, "shim", 1)),
                new M("  qemu RSS (MB)", "%.1f", c -> part(c, "qemu", 0)),
                new M("  qemu PSS (MB)", "%.1f", c -> part(c, "qemu", 1)),
                new M("  virtiofsd RSS (MB)", "%.1f", c -> part(c, "virtiofsd", 0)),
                new M("  virtiofsd PSS (MB)", "%.1f", c -> part(c, "virtiofsd", 1)),
                new M("  containers RSS (MB)", "%.1f", c -> part(c, "containers", 0)),
                new M("  containers PSS (MB)", "%.1f", c -> part(c, "containers", 1)))) {
            var vals = new LinkedHashMap<String, Double>();
            for (String h : HANDLERS) {
                vals.put(h, Report.median(cyclesDone.stream().filter(c -> c.ok() && c.handler().equals(h))
                        .map(c -> m.f().applyAsDouble(c)).toList()));
            }
            rows.add(new Report.Row(m.label(), m.format(), vals));
        }
        System.out.println();
        System.out.print(Report.markdown("metric (median of " + cycles + " pods per handler; Bollard; vm: " + accel + ")",
                HANDLERS, rows));
        var body = new LinkedHashMap<String, Object>();
        var method = new LinkedHashMap<String, Object>();
        method.put("cycles", cycles);
        method.put("order", "runc and vm alternating, the first of a round alternating too; one pod at a time");
        method.put("pod", "busybox sleep in a pod with POD namespaces; StopPodSandbox then RemovePodSandbox");
        method.put("memory", "the pod's shim (cmdline -id <pod>) and its descendants, " + settleMs
                + " ms after StartContainer: VmRSS and smaps_rollup Pss");
        method.put("accelerator", accel);
        body.put("method", method);
        body.put("table", Report.tableJson(HANDLERS, rows));
        body.put("cycles", cyclesDone);
        Path result = Report.writeJson(common.resultsDir, "vm", Instant.now(), measured, body);
        System.out.println("results: " + result);
        return cleanOk && cyclesDone.stream().allMatch(Cycle::ok) ? 0 : 1;
    }

    private static double part(Cycle c, String name, int which) {
        long[] p = c.parts().get(name);
        return p == null ? 0 : p[which] / 1e6;
    }

    private static String parts(Map<String, long[]> parts) {
        var out = new StringBuilder("(");
        parts.forEach((k, v) -> out.append(out.length() > 1 ? ", " : "").append(k).append(' ')
                .append("%.1f/%.1f".formatted(v[0] / 1e6, v[1] / 1e6)));
        return out.append(" MB RSS/PSS)").toString();
    }

    /** The vm handler's readiness message (the accelerator and why), once the node's KVM probe has answered. */
    private static String accelerator(PodRig rig, String runtime) throws InterruptedException {
        String checks = "";
        for (int i = 0; i < 120; i++) {
            checks = rig.client(runtime).runtime(s -> s.status(dev.bollard.api.cri.v1.StatusRequest.newBuilder()
                    .setVerbose(true).build())).getInfoMap().getOrDefault("handlerChecks", "");
            if (!checks.contains("probing /dev/kvm")) {
                break;
            }
            Thread.sleep(500);
        }
        var m = java.util.regex.Pattern.compile("qemu microvm, (accelerator [^\"]*)").matcher(checks);
        return m.find() ? m.group(1).replace("\\\"", "\"") : "vm handler not ready: " + checks;
    }

    private Cycle cycle(PodRig rig, String runtime, String handler, int n) throws IOException {
        var c = rig.client(runtime);
        var cfg = rig.podConfig(runtime, handler + "-" + n);
        String pod = null;
        try {
            long t0 = System.nanoTime();
            pod = c.runtimeLong(s -> s.runPodSandbox(RunPodSandboxRequest.newBuilder().setConfig(cfg)
                    .setRuntimeHandler(handler).build())).getPodSandboxId();
            double runPod = (System.nanoTime() - t0) / 1e6;
            String podId = pod;
            long t1 = System.nanoTime();
            String ctr = c.runtimeLong(s -> s.createContainer(CreateContainerRequest.newBuilder().setPodSandboxId(podId)
                    .setConfig(PodRig.sleepConfig("sleep")).setSandboxConfig(cfg).build())).getContainerId();
            c.runtimeLong(s -> s.startContainer(StartContainerRequest.newBuilder().setContainerId(ctr).build()));
            double container = (System.nanoTime() - t1) / 1e6;
            Thread.sleep(settleMs);
            var parts = memory(podId, handler);
            long rss = parts.values().stream().mapToLong(v -> v[0]).sum();
            long pss = parts.values().stream().mapToLong(v -> v[1]).sum();
            long t2 = System.nanoTime();
            c.runtimeLong(s -> s.stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(podId).build()));
            c.runtimeLong(s -> s.removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(podId).build()));
            double stop = (System.nanoTime() - t2) / 1e6;
            if (parts.get("shim") == null) {
                return new Cycle(handler, n, false, "no shim process found for pod " + podId, runPod, container, stop,
                        0, 0, parts);
            }
            return new Cycle(handler, n, true, null, runPod, container, stop, rss, pss, parts);
        } catch (RuntimeException | InterruptedException e) {
            if (pod != null) {
                PodRig.removePod(c, pod);
            }
            return new Cycle(handler, n, false, String.valueOf(e.getMessage()), 0, 0, 0, 0, 0, Map.of());
        }
    }

    /**
     * The pod's shim (the long-running process whose command line names {@code -id <pod>}; not a {@code start}
     * or {@code delete} invocation) and its descendants, by component: RSS and PSS, bytes.
     */
    static Map<String, long[]> memory(String pod, String handler) {
        var shims = Proc.find(cmd -> {
            int i = cmd.indexOf("-id");
            return i >= 0 && i + 1 < cmd.size() && cmd.get(i + 1).equals(pod)
                    && !cmd.contains("start") && !cmd.contains("delete");
        });
        var parts = new LinkedHashMap<String, long[]>();
        if (shims.isEmpty()) {
            return parts;
        }
        var children = childrenByParent();
        var todo = new ArrayList<>(shims);
        var seen = new java.util.HashSet<Long>();
        while (!todo.isEmpty()) {
            long pid = todo.removeLast();
            if (!seen.add(pid)) {
                continue;
            }
            String comm = comm(pid);
            String part = shims.contains(pid) ? "shim" : comm.startsWith("qemu-system") ? "qemu"
                    : comm.startsWith("virtiofsd") ? "virtiofsd" : "containers";
            long rss = Math.max(0, Proc.rssBytes(pid));
            long pss = Math.max(0, Proc.pssBytes(pid));
            parts.merge(part, new long[]{rss, pss}, (a, b) -> new long[]{a[0] + b[0], a[1] + b[1]});
            todo.addAll(children.getOrDefault(pid, List.of()));
        }
        return parts;
    }

    private static String comm(long pid) {
        try {
            return Files.readString(Path.of("/proc", Long.toString(pid), "comm")).strip();
        } catch (IOException e) {
            return "";
        }
    }

    private static Map<Long, List<Long>> childrenByParent() {
        var out = new java.util.HashMap<Long, List<Long>>();
        try (var procs = Files.list(Path.of("/proc"))) {
            for (Path p : procs.filter(p -> p.getFileName().toString().matches("\\d+")).toList()) {
                try {
                    String stat = Files.readString(p.resolve("stat"));
                    String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
                    long ppid = Long.parseLong(f[1]);
                    out.computeIfAbsent(ppid, k -> new ArrayList<>()).add(Long.parseLong(p.getFileName().toString()));
                } catch (IOException | RuntimeException e) {
                    // gone meanwhile
                }
            }
        } catch (IOException e) {
            return out;
        }
        return out;
    }
}
