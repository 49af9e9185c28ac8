package dev.bollard.bench;

import dev.bollard.api.cri.v1.CreateContainerRequest;
import dev.bollard.api.cri.v1.ListContainersRequest;
import dev.bollard.api.cri.v1.ListPodSandboxRequest;
import dev.bollard.api.cri.v1.PodSandboxConfig;
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
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Instant;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * The soak: {@code --cycles} sequential pod + container lifecycles on one Bollard daemon (RunPodSandbox,
 * CreateContainer, StartContainer, StopContainer, RemoveContainer, StopPodSandbox, RemovePodSandbox), a seeded
 * share of them with a fault injected: the CNI chain failing ADD (its last plugin, a wrapper of {@code loopback},
 * refuses while a flag file exists), the pod's shim SIGKILLed once its container runs, or StopPodSandbox issued
 * while the pod's CreateContainer is in flight. After each cycle everything is cleaned up through the CRI as
 * kubelet would (Stop/Remove retried until they answer OK). Then the leak account: processes, mounts, netns,
 * cgroups, IP allocations, iptables rules, files under root and state beyond those after a warm-up cycle, pods
 * and containers still listed, and the daemon's memory from {@code --rss-cycle} to the end, read after a full GC
 * ({@link JvmMemory}): RSS less the JIT code cache's growth, and the live heap, each within 10 %. The
 * exit code is non-zero when any count is not zero.
 */
@Command(name = "soak", mixinStandardHelpOptions = true,
        description = "Pod + container lifecycles with injected faults, then a leak account (Bollard only).")
final class SoakBench implements Callable<Integer> {

    @Mixin
    CommonOptions common;

    @Option(names = "--cycles", defaultValue = "1000", description = "Pod + container lifecycles (default: ${DEFAULT-VALUE}).")
    int cycles;

    @Option(names = "--fault-rate", defaultValue = "0.3",
            description = "Share of cycles with a fault injected, 0..1 (default: ${DEFAULT-VALUE}).")
    double faultRate;

    @Option(names = "--seed", defaultValue = "1", description = "Seed of the fault choice (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--rss-cycle", defaultValue = "100",
            description = "Cycle after which the RSS baseline is read (capped at half the cycles; default: ${DEFAULT-VALUE}).")
    int rssCycle;

    @Option(names = "--memory-growth-limit", defaultValue = "10",
            description = "Growth in percent from --rss-cycle to the end beyond which the daemon's RSS (after a full GC, "
                    + "JIT code excluded) or live heap counts as a leak (default: ${DEFAULT-VALUE}; the smoke test's "
                    + "few cycles are no measure: it lifts the limit).")
    double memoryGrowthLimit;

    @Option(names = "--nmt", negatable = true, defaultValue = "true", fallbackValue = "true",
            description = "Run the daemon with -XX:NativeMemoryTracking=summary, so that the account can tell the JIT's "
                    + "code cache, the heap and native memory apart (default: ${DEFAULT-VALUE}).")
    boolean nmt;

    @Option(names = "--stop-timeout", defaultValue = "2", description = "StopContainer's grace period in seconds (default: ${DEFAULT-VALUE}).")
    long stopTimeout;

    @Option(names = "--settle-ms", defaultValue = "3000",
            description = "Idle time before the leak account (default: ${DEFAULT-VALUE}).")
    long settleMs;

    @Option(names = "--call-timeout", defaultValue = "120", description = "Deadline of each CRI call in seconds (default: ${DEFAULT-VALUE}).")
    int callTimeout;

    enum Fault { NONE, CNI_ADD, SHIM_KILL, STOP_DURING_CREATE }

    /** One cycle: its fault, whether it went as expected, what the CRI answered where it failed, cleanup retries. */
    record Cycle(int n, Fault fault, boolean ok, List<String> errors, int cleanupRetries, double millis) {
    }

    /** What is left: each kind's count and its items (at most 20 named). */
    record Leak(String kind, int count, List<String> items) {
    }

