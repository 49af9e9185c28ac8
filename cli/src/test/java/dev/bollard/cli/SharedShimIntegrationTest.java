package dev.bollard.cli;

import com.google.gson.JsonParser;
import dev.bollard.api.cri.v1.ContainerState;
import dev.bollard.api.cri.v1.ContainerStatsRequest;
import dev.bollard.api.cri.v1.ContainerStatusRequest;
import dev.bollard.api.cri.v1.ExecSyncRequest;
import dev.bollard.api.cri.v1.IDMapping;
import dev.bollard.api.cri.v1.LinuxContainerConfig;
import dev.bollard.api.cri.v1.LinuxContainerSecurityContext;
import dev.bollard.api.cri.v1.LinuxPodSandboxConfig;
import dev.bollard.api.cri.v1.LinuxSandboxSecurityContext;
import dev.bollard.api.cri.v1.NamespaceMode;
import dev.bollard.api.cri.v1.NamespaceOption;
import dev.bollard.api.cri.v1.PodSandboxConfig;
import dev.bollard.api.cri.v1.PodSandboxState;
import dev.bollard.api.cri.v1.PodSandboxStatus;
import dev.bollard.api.cri.v1.PodSandboxStatusRequest;
import dev.bollard.api.cri.v1.UserNamespace;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Shim sharing on a real node ({@code pods_per_shim = 3}): pods of a namespace in one containerd-shim-runc-v2,
 * each pod's tasks, cgroups, network and exec its own; a daemon restart finds the shared shims and their pods; the
 * shim exits after its last pod; a shared shim killed under three pods ends all their containers (255, as a pod's
 * own killed shim does), each pod is removed with nothing left, and the group's next pod gets a new shim; pods with
 * user namespaces of their own (and one without) share a shim, each with its own mapping.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@LeakChecked
class SharedShimIntegrationTest {

    private PodTestNode node;

    @BeforeAll
    void startNode() throws Exception {
        node = PodTestNode.start("[runtimes.runc]\npods_per_shim = 3\n");
    }

    @AfterAll
    void closeNode() throws Exception {
        if (node != null) {
            node.close();
        }
    }

    private record Pod(String id, PodSandboxConfig config, String container) {
    }

    private Pod pod(String name, String... annotation) throws Exception {
        var builder = node.pod(name);
        if (annotation.length == 2) {
            builder.putAnnotations(annotation[0], annotation[1]);
        }
        var config = builder.build();
        String id = node.runPod(config);
        String c = node.createAndStart(id, config, PodTestNode.container("sleeper", "sleep", "4242").build());
        return new Pod(id, config, c);
    }

    /** The id of the shared shim the pod runs in, from its bundle. */
    private String shimOf(Pod pod) throws Exception {
        Path file = node.daemon.state.resolve("pods").resolve(pod.id()).resolve("shim-group");
        return JsonParser.parseString(Files.readString(file)).getAsJsonObject().get("shim").getAsString();
    }

    /** Shim daemons running for this node, by their -id. */
    private Set<String> runningShims() throws Exception {
        var ids = new TreeSet<String>();
        for (String p : node.shimProcesses()) {
            List<String> argv = List.of(p.substring(p.indexOf(':') + 2).split(" "));
            ids.add(argv.get(argv.indexOf("-id") + 1));
        }
        return ids;
    }

    private long shimPid(String shimId) throws Exception {
        String p = node.shimProcesses().stream().filter(s -> s.contains("-id " + shimId + " ")
                || s.endsWith("-id " + shimId)).findFirst().orElseThrow(() -> new AssertionError("no shim " + shimId));
        return Long.parseLong(p.substring(0, p.indexOf(':')));
    }

    private int pid(String container) {
        var info = node.rt().containerStatus(ContainerStatusRequest.newBuilder().setContainerId(container)
                .setVerbose(true).build()).getInfoMap().get("info");
        return JsonParser.parseString(info).getAsJsonObject().get("pid").getAsInt();
    }

