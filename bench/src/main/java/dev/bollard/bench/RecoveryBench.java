package dev.bollard.bench;

import dev.bollard.api.cri.v1.ContainerConfig;
import dev.bollard.api.cri.v1.ContainerMetadata;
import dev.bollard.api.cri.v1.ContainerState;
import dev.bollard.api.cri.v1.CreateContainerRequest;
import dev.bollard.api.cri.v1.ImageSpec;
import dev.bollard.api.cri.v1.LinuxContainerConfig;
import dev.bollard.api.cri.v1.LinuxContainerSecurityContext;
import dev.bollard.api.cri.v1.LinuxPodSandboxConfig;
import dev.bollard.api.cri.v1.LinuxSandboxSecurityContext;
import dev.bollard.api.cri.v1.ListContainersRequest;
import dev.bollard.api.cri.v1.ListPodSandboxRequest;
import dev.bollard.api.cri.v1.NamespaceMode;
import dev.bollard.api.cri.v1.NamespaceOption;
import dev.bollard.api.cri.v1.PodSandboxConfig;
import dev.bollard.api.cri.v1.PodSandboxMetadata;
import dev.bollard.api.cri.v1.PodSandboxState;
import dev.bollard.api.cri.v1.RemovePodSandboxRequest;
import dev.bollard.api.cri.v1.RunPodSandboxRequest;
import dev.bollard.api.cri.v1.StartContainerRequest;
import dev.bollard.api.cri.v1.StopPodSandboxRequest;
import dev.bollard.cli.CriClient;
import dev.bollard.daemon.linux.ProcessClock;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.Callable;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

/**
 * Restart recovery time (issue 7; a benchmark, not a test): N pods with one sleeping container each, the daemon
 * SIGKILLed, started again on the same root and state; measured from the new process's start to its first
 * answered CRI Version and to its first answered ListPodSandbox (which waits for recovery), and what its own
 * "recovery done" log line says (recovery's own time, and its time since
 * the JVM started). Run by {@code bench/recovery.sh --pods N}; results in {@code bench/results/recovery-*.json}.
 */
public final class RecoveryBench {

    private static final Pattern RECOVERY_DONE = Pattern.compile(
            "msg=\"recovery done\" pods=(\\d+) containers=(\\d+) leaksCleaned=(\\d+) millis=(\\d+) sinceProcessStartMillis=(-?\\d+)"
                    + "(?: podsMillis=(\\d+) containersMillis=(\\d+) leakScanMillis=(\\d+))?");

