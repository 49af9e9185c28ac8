package dev.bollard.daemon.shim;

import com.google.gson.Gson;
import dev.bollard.api.containerd.types.Mount;
import dev.bollard.daemon.linux.Syscalls;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.FileInputStream;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Against the real containerd-shim-runc-v2 and runc, as root (CI runs these as root with both installed; a missing
 * piece fails the test rather than skipping it). Each test uses its own namespace-free names: a random cgroup
 * parent, temp directories, a runc root of its own, and removes all of it afterwards.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class ShimManagerTest {

    @org.junit.jupiter.api.BeforeAll
    static void needsRoot() {
        dev.bollard.daemon.testkit.Root.assume("real shims running runc");
    }

    private static final Path SHIM_BINARY = Path.of("/usr/bin/containerd-shim-runc-v2");
    private static final String NAMESPACE = "bollard-test";
    private static final long WAIT_MS = 20_000;

    private final String suffix = UUID.randomUUID().toString().substring(0, 8);
    private final String cgroupParent = "bollard-test-" + suffix;
    private final List<Event> events = new CopyOnWriteArrayList<>();
    private final List<Shim> shims = new ArrayList<>();
    private final List<String> taskIds = new ArrayList<>();
    private final List<Path> fifos = new ArrayList<>();

    private Path root;
    private Path runcRoot;
    private ShimOptions options;
    private ShimManager manager;

    sealed interface Event {
    }

    record Exit(String containerId, String execId, int pid, int status, Instant at) implements Event {
    }

    record Oom(String containerId) implements Event {
    }

    @BeforeEach
    void setUp() throws IOException {
        assertEquals(0, Syscalls.geteuid(), "these tests need root (runc, mounts, cgroups)");
        assertTrue(Files.isExecutable(SHIM_BINARY), SHIM_BINARY + " is needed (Debian package containerd)");
        assertTrue(Files.isExecutable(Path.of("/bin/busybox")), "/bin/busybox is needed (busybox-static)");
        // runc refuses a rootfs path with a symlink in it: use the real path of the temp directory.
        root = Files.createTempDirectory("bollard-shim-").toRealPath();
        runcRoot = root.resolve("runc");
        options = new ShimOptions(SHIM_BINARY, "runc", Optional.of(runcRoot), false);
        manager = new ShimManager(root.resolve("state"), NAMESPACE, new ShimEvents() {
            @Override
            public void taskExit(String containerId, String execId, int pid, int exitStatus, Instant exitedAt) {
                events.add(new Exit(containerId, execId, pid, exitStatus, exitedAt));
            }

            @Override
            public void taskOom(String containerId) {
                events.add(new Oom(containerId));
            }
        });
    }

    @AfterEach
    void tearDown() throws Exception {
        var problems = new ArrayList<String>();
        for (String id : taskIds) {
            run(List.of("runc", "--root", runcRoot.resolve(NAMESPACE).toString(), "delete", "--force", id));
        }
        for (Shim shim : shims) {
            shim.close();
            ProcessHandle.of(shim.shimPid()).ifPresent(p -> {
                p.destroyForcibly();
                p.onExit().join();
            });
            Files.deleteIfExists(shim.socket());
        }
        for (Path fifo : fifos) {
            if (Files.exists(fifo)) {
                // Wakes a reader still blocked in open(2).
                FileChannel.open(fifo, StandardOpenOption.READ, StandardOpenOption.WRITE).close();
            }
        }
        if (manager != null) {
            manager.close();
        }
        List<String> mounts = mountsUnder(root);
        for (String mount : mounts.reversed()) {
            try {
                Syscalls.umount2(Path.of(mount), Syscalls.MNT_DETACH);
            } catch (IOException e) {
                problems.add("umount " + mount + ": " + e.getMessage());
            }
        }
        try (Stream<Path> hierarchies = Files.list(Path.of("/sys/fs/cgroup"))) {
            for (Path hierarchy : hierarchies.toList()) {
                Path parent = hierarchy.resolve(cgroupParent);
                if (Files.isDirectory(parent)) {
                    try (Stream<Path> walk = Files.walk(parent)) {
                        for (Path dir : walk.filter(Files::isDirectory).sorted(Comparator.reverseOrder()).toList()) {
                            Files.delete(dir); // rmdir(2); cgroupfs files go with their directory
                        }
                    }
                }
            }
        }
        if (mountsUnder(root).isEmpty()) {
            try (Stream<Path> walk = Files.walk(root)) {
                for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
                    Files.deleteIfExists(p);
                }
            }
        } else {
            problems.add("mounts left under " + root + ", not deleting it: " + mountsUnder(root));
        }
        if (!problems.isEmpty()) {
            fail("cleanup: " + problems);
        }
    }

    @Test
    void podLifecycleWithTwoContainersAndAnExec() throws Exception {
        String podId = "pod-" + suffix;
        Path podBundle = bundle(podId, podId, List.of("sleep", "1000"), true);
        Shim shim = track(manager.start(podId, podBundle, options));
        assertEquals(2, shim.apiVersion());
        assertTrue(shim.shimPid() > 0);
        assertTrue(shim.isAlive());
        assertTrue(shim.socket().startsWith("/run/containerd/s"), shim.socket().toString());
        assertEquals("unix://" + shim.socket(), Files.readString(podBundle.resolve("address")).strip());
        awaitTrue(() -> shim.recentLog().stream().anyMatch(l -> l.contains("starting signal loop")),
                "the shim's log FIFO shows up: " + shim.recentLog());

        // Reconnecting (as after a daemon restart) finds the same shim from the bundle's address file.
        shim.close();
        // Reconnecting to ask a task's state at once (recovery): the pid from the shim's shim.pid, no Connect call
        Shim asked = (Shim) manager.connectToAsk(podId, podBundle, options);
        assertEquals(shim.shimPid(), asked.shimPid());
        assertTrue(asked.isAlive());
        asked.close();
        Shim pod = track((Shim) manager.connect(podId, podBundle, options));
        assertEquals(shim.shimPid(), pod.shimPid());

        taskIds.add(podId);
        int podPid = pod.create(podId, podBundle, List.of(), TaskIo.NONE);
        assertTrue(podPid > 0);
        assertEquals(TaskState.Status.CREATED, pod.state(podId, "").status());
        assertEquals(podPid, pod.start(podId, ""));
        TaskState running = pod.state(podId, "");
        assertEquals(TaskState.Status.RUNNING, running.status());
        assertEquals(podPid, running.pid());
        assertEquals(Instant.EPOCH, running.exitedAt());
        assertTrue(pod.pids(podId).contains(podPid), "pids " + pod.pids(podId));

        pod.update(podId, "{\"cpu\":{\"shares\":512}}".getBytes(StandardCharsets.UTF_8));
        assertEquals("512", Files.readString(Path.of("/sys/fs/cgroup/cpu", cgroupParent, podId, "cpu.shares")).strip());

        // A second container of the pod: its start lands in the same shim, which starts no new process.
        String ctrId = "ctr-" + suffix;
        Path ctrBundle = bundle(ctrId, podId, List.of("echo", "hi"), false);
        try (Shim joined = manager.start(podId, ctrBundle, options)) {
            assertEquals(pod.socket(), joined.socket());
            assertEquals(pod.shimPid(), joined.shimPid());
            assertFalse(Files.exists(ctrBundle.resolve("log")), "no log FIFO for a shim that is already running");
        }
        assertTrue(pod.isAlive(), "closing the joined connection leaves the shim running");

        // Its root comes from a bind mount the shim performs onto <bundle>/rootfs.
        Path image = root.resolve("images").resolve(ctrId);
        populateRootfs(image);
        Path stdout = fifo(root.resolve("io").resolve(ctrId + ".stdout"));
        Path stderr = fifo(root.resolve("io").resolve(ctrId + ".stderr"));
        CompletableFuture<String> output = readFifo(stdout);
        CompletableFuture<String> errors = readFifo(stderr);
        taskIds.add(ctrId);
        Mount bind = Mount.newBuilder().setType("bind").setSource(image.toString()).addOptions("rbind")
                .addOptions("rw").build();
        int ctrPid = pod.create(ctrId, ctrBundle, List.of(bind), new TaskIo("", stdout.toString(), stderr.toString(), false));
        assertTrue(mountsUnder(ctrBundle).contains(ctrBundle.resolve("rootfs").toString()),
                "rootfs mounted: " + mountsUnder(ctrBundle));
        pod.start(ctrId, "");
        ExitInfo ctrExit = pod.await(ctrId, "");
        assertEquals(0, ctrExit.exitStatus());
        assertEquals(ctrPid, ctrExit.pid());
        assertEquals("hi\n", output.get(10, TimeUnit.SECONDS));
        assertEquals("", errors.get(10, TimeUnit.SECONDS));
        Exit ctrEvent = awaitExit(ctrId, "");
        assertEquals(0, ctrEvent.status());
        assertEquals(ctrPid, ctrEvent.pid());
        assertTrue(ctrEvent.at().isAfter(Instant.EPOCH));
        assertEquals(TaskState.Status.STOPPED, pod.state(ctrId, "").status());
        assertEquals(0, pod.delete(ctrId, "").exitStatus());
        assertEquals(List.of(), mountsUnder(ctrBundle), "the shim unmounted the container's rootfs");
        assertFalse(Files.exists(Path.of("/sys/fs/cgroup/memory", cgroupParent, ctrId)), "container cgroup removed");
        assertThrows(ShimNotFoundException.class, () -> pod.state(ctrId, ""));
        assertThrows(ShimNotFoundException.class, () -> pod.delete(ctrId, ""));

        // An exec in the running pod task.
        String process = new Gson().toJson(Map.of("args", List.of("sh", "-c", "exit 3"), "cwd", "/",
                "env", List.of("PATH=/bin"), "user", Map.of("uid", 0, "gid", 0), "terminal", false));
        pod.exec(podId, "exec-1", TaskIo.NONE, process.getBytes(StandardCharsets.UTF_8));
        int execPid = pod.start(podId, "exec-1");
        assertTrue(execPid > 0 && execPid != podPid);
        assertEquals(3, pod.await(podId, "exec-1").exitStatus());
        Exit execEvent = awaitExit(podId, "exec-1");
        assertEquals(3, execEvent.status());
        assertEquals(execPid, execEvent.pid());
        assertEquals(3, pod.delete(podId, "exec-1").exitStatus());

        // Kill: busybox sleep as pid 1 of its namespace ignores SIGTERM, so SIGKILL.
        pod.kill(podId, "", 9, false);
        assertEquals(137, pod.await(podId, "").exitStatus());
        assertEquals(137, awaitExit(podId, "").status());
        pod.kill(podId, "", 9, false); // already exited: not an error
        ShimException unknownKill = assertThrows(ShimException.class, () -> pod.kill("no-such-" + suffix, "", 9, false));
        assertTrue(unknownKill instanceof ShimNotFoundException, unknownKill.toString());
        ExitInfo podExit = pod.delete(podId, "");
        assertEquals(137, podExit.exitStatus());
        assertEquals(podPid, podExit.pid());
        assertFalse(Files.exists(Path.of("/sys/fs/cgroup/memory", cgroupParent, podId)), "pod cgroup removed");

        // Events of one container arrive in order; the exec's exit came before the init's.
        List<Event> podEvents = events.stream().filter(e -> e instanceof Exit x && x.containerId().equals(podId)).toList();
        assertEquals(List.of("exec-1", ""), podEvents.stream().map(e -> ((Exit) e).execId()).toList());

        int shimPid = pod.shimPid();
        pod.shutdown();
        assertTrue(Shim.gone(shimPid), "shim process gone (or a zombie waiting for init to reap it)");
        assertFalse(Files.exists(pod.socket()), "shim socket removed");
        assertFalse(pod.isAlive());
        assertEquals(List.of(), mountsUnder(root), "no mounts left");
        assertFalse(Files.exists(runcRoot.resolve(NAMESPACE).resolve(podId)), "runc state removed");
    }

    @Test
    void aStrayShimIsKilledAndItsSocketRemoved() throws Exception {
        String podId = "stray-" + suffix;
        Path bundle = bundle(podId, podId, List.of("sleep", "1000"), true);
        Shim shim = track(manager.start(podId, bundle, options));
        assertTrue(Files.exists(shim.socket()), "the shim serves its socket");
        long shimPid = shim.shimPid();

        var killed = manager.killStray(java.util.Set.of());
        assertEquals(podId, killed.get(shimPid));
        assertFalse(ProcessHandle.of(shimPid).map(ProcessHandle::isAlive).orElse(false), "the stray shim is gone");
        assertFalse(Files.exists(shim.socket()), "its socket file is not left in " + shim.socket().getParent());
    }

    @Test
    void cleanupDeadAfterTheShimWasKilled() throws Exception {
        String podId = "dead-" + suffix;
        Path bundle = bundle(podId, podId, List.of("sleep", "1000"), true);
        Shim shim = track(manager.start(podId, bundle, options));
        taskIds.add(podId);
        int pid = shim.create(podId, bundle, List.of(), TaskIo.NONE);
        shim.start(podId, "");

        var shimProcess = ProcessHandle.of(shim.shimPid()).orElseThrow();
        shimProcess.destroyForcibly();
        shimProcess.onExit().get(10, TimeUnit.SECONDS);
        awaitTrue(() -> !shim.isAlive(), "the connection notices the shim's death");
        assertThrows(ShimException.class, () -> shim.state(podId, ""));
        assertTrue(alive(pid), "the container outlives its shim");

        ExitInfo exit = manager.cleanupDead(podId, bundle, options).orElseThrow();
        assertEquals(pid, exit.pid());
        assertEquals(137, exit.exitStatus());
        awaitTrue(() -> !alive(pid), "runc delete --force killed the container");
        assertFalse(Files.exists(runcRoot.resolve(NAMESPACE).resolve(podId)), "runc state removed");
        assertFalse(Files.exists(shim.socket()), "stale shim socket removed");
        assertEquals(List.of(), mountsUnder(bundle));
        // Idempotent.
        manager.cleanupDead(podId, bundle, options);

        // A bundle where no task was ever created has nothing to clean.
        String neverId = "never-" + suffix;
        assertEquals(Optional.empty(), manager.cleanupDead(neverId, bundle(neverId, neverId, List.of("true"), true),
                options));
        assertThrows(IllegalArgumentException.class, () -> manager.cleanupDead("other", bundle, options));
    }

    @Test
    void missingShimBinaryIsAClearError() throws Exception {
        String podId = "nobin-" + suffix;
        Path bundle = bundle(podId, podId, List.of("true"), true);
        Path missing = root.resolve("no-such-shim");
        var bad = new ShimOptions(missing, "runc", Optional.of(runcRoot), false);
        IOException e = assertThrows(IOException.class, () -> manager.start(podId, bundle, bad));
        assertTrue(e.getMessage().contains(missing.toString()), e.getMessage());
        assertFalse(Files.exists(bundle.resolve("log")), "the log FIFO made for the failed start is removed");
    }

    @Test
    void failingShimReportsItsOutput() throws Exception {
        String podId = "fail-" + suffix;
        Path bundle = bundle(podId, podId, List.of("true"), true);
        Path script = root.resolve("failing-shim");
        Files.writeString(script, "#!/bin/sh\necho \"cannot do it: $*\" >&2\nexit 3\n");
        Syscalls.chmod(script, 0755);
        var bad = new ShimOptions(script, "runc", Optional.empty(), false);
        IOException e = assertThrows(IOException.class, () -> manager.start(podId, bundle, bad));
        assertTrue(e.getMessage().contains("exited with 3"), e.getMessage());
        assertTrue(e.getMessage().contains("cannot do it: -namespace " + NAMESPACE), e.getMessage());
    }

    @Test
    void stdoutWithoutStderrIsRefusedBeforeTheShimSeesIt() {
        assertThrows(IllegalArgumentException.class, () -> new TaskIo("", "/x/stdout", "", false));
        assertThrows(IllegalArgumentException.class, () -> new TaskIo("", "/x/stdout", "/x/stderr", true));
    }

    @Test
    void startWithoutConfigIsRefused() throws Exception {
        Path empty = Files.createDirectories(root.resolve("bundles").resolve("empty"));
        var e = assertThrows(IOException.class, () -> manager.start("empty", empty, options));
        assertTrue(e.getMessage().contains("config.json"), e.getMessage());
    }

    // --- helpers ---

    private Shim track(Shim shim) {
        shims.add(shim);
        return shim;
    }

    /** A bundle directory named {@code id} with config.json and, if asked, a prepared rootfs. */
    private Path bundle(String id, String sandboxId, List<String> args, boolean withRootfs) throws IOException {
        Path bundle = Files.createDirectories(root.resolve("bundles").resolve(id));
        if (withRootfs) {
            populateRootfs(bundle.resolve("rootfs"));
        } else {
            Files.createDirectories(bundle.resolve("rootfs"));
        }
        var spec = new LinkedHashMap<String, Object>();
        spec.put("ociVersion", "1.0.2");
        spec.put("process", Map.of("terminal", false, "user", Map.of("uid", 0, "gid", 0), "args", args,
                "env", List.of("PATH=/bin"), "cwd", "/"));
        spec.put("root", Map.of("path", "rootfs", "readonly", false));
        spec.put("hostname", id);
        spec.put("mounts", List.of(
                Map.of("destination", "/proc", "type", "proc", "source", "proc"),
                Map.of("destination", "/dev", "type", "tmpfs", "source", "tmpfs",
                        "options", List.of("nosuid", "strictatime", "mode=755", "size=65536k"))));
        spec.put("annotations", Map.of("io.kubernetes.cri.sandbox-id", sandboxId));
        spec.put("linux", Map.of(
                "cgroupsPath", "/" + cgroupParent + "/" + id,
                "namespaces", List.of(Map.of("type", "pid"), Map.of("type", "ipc"), Map.of("type", "uts"),
                        Map.of("type", "mount"))));
        Files.writeString(bundle.resolve("config.json"), new Gson().toJson(spec));
        return bundle;
    }

    private static void populateRootfs(Path rootfs) throws IOException {
        Path bin = Files.createDirectories(rootfs.resolve("bin"));
        Files.copy(Path.of("/bin/busybox"), bin.resolve("busybox"));
        for (String applet : List.of("sh", "sleep", "echo", "cat", "true")) {
            Files.createSymbolicLink(bin.resolve(applet), Path.of("busybox"));
        }
        Files.createDirectories(rootfs.resolve("proc"));
        Files.createDirectories(rootfs.resolve("dev"));
    }

    private Path fifo(Path path) throws IOException {
        Files.createDirectories(path.getParent());
        Syscalls.mknod(path, Syscalls.S_IFIFO | 0600, 0, 0);
        fifos.add(path);
        return path;
    }

    private static CompletableFuture<String> readFifo(Path fifo) {
        var result = new CompletableFuture<String>();
        Thread.ofPlatform().daemon().start(() -> {
            try (var in = new FileInputStream(fifo.toFile())) {
                result.complete(new String(in.readAllBytes(), StandardCharsets.UTF_8));
            } catch (IOException e) {
                result.completeExceptionally(e);
            }
        });
        return result;
    }

    private Exit awaitExit(String containerId, String execId) throws InterruptedException {
        long deadline = System.currentTimeMillis() + WAIT_MS;
        while (System.currentTimeMillis() < deadline) {
            for (Event e : events) {
                if (e instanceof Exit x && x.containerId().equals(containerId) && x.execId().equals(execId)) {
                    return x;
                }
            }
            Thread.sleep(20);
        }
        throw new AssertionError("no TaskExit for " + containerId + "/" + execId + "; events: " + events);
    }

    private interface Check {
        boolean ok() throws Exception;
    }

    private static void awaitTrue(Check check, String what) throws Exception {
        long deadline = System.currentTimeMillis() + WAIT_MS;
        while (!check.ok()) {
            if (System.currentTimeMillis() > deadline) {
                fail("timed out: " + what);
            }
            Thread.sleep(20);
        }
    }

    /** Running and not a zombie (an orphan's zombie waits for whoever pid 1 is here). */
    private static boolean alive(int pid) {
        try {
            String stat = Files.readString(Path.of("/proc", Integer.toString(pid), "stat"));
            char state = stat.charAt(stat.lastIndexOf(')') + 2);
            return state != 'Z' && state != 'X';
        } catch (IOException e) {
            return false;
        }
    }

    /** Mount points at or under {@code dir}, in mount order. */
    private static List<String> mountsUnder(Path dir) throws IOException {
        var found = new ArrayList<String>();
        for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
            String point = line.split(" ")[4].replace("\\040", " ");
            if (point.equals(dir.toString()) || point.startsWith(dir + "/")) {
                found.add(point);
            }
        }
        return found;
    }

    private static void run(List<String> command) throws IOException, InterruptedException {
        var process = new ProcessBuilder(command).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        if (!process.waitFor(20, TimeUnit.SECONDS)) {
            process.destroyForcibly();
        }
    }
}