    private PodSandboxStatus podStatus(String id) {
        return node.rt().podSandboxStatus(PodSandboxStatusRequest.newBuilder().setPodSandboxId(id).build()).getStatus();
    }

    private String exec(String container, String... cmd) {
        var r = node.rt().execSync(ExecSyncRequest.newBuilder().setContainerId(container).addAllCmd(List.of(cmd))
                .setTimeout(20).build());
        assertEquals(0, r.getExitCode(), r.getStderr().toStringUtf8());
        return r.getStdout().toStringUtf8();
    }

    private Path groupsDir() {
        return node.daemon.state.resolve("shim").resolve("groups");
    }

    private List<String> groupDirs() throws Exception {
        if (!Files.isDirectory(groupsDir())) {
            return List.of();
        }
        try (var dirs = Files.list(groupsDir())) {
            return dirs.map(d -> d.getFileName().toString()).toList();
        }
    }

    private void assertNothingLeft() throws Exception {
        String log = node.daemon.logText();
        assertFalse(log.contains("did not exit after Shutdown"), "each shared shim exited on Shutdown: " + log);
        assertTrue(log.contains("shared shim retired"), log);
        assertTrue(node.mountsUnderDir().isEmpty(), "no mount left: " + node.mountsUnderDir());
        assertTrue(node.shimProcesses().isEmpty(), "no shim left: " + node.shimProcesses());
        assertEquals(List.of(), groupDirs(), "no shared shim's directory left");
        try (var pods = Files.list(node.daemon.state.resolve("pods"))) {
            assertEquals(0, pods.count(), "no bundle left");
        }
    }

    @Test
    void podsShareTheirNamespacesShimKeepTheirOwnTasksAndSurviveARestart() throws Exception {
        var a = pod("a");
        var b = pod("b");
        var c = pod("c");
        var d = pod("d"); // the group's shim is full: a second one
        var solo = pod("solo", "bollard.dev/shim-group", "solo"); // a group of its own by annotation
        String first = shimOf(a);
        assertEquals(first, shimOf(b));
        assertEquals(first, shimOf(c));
        assertNotEquals(first, shimOf(d));
        assertNotEquals(first, shimOf(solo));
        assertNotEquals(shimOf(d), shimOf(solo));
        assertEquals(Set.of(first, shimOf(d), shimOf(solo)), runningShims(), "three shims for five pods");

        // Per pod: hostname, network, cgroup, stats.
        for (var p : List.of(a, b, c)) {
            String name = p.config().getMetadata().getName();
            assertEquals(name + "\n", exec(p.container(), "hostname"));
            String ip = podStatus(p.id()).getNetwork().getIp();
            assertTrue(exec(p.container(), "ip", "addr").contains(ip), "the pod's own netns holds " + ip);
            String cgroup = Files.readString(Path.of("/proc", Integer.toString(pid(p.container())), "cgroup"));
            assertTrue(cgroup.contains("/bollard/" + p.id() + "/"), "in its pod's cgroup: " + cgroup);
            var stats = node.rt().containerStats(ContainerStatsRequest.newBuilder().setContainerId(p.container())
                    .build()).getStats();
            assertTrue(stats.getMemory().getWorkingSetBytes().getValue() > 0, stats.toString());
        }
        // Exits and logs reach the right pod's container through the shared shim.
        String quitter = node.createAndStart(b.id(), b.config(), PodTestNode.container("quitter", "sh", "-c",
                "echo hello-from-b; exit 3").build());
        var exited = node.awaitExit(quitter);
        assertEquals(3, exited.getExitCode(), exited.toString());
        assertTrue(Files.readString(Path.of(exited.getLogPath())).contains("stdout F hello-from-b"),
                Files.readString(Path.of(exited.getLogPath())));
        for (var p : List.of(a, b, c)) {
            assertEquals(ContainerState.CONTAINER_RUNNING, node.status(p.container()).getState());
        }
        Set<String> shimsBefore = runningShims();
        long firstPid = shimPid(first);
        int aPid = pid(a.container());

        node.restart(Duration.ofMillis(500));
        String log = node.daemon.logText();
        assertFalse(log.contains("killed a shim no pod owns"), log);
        assertEquals(shimsBefore, runningShims(), "the same shims after the restart");
        assertEquals(firstPid, shimPid(first));
        for (var p : List.of(a, b, c, d, solo)) {
            assertEquals(PodSandboxState.SANDBOX_READY, podStatus(p.id()).getState());
            assertEquals(ContainerState.CONTAINER_RUNNING, node.status(p.container()).getState());
        }
        assertEquals(aPid, pid(a.container()), "the same process");
        assertEquals("b\n", exec(b.container(), "hostname"), "exec through the recovered shared shim");
        // the recovered second shim still has room: the group's next pod goes there
        var e = pod("e");
        assertEquals(shimOf(d), shimOf(e));

        // The shim lives until its last pod is gone.
        node.removePod(a.id());
        node.removePod(b.id());
        assertEquals(ContainerState.CONTAINER_RUNNING, node.status(c.container()).getState());
        assertTrue(runningShims().contains(first), "c still runs in it");
        assertEquals("c\n", exec(c.container(), "hostname"));
        node.removePod(c.id());
        assertFalse(runningShims().contains(first), "gone with its last pod: " + node.shimProcesses());
        assertFalse(groupDirs().contains(first));
        for (var p : List.of(d, e, solo)) {
            node.removePod(p.id());
        }
        assertNothingLeft();
    }