    public static void main(String[] args) throws Exception {
        int pods = 50;
        Path checkout = Path.of(".");
        Path workDir = null;
        Path resultsDir = Path.of("bench/results");
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--pods" -> pods = Integer.parseInt(args[++i]);
                case "--checkout" -> checkout = Path.of(args[++i]);
                case "--work-dir" -> workDir = Path.of(args[++i]);
                case "--results-dir" -> resultsDir = Path.of(args[++i]);
                default -> throw new IllegalArgumentException("unknown option " + args[i]
                        + " (known: --pods N, --checkout DIR, --work-dir DIR, --results-dir DIR)");
            }
        }
        if (workDir == null) {
            throw new IllegalArgumentException("--work-dir is required");
        }
        System.exit(run(pods, checkout.toAbsolutePath(), workDir, resultsDir));
    }

    private static int run(int pods, Path checkout, Path workDir, Path resultsDir) throws Exception {
        PodHost host = null;
        try (var ws = new Workspace(workDir, false)) {
            try {
                List<String> bollard = List.of(checkout.resolve("bin/bollard").toString());
                host = PodHost.create(ws.dir(), bollard);
                var daemon = new BollardDaemon(checkout, null, "info", null, java.util.Map.of());
                Path certsD = Files.createDirectories(ws.path("certs.d"));
                daemon.prepare(ws, certsD);
                var setup = new DaemonUnderTest.PodSetup(host.confDir, PodHost.PAUSE);
                Path dir = ws.path("bollard");
                var first = daemon.start(ws, dir, certsD, setup);
                host.importInto(daemon, first, bollard);
                List<String> ids;
                try (var c = new CriClient(first.endpoint(), 120)) {
                    long t0 = System.nanoTime();
                    ids = startPods(c, host, ws.dir(), pods);
                    System.out.printf("%d pods with a running container each, started in %.1f s%n", pods,
                            (System.nanoTime() - t0) / 1e9);
                }
                // the shims' CPU when nobody calls them (Go's runtime ticks), over 2 s: the base under the figure below
                long idleFrom = cpuTicksOfShims(ws.dir());
                long idleStart = System.nanoTime();
                Thread.sleep(2000);
                double shimIdleCpuMillisPerSecond = (cpuTicksOfShims(ws.dir()) - idleFrom) * 1000.0 / ProcessClock.USER_HZ
                        / ((System.nanoTime() - idleStart) / 1e9);
                first.process().destroyForcibly();
                first.process().waitFor(30, TimeUnit.SECONDS);
                System.out.println("daemon SIGKILLed (exit " + first.process().exitValue() + ")");
                Files.move(first.log(), dir.resolve("bollard-before-kill.log"));

                // the shims' CPU so far: what they spend answering the next daemon's recovery is the difference
                long shimTicksBefore = cpuTicksOfShims(ws.dir());
                long t0 = System.nanoTime();
                var second = daemon.start(ws, dir, certsD, setup); // returns once Version answers
                double versionMillis = (System.nanoTime() - t0) / 1e6;
                // From /proc's ticks, not ProcessHandle's startInstant (whole seconds of boot time: up to 1 s off)
                long pid = second.process().pid();
                double versionSinceProcessStart = ProcessClock.millisSinceStart(pid);
                long daemonCpuMillisAtVersion = cpuTicks(pid) * 1000 / ProcessClock.USER_HZ;
                int ready;
                int running;
                double listSinceProcessStart;
                double listSinceLaunch;
                long daemonCpuMillis;
                long shimCpuMillis;
                String threadsCpu;
                java.util.regex.Matcher m;
                try (var c = new CriClient(second.endpoint(), 120)) {
                    try {
                        // Version and Status answer before recovery; ListPodSandbox waits for it (RecoveryGate): its
                        // answer is the first with every pod's state right
                        ready = (int) c.runtime(s -> s.listPodSandbox(ListPodSandboxRequest.getDefaultInstance()))
                                .getItemsList().stream().filter(p -> p.getState() == PodSandboxState.SANDBOX_READY).count();
                        listSinceProcessStart = ProcessClock.millisSinceStart(pid);
                        listSinceLaunch = (System.nanoTime() - t0) / 1e6;
                        // CPU is what a loaded node's wall clock hides: the daemon's up to this answer (start-up
                        // included), and the shims' for the same span
                        daemonCpuMillis = cpuTicks(pid) * 1000 / ProcessClock.USER_HZ;
                        shimCpuMillis = (cpuTicksOfShims(ws.dir()) - shimTicksBefore) * 1000 / ProcessClock.USER_HZ;
                        threadsCpu = cpuByThreadKind(pid);
                        m = RECOVERY_DONE.matcher(Files.readString(second.log()));
                        if (!m.find()) {
                            throw new IllegalStateException("no \"recovery done\" line in " + second.log());
                        }
                        running = (int) c.runtime(s -> s.listContainers(ListContainersRequest.getDefaultInstance()))
                                .getContainersList().stream().filter(x -> x.getState() == ContainerState.CONTAINER_RUNNING)
                                .count();
                        System.out.printf("after the restart: %d of %d pods ready, %d containers running%n", ready, pods,
                                running);
                        System.out.printf("recovery: %s ms (daemon's own measure: reading records, reconnecting shims, "
                                + "leak scan)%n", m.group(4));
                        System.out.printf("  of which: pods %s ms, containers %s ms, leak scan %s ms%n", m.group(6),
                                m.group(7), m.group(8));
                        System.out.printf("recovery done: %s ms after the JVM started%n", m.group(5));
                        System.out.printf("first answered Version: %.0f ms after the process started "
                                + "(%.0f ms after the launcher was run)%n", versionSinceProcessStart, versionMillis);
                        System.out.printf("first answered ListPodSandbox (every pod's state right): %.0f ms after the "
                                + "process started (%.0f ms after the launcher was run)%n", listSinceProcessStart,
                                listSinceLaunch);
                        System.out.printf("CPU until then: daemon %d ms (since its start; %d ms at the first Version), "
                                + "shims %d ms (idle: %.0f ms/s)%n", daemonCpuMillis, daemonCpuMillisAtVersion,
                                shimCpuMillis, shimIdleCpuMillisPerSecond);
                        System.out.println("  the daemon's CPU by thread (ms): " + threadsCpu);
                    } finally {
                        removePods(c, ids); // also when a check above failed: nothing left running
                    }
                }
                second.stop();
                Files.createDirectories(resultsDir);
                String ts = java.time.format.DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")
                        .withZone(java.time.ZoneOffset.UTC).format(Instant.now());
                Path json = resultsDir.resolve("recovery-" + ts + ".json");
                Files.writeString(json, """
                        {"workload": "recovery", "version": "%s", "machine": %s, "pods": %d, "readyAfter": %d,
                         "runningAfter": %d, "recoveryMillis": %s, "recoveryDoneSinceJvmStartMillis": %s,
                         "firstVersionSinceProcessStartMillis": %.0f, "firstVersionSinceLaunchMillis": %.0f,
                         "firstListPodSandboxSinceProcessStartMillis": %.0f, "firstListPodSandboxSinceLaunchMillis": %.0f,
                         "podsMillis": %s, "containersMillis": %s, "leakScanMillis": %s,
                         "daemonCpuMillisAtFirstVersion": %d, "daemonCpuMillisAtFirstList": %d,
                         "shimsCpuMillisAtFirstList": %d,
                         "shimsIdleCpuMillisPerSecond": %.0f, "loadAverage": "%s"}
                        """.formatted(daemon.version(), "\"" + Runtime.getRuntime().availableProcessors() + " cpus\"",
                        pods, ready, running, m.group(4), m.group(5), versionSinceProcessStart, versionMillis,
                        listSinceProcessStart, listSinceLaunch, m.group(6), m.group(7), m.group(8), daemonCpuMillisAtVersion,
                        daemonCpuMillis,
                        shimCpuMillis, shimIdleCpuMillisPerSecond, loadAverage()));
                System.out.println("results: " + json);
                return ready == pods && running == pods ? 0 : 1;
            } finally {
                if (host != null) {
                    cleanUp(host);
                }
            }
        }
    }

    /** A process's user + system CPU in clock ticks (/proc/<pid>/stat fields 14 and 15); 0 when it is gone. */
    private static long cpuTicks(long pid) {
        try {
            String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
            String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            return Long.parseLong(fields[11]) + Long.parseLong(fields[12]); // fields[0] is field 3
        } catch (java.io.IOException | RuntimeException e) {
            return 0;
        }
    }

    /**
     * The daemon's CPU so far by kind of thread (/proc/<pid>/task/<tid>/comm with digits dropped: the JIT's
     * compiler threads, GC, virtual threads' carriers, event loops, ...), largest first.
     */
    private static String cpuByThreadKind(long pid) {
        var byKind = new java.util.TreeMap<String, Long>();
        try (var tasks = Files.list(Path.of("/proc", Long.toString(pid), "task"))) {
            for (Path t : tasks.toList()) {
                try {
                    String kind = Files.readString(t.resolve("comm")).strip().replaceAll("[0-9]+", "#");
                    String stat = Files.readString(t.resolve("stat"));
                    String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
                    byKind.merge(kind, (Long.parseLong(f[11]) + Long.parseLong(f[12])) * 1000 / ProcessClock.USER_HZ,
                            Long::sum);
                } catch (java.io.IOException | RuntimeException e) {
                    // ended meanwhile
                }
            }
        } catch (java.io.IOException e) {
            return "";
        }
        return byKind.entrySet().stream().filter(e -> e.getValue() > 0)
                .sorted(java.util.Map.Entry.<String, Long>comparingByValue().reversed())
                .map(e -> e.getKey() + "=" + e.getValue()).collect(java.util.stream.Collectors.joining(" "));
    }

    /** The CPU ticks of the shims serving this workspace's pods (their command line names its directory). */
    private static long cpuTicksOfShims(Path ws) {
        long sum = 0;
        try (var procs = Files.list(Path.of("/proc"))) {
            for (Path p : procs.toList()) {
                String name = p.getFileName().toString();
                if (!name.chars().allMatch(Character::isDigit)) {
                    continue;
                }
                try {
                    String cmd = Files.readString(p.resolve("cmdline")).replace('\0', ' ');
                    if (cmd.contains("containerd-shim") && cmd.contains(ws.toString())) {
                        sum += cpuTicks(Long.parseLong(name));
                    }
                } catch (java.io.IOException | RuntimeException e) {
                    // gone meanwhile
                }
            }
        } catch (java.io.IOException e) {
            return 0;
        }
        return sum;
    }

    /** The node's load average at the end (the figures are only comparable on a quiet node). */
    private static String loadAverage() {
        try {
            return Files.readString(Path.of("/proc/loadavg")).strip();
        } catch (java.io.IOException e) {
            return "";
        }
    }

    /**
     * The bridge and the pods' cgroup tree. Not {@link PodHost#cleanUp}: it kills what runs in the pods' cgroups and
     * sweeps {@code /var/run/netns}, while Bollard pins its own namespaces under its state directory (gone with the
     * workspace). The pods' NAT rules went with their CNI DEL.
     */
    private static void cleanUp(PodHost host) {
        if (Files.exists(Path.of("/sys/class/net", host.bridge))) {
            Workspace.run(List.of("ip", "link", "del", "dev", host.bridge));
        }
        try (var hierarchies = Files.list(PodHost.CGROUP_ROOT)) {
            for (Path h : hierarchies.toList()) {
                Path tree = h.resolve(host.cgroupParent.substring(1));
                if (Files.isDirectory(tree) && !PodHost.removeCgroupTree(tree)) {
                    System.err.println("bench: cgroup still busy, left: " + tree);
                }
            }
        } catch (java.io.IOException e) {
            System.err.println("bench: cannot list " + PodHost.CGROUP_ROOT + ": " + e.getMessage());
        }
    }

    private static List<String> startPods(CriClient c, PodHost host, Path ws, int n) throws Exception {
        var ns = NamespaceOption.newBuilder().setNetwork(NamespaceMode.POD).setPid(NamespaceMode.POD)
                .setIpc(NamespaceMode.POD);
        var tasks = new ArrayList<Callable<String>>();
        for (int i = 0; i < n; i++) {
            String name = "recovery-" + i;
            tasks.add(() -> {
                String uid = UUID.randomUUID().toString();
                Path logs = Files.createDirectories(ws.resolve("logs").resolve(name));
                var cfg = PodSandboxConfig.newBuilder()
                        .setMetadata(PodSandboxMetadata.newBuilder().setName(name).setNamespace("bench").setUid(uid))
                        .setHostname(name).setLogDirectory(logs.toString()).putLabels("bollard-bench", host.suffix)
                        .setLinux(LinuxPodSandboxConfig.newBuilder().setCgroupParent(host.podCgroup(uid))
                                .setSecurityContext(LinuxSandboxSecurityContext.newBuilder().setNamespaceOptions(ns)))
                        .build();
                String pod = c.runtimeLong(s -> s.runPodSandbox(RunPodSandboxRequest.newBuilder().setConfig(cfg).build()))
                        .getPodSandboxId();
                var ctr = ContainerConfig.newBuilder().setMetadata(ContainerMetadata.newBuilder().setName("sleep"))
                        .setImage(ImageSpec.newBuilder().setImage(PodHost.BUSYBOX))
                        .addAllCommand(List.of("/bin/sleep", "3600")).setLogPath("sleep_0.log")
                        .setLinux(LinuxContainerConfig.newBuilder().setSecurityContext(
                                LinuxContainerSecurityContext.newBuilder().setNamespaceOptions(ns)))
                        .build();
                String id = c.runtimeLong(s -> s.createContainer(CreateContainerRequest.newBuilder()
                        .setPodSandboxId(pod).setConfig(ctr).setSandboxConfig(cfg).build())).getContainerId();
                c.runtimeLong(s -> s.startContainer(StartContainerRequest.newBuilder().setContainerId(id).build()));
                return pod;
            });
        }
        return all(tasks);
    }

    private static void removePods(CriClient c, List<String> ids) throws Exception {
        var tasks = new ArrayList<Callable<String>>();
        for (String id : ids) {
            tasks.add(() -> {
                c.runtimeLong(s -> s.stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(id).build()));
                c.runtimeLong(s -> s.removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(id).build()));
                return id;
            });
        }
        all(tasks);
    }

    /** Runs the calls 8 at a time (as kubelet's pod workers would), in order of the list; fails on the first error. */
    private static List<String> all(List<Callable<String>> tasks) throws Exception {
        try (var pool = Executors.newFixedThreadPool(8, Thread.ofVirtual().factory())) {
            var futures = new ArrayList<Future<String>>();
            for (var t : tasks) {
                futures.add(pool.submit(t));
            }
            var out = new ArrayList<String>();
            for (var f : futures) {
                out.add(f.get());
            }
            return out;
        }
    }
}