    private static final String WRAPPER = "soak-loopback";

    @Override
    public Integer call() throws Exception {
        var daemons = common.daemons().stream().filter(d -> d instanceof BollardDaemon).toList();
        if (daemons.isEmpty()) {
            System.err.println("soak: Bollard only; no Bollard among the runtimes");
            return 2;
        }
        var d = nmt && daemons.getFirst() instanceof BollardDaemon b
                ? b.withJavaOpts("-XX:NativeMemoryTracking=summary") : daemons.getFirst();
        daemons = List.of(d);
        var rig = new PodRig(common, callTimeout, "");
        var done = new ArrayList<Cycle>();
        var leaks = new ArrayList<Leak>();
        long rssFirst = 0;
        long rssLast = 0;
        JvmMemory memFirst = null;
        JvmMemory memLast = null;
        int firstRssCycle = Math.max(1, Math.min(rssCycle, cycles / 2));
        boolean clean;
        try (var ws = new Workspace(common.workDir, common.keep)) {
            try {
                // the failing plugin: loopback, the chain's last plugin, except that ADD fails while the flag exists;
                // BollardDaemon puts <conf>/../bin first in bin_dirs when it exists
                Path bin = Files.createDirectories(ws.path("cni/bin"));
                Path flag = ws.path("cni/fail-add");
                Path wrapper = bin.resolve(WRAPPER);
                Files.writeString(wrapper, """
                        #!/bin/sh
                        # the loopback plugin, except that ADD fails while %1$s exists
                        if [ "$CNI_COMMAND" = ADD ] && [ -e %1$s ]; then
                          echo '{"cniVersion": "1.0.0", "code": 11, "msg": "soak: injected ADD failure"}'
                          exit 1
                        fi
                        exec %2$s/loopback
                        """.formatted(flag, DaemonUnderTest.CNI_BIN_DIR));
                Files.setPosixFilePermissions(wrapper, PosixFilePermissions.fromString("rwxr-xr-x"));
                rig.open(ws, daemons);
                PodHost host = rig.host();
                Path conflist = host.confDir.resolve("10-bench.conflist");
                String original = Files.readString(conflist);
                String faulty = original.replace("{\"type\": \"loopback\"}", "{\"type\": \"" + WRAPPER + "\"}");
                if (faulty.equals(original)) {
                    throw new IOException("no loopback plugin to wrap in " + conflist);
                }
                Files.writeString(conflist, faulty);

                var run = rig.run(d.name());
                var c = rig.client(d.name());
                Path root = run.dir().resolve("root");
                Path state = run.dir().resolve("state");
                var rnd = new Random(seed);
                Set<String> filesBase = Set.of();
                Set<String> mountsBase = Set.of();
                Set<String> netnsBase = Set.of();
                long t0 = System.nanoTime();
                for (int i = 1; i <= cycles; i++) {
                    // the warm-up cycle (1) is never faulted: its leftovers (caches, indexes) are the baseline
                    Fault fault = i > 1 && rnd.nextDouble() < faultRate
                            ? Fault.values()[1 + rnd.nextInt(Fault.values().length - 1)] : Fault.NONE;
                    int delayMs = rnd.nextInt(60);
                    var cycle = cycle(rig, c, d.name(), i, fault, flag, delayMs);
                    done.add(cycle);
                    if (!cycle.ok()) {
                        System.out.printf("cycle %d (%s): %s%n", i, fault, cycle.errors());
                    }
                    if (i == 1) {
                        Thread.sleep(500);
                        filesBase = files(root, state);
                        mountsBase = mounts(run.dir());
                        netnsBase = names(PodHost.NETNS_DIR);
                    }
                    if (i == firstRssCycle) {
                        rssFirst = Proc.rssBytes(run.pid());
                        memFirst = JvmMemory.read(run.pid());
                    }
                    if (i % 50 == 0 || i == cycles) {
                        System.out.printf("%d/%d cycles, %.0f s, RSS %.1f MB%n", i, cycles,
                                (System.nanoTime() - t0) / 1e9, Proc.rssBytes(run.pid()) / 1e6);
                    }
                }
                Thread.sleep(settleMs);
                rssLast = Proc.rssBytes(run.pid());
                memLast = JvmMemory.read(run.pid());
                leaks.addAll(account(c, run, host, ws, root, state, filesBase, mountsBase, netnsBase));
                leaks.addAll(memoryLeaks(memFirst, memLast, firstRssCycle, memoryGrowthLimit / 100));
            } finally {
                clean = rig.tearDown(ws);
            }
        } finally {
            rig.cleanUpHost();
        }

        var injected = new EnumMap<Fault, Integer>(Fault.class);
        for (var f : Fault.values()) {
            injected.put(f, (int) done.stream().filter(cy -> cy.fault() == f).count());
        }
        long unexpected = done.stream().filter(cy -> !cy.ok()).count();
        int retries = done.stream().mapToInt(Cycle::cleanupRetries).sum();
        var rows = new ArrayList<Report.Row>();
        String name = d.name();
        rows.add(new Report.Row("cycles", "%.0f", Map.of(name, (double) done.size())));
        for (var f : Fault.values()) {
            rows.add(new Report.Row("faults: " + f.name().toLowerCase().replace('_', ' '), "%.0f",
                    Map.of(name, (double) injected.get(f))));
        }
        rows.add(new Report.Row("cycles not as expected", "%.0f", Map.of(name, (double) unexpected)));
        rows.add(new Report.Row("cleanup calls retried", "%.0f", Map.of(name, (double) retries)));
        rows.add(new Report.Row("RSS after cycle " + firstRssCycle + " (MB)", "%.1f", Map.of(name, rssFirst / 1e6)));
        rows.add(new Report.Row("RSS at the end (MB)", "%.1f", Map.of(name, rssLast / 1e6)));
        if (memFirst != null && memLast != null) {
            for (var pair : List.of(Map.entry("after cycle " + firstRssCycle, memFirst), Map.entry("at the end", memLast))) {
                var mem = pair.getValue();
                String at = pair.getKey();
                rows.add(new Report.Row("RSS after a full GC and trim, " + at + " (MB)", "%.1f", Map.of(name, mem.rssAfterGcBytes() / 1e6)));
                rows.add(new Report.Row("live heap after a full GC, " + at + " (MB)", "%.1f", Map.of(name, mem.liveHeapBytes() / 1e6)));
                if (mem.hasNmt()) {
                    rows.add(new Report.Row("NMT: JIT code cache, " + at + " (MB)", "%.1f",
                            Map.of(name, mem.nmtBytes(JvmMemory.CODE) / 1e6)));
                    rows.add(new Report.Row("NMT: committed outside the code cache, " + at + " (MB)", "%.1f",
                            Map.of(name, (mem.nmtBytes("Total") - mem.nmtBytes(JvmMemory.CODE)) / 1e6)));
                    rows.add(new Report.Row("RSS outside NMT (glibc's free memory, mapped files), " + at + " (MB)", "%.1f",
                            Map.of(name, mem.rssOutsideNmtBytes() / 1e6)));
                }
            }
        }
        for (var l : leaks) {
            rows.add(new Report.Row("left: " + l.kind(), "%.0f", Map.of(name, (double) l.count())));
        }
        System.out.println();
        System.out.print(Report.markdown("soak (seed " + seed + ", fault rate " + faultRate + ")", List.of(name), rows));
        for (var l : leaks) {
            if (l.count() > 0) {
                System.out.println("LEAK " + l.kind() + ": " + l.items());
            }
        }
        var body = new LinkedHashMap<String, Object>();
        var method = new LinkedHashMap<String, Object>();
        method.put("cycles", cycles);
        method.put("faultRate", faultRate);
        method.put("seed", seed);
        method.put("sequence", "RunPodSandbox, CreateContainer, StartContainer, StopContainer, RemoveContainer, "
                + "StopPodSandbox, RemovePodSandbox; faulted cycles then cleaned up through the CRI, retried until OK");
        method.put("faults", Map.of("CNI_ADD", "the chain's last plugin fails ADD (RunPodSandbox must fail, then a retry runs the cycle)",
                "SHIM_KILL", "the pod's shim SIGKILLed once the container runs",
                "STOP_DURING_CREATE", "StopPodSandbox 0-60 ms into a concurrent CreateContainer"));
        method.put("rssBaselineCycle", firstRssCycle);
        method.put("memoryGrowthLimitPercent", memoryGrowthLimit);
        body.put("method", method);
        body.put("table", Report.tableJson(List.of(name), rows));
        body.put("faultsInjected", injected);
        body.put("rssFirst", rssFirst);
        body.put("rssLast", rssLast);
        body.put("loadAverageAtEnd", Workspace.run(List.of("cat", "/proc/loadavg")).strip());
        body.put("memoryFirst", memFirst);
        body.put("memoryLast", memLast);
        body.put("leaks", leaks);
        body.put("unexpected", done.stream().filter(cy -> !cy.ok()).toList());
        // what a retried cleanup call answered first, though the cycle ended as expected
        body.put("retried", done.stream().filter(cy -> cy.ok() && cy.cleanupRetries() > 0).toList());
        Path file = Report.writeJson(common.resultsDir, "soak", Instant.now(), daemons, body);
        System.out.println("load average at the end: " + body.get("loadAverageAtEnd"));
        System.out.println("results: " + file);
        boolean leaked = leaks.stream().anyMatch(l -> l.count() > 0);
        return !leaked && clean ? 0 : 1;
    }