    @Test
    void aSharedShimKilledUnderThreePodsEndsTheirContainersAndTheGroupGetsANewShim() throws Exception {
        var pods = List.of(pod("k1"), pod("k2"), pod("k3"));
        String shim = shimOf(pods.getFirst());
        var containerPids = new ArrayList<Integer>();
        for (var p : pods) {
            assertEquals(shim, shimOf(p));
            containerPids.add(pid(p.container()));
        }
        ProcessHandle.of(shimPid(shim)).orElseThrow().destroyForcibly();

        for (var p : pods) {
            var s = node.awaitExit(p.container());
            // as a pod's own killed shim gives (PodLifecycleIntegrationTest.aShimKilledUnderARunningPodIsCleanedUp)
            assertEquals(255, s.getExitCode(), s.toString());
            assertEquals("Error", s.getReason(), s.toString());
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while (System.nanoTime() < deadline && podStatus(p.id()).getState() != PodSandboxState.SANDBOX_NOTREADY) {
                Thread.sleep(50);
            }
            assertEquals(PodSandboxState.SANDBOX_NOTREADY, podStatus(p.id()).getState());
        }
        // No container process outlived the shim.
        var survivors = containerPids.stream().filter(pid -> ProcessHandle.of(pid).map(ProcessHandle::isAlive)
                .orElse(false)).toList();
        assertEquals(List.of(), survivors, "the orphaned container processes were killed");

        // The group's next pod gets a new shim, which works.
        var next = pod("k4");
        assertNotEquals(shim, shimOf(next));
        assertEquals("k4\n", exec(next.container(), "hostname"));
        for (var p : pods) {
            node.removePod(p.id());
        }
        assertFalse(groupDirs().contains(shim), "the dead shim's directory went with its last pod");
        node.removePod(next.id());
        assertNothingLeft();
    }

    @Test
    void aSharedShimThatDiedWhileTheDaemonWasDownIsCleanedUpAtTheRestart() throws Exception {
        var pods = List.of(pod("r1"), pod("r2"));
        String shim = shimOf(pods.getFirst());
        assertEquals(shim, shimOf(pods.getLast()));
        var containerPids = new ArrayList<Integer>();
        for (var p : pods) {
            containerPids.add(pid(p.container()));
        }
        node.stopDaemon();
        ProcessHandle.of(shimPid(shim)).orElseThrow().destroyForcibly();
        node.startDaemon();

        for (var p : pods) {
            assertEquals(PodSandboxState.SANDBOX_NOTREADY, podStatus(p.id()).getState());
            var s = node.status(p.container());
            assertEquals(ContainerState.CONTAINER_EXITED, s.getState(), s.toString());
            assertEquals(255, s.getExitCode(), s.toString());
        }
        assertEquals(List.of(), containerPids.stream().filter(pid -> ProcessHandle.of(pid)
                .map(ProcessHandle::isAlive).orElse(false)).toList(), "no container process outlived its shim");
        assertFalse(groupDirs().contains(shim), "the dead shim's directory went at the restart");
        var next = pod("r3");
        assertNotEquals(shim, shimOf(next));
        for (var p : pods) {
            node.removePod(p.id());
        }
        node.removePod(next.id());
        assertNothingLeft();
    }

    @Test
    void podsWithUserNamespacesShareAShimEachWithItsOwnMapping() throws Exception {
        // as /var/lib and /run are: a pod's root (a host ID without rights) must reach the bundle
        Files.setPosixFilePermissions(node.dir, java.nio.file.attribute.PosixFilePermissions.fromString("rwx--x--x"));
        var first = usernsPod("uns1", 200_000);
        var second = usernsPod("uns2", 300_000);
        var plain = pod("uns-plain");
        String shim = shimOf(first);
        assertEquals(shim, shimOf(second));
        assertEquals(shim, shimOf(plain));

        assertEquals("0 200000 65536", node.sh(first.container(), "cat /proc/self/uid_map").trim().replaceAll("\\s+", " "));
        assertEquals("0 300000 65536", node.sh(second.container(), "cat /proc/self/gid_map").trim().replaceAll("\\s+", " "));
        assertEquals("0 0 4294967295", node.sh(plain.container(), "cat /proc/self/uid_map").trim().replaceAll("\\s+", " "));
        for (var p : List.of(first, second)) {
            assertEquals("uid=0(root) gid=0(root) groups=0(root)\n", node.sh(p.container(), "id"));
            assertEquals("ok\n", node.sh(p.container(), "touch /newfile && echo ok"), "root in the pod writes its rootfs");
        }
        // On the node, each pod's root is its own host ID, in a user namespace of its own.
        assertTrue(Files.readString(Path.of("/proc", Integer.toString(pid(first.container())), "status"))
                .contains("\nUid:\t200000\t"));
        assertTrue(Files.readString(Path.of("/proc", Integer.toString(pid(second.container())), "status"))
                .contains("\nUid:\t300000\t"));
        var userNamespaces = new TreeSet<String>();
        for (var p : List.of(first, second, plain)) {
            userNamespaces.add(Files.readSymbolicLink(Path.of("/proc", Integer.toString(pid(p.container())), "ns", "user"))
                    .toString());
        }
        assertEquals(3, userNamespaces.size(), "three user namespaces: " + userNamespaces);

        node.removePod(first.id());
        assertEquals("0 300000 65536", node.sh(second.container(), "cat /proc/self/uid_map").trim().replaceAll("\\s+", " "),
                "the other pods run on in the shim");
        node.removePod(second.id());
        node.removePod(plain.id());
        assertFalse(runningShims().contains(shim), "gone with its last pod: " + node.shimProcesses());
        assertNothingLeft();
    }

    /** A pod in a user namespace of its own (KEP-127), root inside mapped to {@code hostId}. */
    private Pod usernsPod(String name, int hostId) throws Exception {
        var mapping = IDMapping.newBuilder().setHostId(hostId).setContainerId(0).setLength(65_536).build();
        var ns = NamespaceOption.newBuilder().setUsernsOptions(UserNamespace.newBuilder().setMode(NamespaceMode.POD)
                .addUids(mapping).addGids(mapping)).build();
        var config = node.pod(name).setLinux(LinuxPodSandboxConfig.newBuilder().setSecurityContext(
                LinuxSandboxSecurityContext.newBuilder().setNamespaceOptions(ns))).build();
        String id = node.runPod(config);
        String c = node.createAndStart(id, config, PodTestNode.container("sleeper", "sleep", "4242")
                .setLinux(LinuxContainerConfig.newBuilder().setSecurityContext(
                        LinuxContainerSecurityContext.newBuilder().setNamespaceOptions(ns))).build());
        return new Pod(id, config, c);
    }
}