    /**
     * The daemon's memory from the baseline cycle to the end, both read after a full GC. A leak grows with the
     * cycles; what does not is the JIT's code cache, which grows until the workload's hot methods are compiled (at
     * every tier) and is bounded (ReservedCodeCacheSize): its growth, read from NMT, is shown and not counted. The
     * rest of the RSS must stay within {@code limit} (10 %), and the live heap too (or 1 MB: it is small).
     */
    private static List<Leak> memoryLeaks(JvmMemory first, JvmMemory last, int firstCycle, double limit) {
        var out = new ArrayList<Leak>();
        if (first == null || last == null) {
            out.add(new Leak("daemon RSS growth over 10 % (after a full GC, JIT code excluded)", 1,
                    List.of("no baseline read")));
            return out;
        }
        long codeGrowth = Math.max(0, last.nmtBytes(JvmMemory.CODE) - first.nmtBytes(JvmMemory.CODE));
        long rssGrowth = last.rssAfterGcBytes() - first.rssAfterGcBytes() - codeGrowth;
        String rss = "%.1f MB after cycle %d, %.1f MB at the end (after a full GC each), of which JIT code grew %.1f MB"
                .formatted(first.rssAfterGcBytes() / 1e6, firstCycle, last.rssAfterGcBytes() / 1e6, codeGrowth / 1e6);
        out.add(new Leak("daemon RSS growth over 10 % (after a full GC, JIT code excluded)",
                rssGrowth > first.rssAfterGcBytes() * limit ? 1 : 0, List.of(rss)));
        long heapGrowth = last.liveHeapBytes() - first.liveHeapBytes();
        String heap = "%.1f MB after cycle %d, %.1f MB at the end".formatted(first.liveHeapBytes() / 1e6, firstCycle,
                last.liveHeapBytes() / 1e6);
        out.add(new Leak("live heap growth over 10 % and 1 MB (after a full GC)",
                heapGrowth > first.liveHeapBytes() * limit && heapGrowth > 1_000_000 ? 1 : 0, List.of(heap)));
        return out;
    }

    private Cycle cycle(PodRig rig, CriClient c, String runtime, int n, Fault fault, Path flag, int delayMs)
            throws IOException, InterruptedException {
        long t0 = System.nanoTime();
        var errors = new ArrayList<String>();
        boolean ok = true;
        PodSandboxConfig cfg = rig.podConfig(runtime, "soak-" + n);
        if (fault == Fault.CNI_ADD) {
            Files.writeString(flag, "");
            try {
                runPod(c, cfg);
                ok = false;
                errors.add("RunPodSandbox answered OK despite the failing CNI plugin");
            } catch (RuntimeException expected) {
                // kubelet then retries with a new sandbox; the failed one must have left nothing
                if (expected.getMessage() == null || !expected.getMessage().contains("injected ADD failure")) {
                    ok = false;
                    errors.add("RunPodSandbox failed, but not naming the plugin's error: " + expected.getMessage());
                }
            } finally {
                Files.deleteIfExists(flag);
            }
            cfg = rig.podConfig(runtime, "soak-" + n + "-retry");
        }
        try {
            String pod = runPod(c, cfg);
            var podCfg = cfg;
            switch (fault) {
                case STOP_DURING_CREATE -> {
                    try (var pool = Executors.newVirtualThreadPerTaskExecutor()) {
                        var create = CompletableFuture.supplyAsync(() -> createContainer(c, pod, podCfg), pool);
                        Thread.sleep(delayMs);
                        c.runtimeLong(s -> s.stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(pod).build()));
                        try {
                            String ctr = create.get(callTimeout + 10L, TimeUnit.SECONDS);
                            // created: starting it in a stopped pod must be refused (not run outside the pod)
                            try {
                                c.runtimeLong(s -> s.startContainer(StartContainerRequest.newBuilder().setContainerId(ctr).build()));
                                ok = false;
                                errors.add("StartContainer in a stopped pod answered OK");
                            } catch (RuntimeException expected) {
                                // FAILED_PRECONDITION or the like
                            }
                        } catch (java.util.concurrent.ExecutionException refused) {
                            // the create lost the race: a clear refusal is fine
                        } catch (java.util.concurrent.TimeoutException e) {
                            ok = false;
                            errors.add("CreateContainer did not return after StopPodSandbox");
                        }
                    }
                }
                case SHIM_KILL -> {
                    String ctr = createContainer(c, pod, podCfg);
                    c.runtimeLong(s -> s.startContainer(StartContainerRequest.newBuilder().setContainerId(ctr).build()));
                    var shims = Proc.find(cmd -> !cmd.isEmpty() && cmd.getFirst().contains("containerd-shim")
                            && cmd.indexOf("-id") >= 0 && cmd.indexOf("-id") + 1 < cmd.size()
                            && cmd.get(cmd.indexOf("-id") + 1).equals(pod));
                    if (shims.isEmpty()) {
                        ok = false;
                        errors.add("no shim with -id " + pod);
                    }
                    for (long pid : shims) {
                        ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
                    }
                    Thread.sleep(delayMs);
                }
                case NONE, CNI_ADD -> {
                    String ctr = createContainer(c, pod, podCfg);
                    c.runtimeLong(s -> s.startContainer(StartContainerRequest.newBuilder().setContainerId(ctr).build()));
                    c.runtimeFor(stopTimeout, s -> s.stopContainer(StopContainerRequest.newBuilder()
                            .setContainerId(ctr).setTimeout(stopTimeout).build()));
                    c.runtime(s -> s.removeContainer(RemoveContainerRequest.newBuilder().setContainerId(ctr).build()));
                    c.runtimeLong(s -> s.stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(pod).build()));
                    c.runtimeLong(s -> s.removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(pod).build()));
                }
            }
        } catch (RuntimeException e) {
            ok = false;
            errors.add(e.getMessage());
        }
        int retries = cleanUp(c, errors);
        if (retries < 0) {
            ok = false;
            retries = -retries;
        }
        return new Cycle(n, fault, ok, errors, retries, (System.nanoTime() - t0) / 1e6);
    }

    /**
     * As kubelet: every container still listed stopped and removed, then every pod stopped and removed, each call
     * retried until it answers OK (at most 20 rounds). Returns the retries; negative when something stayed.
     */
    private int cleanUp(CriClient c, List<String> errors) throws InterruptedException {
        int retries = 0;
        for (int round = 0; round < 20; round++) {
            boolean failed = false;
            var ctrs = c.runtime(s -> s.listContainers(ListContainersRequest.getDefaultInstance())).getContainersList();
            for (var ctr : ctrs) {
                try {
                    c.runtimeFor(stopTimeout, s -> s.stopContainer(StopContainerRequest.newBuilder()
                            .setContainerId(ctr.getId()).setTimeout(stopTimeout).build()));
                    c.runtime(s -> s.removeContainer(RemoveContainerRequest.newBuilder().setContainerId(ctr.getId()).build()));
                } catch (RuntimeException e) {
                    failed = true;
                    retries++;
                    errors.add("cleanup container: " + e.getMessage());
                }
            }
            var pods = c.runtime(s -> s.listPodSandbox(ListPodSandboxRequest.getDefaultInstance())).getItemsList();
            for (var p : pods) {
                try {
                    c.runtimeLong(s -> s.stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(p.getId()).build()));
                    c.runtimeLong(s -> s.removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(p.getId()).build()));
                } catch (RuntimeException e) {
                    failed = true;
                    retries++;
                    errors.add("cleanup pod: " + e.getMessage());
                }
            }
            if (!failed) {
                return retries;
            }
            Thread.sleep(200);
        }
        return -Math.max(1, retries);
    }

    private static String runPod(CriClient c, PodSandboxConfig cfg) {
        return c.runtimeLong(s -> s.runPodSandbox(RunPodSandboxRequest.newBuilder().setConfig(cfg).build()))
                .getPodSandboxId();
    }

    private static String createContainer(CriClient c, String pod, PodSandboxConfig cfg) {
        return c.runtimeLong(s -> s.createContainer(CreateContainerRequest.newBuilder().setPodSandboxId(pod)
                .setConfig(PodRig.sleepConfig("sleep")).setSandboxConfig(cfg).build())).getContainerId();
    }

    // ---------------------------------------------------------------- the leak account

    private static List<Leak> account(CriClient c, DaemonUnderTest.Running run, PodHost host, Workspace ws,
                                      Path root, Path state, Set<String> filesBase, Set<String> mountsBase,
                                      Set<String> netnsBase) {
        var leaks = new ArrayList<Leak>();
        leaks.add(leak("pods listed", c.runtime(s -> s.listPodSandbox(ListPodSandboxRequest.getDefaultInstance()))
                .getItemsList().stream().map(p -> p.getId()).toList()));
        leaks.add(leak("containers listed", c.runtime(s -> s.listContainers(ListContainersRequest.getDefaultInstance()))
                .getContainersList().stream().map(x -> x.getId()).toList()));
        String dir = run.dir().toString();
        leaks.add(leak("processes naming the daemon's dirs (shims, runc, ...)",
                Proc.find(cmd -> !cmd.isEmpty() && String.join(" ", cmd).contains(dir))
                        .stream().filter(pid -> pid != run.pid() && pid != ProcessHandle.current().pid())
                        .map(pid -> pid + " " + String.join(" ", Proc.cmdline(pid))).toList()));
        var podProcs = new ArrayList<String>();
        var cgroups = new ArrayList<String>();
        for (Path hierarchy : names(PodHost.CGROUP_ROOT).stream().map(PodHost.CGROUP_ROOT::resolve).toList()) {
            Path tree = hierarchy.resolve(host.cgroupParent.substring(1));
            if (!Files.isDirectory(tree)) {
                continue;
            }
            try (Stream<Path> s = Files.walk(tree)) {
                for (Path p : s.toList()) {
                    if (p.getFileName().toString().equals("cgroup.procs")) {
                        for (String pid : Files.readAllLines(p)) {
                            if (!pid.isBlank()) {
                                podProcs.add(pid.strip() + " " + String.join(" ", Proc.cmdline(Long.parseLong(pid.strip()))));
                            }
                        }
                    } else if (Files.isDirectory(p) && !p.equals(tree)
                            && !p.getParent().equals(tree)) { // pod<uid> below the parent is kubelet's to remove
                        cgroups.add(PodHost.CGROUP_ROOT.relativize(p).toString());
                    }
                }
            } catch (IOException | RuntimeException e) {
                cgroups.add("(cannot walk " + tree + ": " + e.getMessage() + ")");
            }
        }
        leaks.add(leak("processes in the pods' cgroups", podProcs));
        leaks.add(leak("cgroups of pods and containers", cgroups));
        var mountsNow = new TreeSet<>(mounts(run.dir()));
        mountsNow.removeAll(mountsBase);
        leaks.add(leak("mounts under root and state", List.copyOf(mountsNow)));
        var netnsNow = new TreeSet<>(names(PodHost.NETNS_DIR));
        netnsNow.removeAll(netnsBase);
        netnsNow.removeIf(ns -> !host.ours(ns)); // others on the machine make netns there meanwhile
        names(state.resolve("netns")).forEach(pin -> netnsNow.add("state/netns/" + pin)); // Bollard's pins
        leaks.add(leak("netns", List.copyOf(netnsNow)));
        var ips = new ArrayList<String>();
        Path ipam = ws.path("cni/ipam");
        try (Stream<Path> s = Files.walk(ipam)) {
            s.filter(Files::isRegularFile).map(p -> p.getFileName().toString())
                    .filter(f -> !f.startsWith("last_reserved_ip") && !f.equals("lock")).forEach(ips::add);
        } catch (IOException e) {
            ips.add("(cannot walk " + ipam + ")");
        }
        leaks.add(leak("IP allocations", ips));
        var rules = new ArrayList<String>();
        for (String table : List.of("nat", "filter")) {
            for (String line : Workspace.run(List.of("iptables-save", "-t", table)).split("\n")) {
                if (line.startsWith("-A ") && (line.contains(" " + host.subnetPrefix + ".") || line.contains(host.network))) {
                    rules.add(table + ": " + line);
                }
            }
        }
        leaks.add(leak("iptables rules naming the subnet or network", rules));
        var filesNow = new TreeSet<>(files(root, state));
        filesNow.removeAll(filesBase);
        leaks.add(leak("files under root and state beyond the warm-up's", List.copyOf(filesNow)));
        return leaks;
    }

    private static Leak leak(String kind, List<String> items) {
        return new Leak(kind, items.size(), List.copyOf(items.subList(0, Math.min(20, items.size()))));
    }

    /** Every path under root and state, relative, prefixed by which. */
    private static Set<String> files(Path root, Path state) {
        var out = new HashSet<String>();
        for (Path base : List.of(root, state)) {
            try (Stream<Path> s = Files.walk(base)) {
                s.forEach(p -> out.add(base.getFileName() + "/" + base.relativize(p)));
            } catch (IOException | RuntimeException e) {
                // a file removed while walking: the next reading counts it
            }
        }
        return out;
    }

    /** Mount points under {@code dir}. */
    private static Set<String> mounts(Path dir) {
        var out = new HashSet<String>();
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
                String[] f = line.split(" ");
                if (f.length > 4 && f[4].startsWith(dir + "/")) {
                    out.add(f[4]);
                }
            }
        } catch (IOException e) {
            out.add("(cannot read mountinfo)");
        }
        return out;
    }

    private static Set<String> names(Path dir) {
        try (Stream<Path> s = Files.list(dir)) {
            return new HashSet<>(s.map(p -> p.getFileName().toString()).toList());
        } catch (IOException e) {
            return new HashSet<>();
        }
    }
}
