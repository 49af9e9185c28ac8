package dev.bollard.cli;

import com.google.gson.JsonParser;
import dev.bollard.api.cri.v1.ContainerConfig;
import dev.bollard.api.cri.v1.ContainerFilter;
import dev.bollard.api.cri.v1.ContainerState;
import dev.bollard.api.cri.v1.CreateContainerRequest;
import dev.bollard.api.cri.v1.ExecSyncRequest;
import dev.bollard.api.cri.v1.ImageSpec;
import dev.bollard.api.cri.v1.ImageStatusRequest;
import dev.bollard.api.cri.v1.ListContainersRequest;
import dev.bollard.api.cri.v1.ListPodSandboxRequest;
import dev.bollard.api.cri.v1.PodSandbox;
import dev.bollard.api.cri.v1.PodSandboxConfig;
import dev.bollard.api.cri.v1.PodSandboxState;
import dev.bollard.api.cri.v1.PodSandboxStatusRequest;
import dev.bollard.api.cri.v1.PullImageRequest;
import dev.bollard.api.cri.v1.RemoveContainerRequest;
import dev.bollard.api.cri.v1.RemoveImageRequest;
import dev.bollard.api.cri.v1.RemovePodSandboxRequest;
import dev.bollard.api.cri.v1.StartContainerRequest;
import dev.bollard.api.cri.v1.StopContainerRequest;
import dev.bollard.api.cri.v1.StopPodSandboxRequest;
import dev.bollard.daemon.linux.Cgroups;
import dev.bollard.daemon.store.CrashPoints;
import dev.bollard.daemon.testkit.TestImages;
import dev.bollard.daemon.testkit.TestPush;
import dev.bollard.daemon.testkit.TestRegistry;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The daemon dies (a halt, as SIGKILL) at every crash point of every state-changing RPC; the next daemon, started
 * without it, must complete or roll back what the call had begun. For each point: a bystander pod started before
 * still runs the same process, the records agree with what the CRI lists, kubelet's retry of the call (or its
 * Stop/Remove) succeeds, and once the case's pod is gone no mount, netns pin, shim, cgroup, IP allocation, CNI
 * cache entry, record or directory of it is left. One node serves every case.
 */
class CrashPointIntegrationTest extends PodNodeTest {

    private static final String PULLED = "docker.io/library/busybox:1.36";
    private static final Pattern IP_FILE = Pattern.compile("\\d+\\.\\d+\\.\\d+\\.\\d+");

    private String bystanderPod;
    private String bystander;
    private int bystanderPid;
    private TestRegistry registry;
    private int blobsBefore;
    private int snapshotsBefore;
    private int caseNumber;

    /** What one case made: the pod and container it works on, the image it pulls. */
    private static final class Scenario {
        PodSandboxConfig podConfig;
        String pod;
        ContainerConfig containerConfig;
        String container;
        String image;
    }

    @FunctionalInterface
    private interface Step {
        void run(Scenario s) throws Exception;
    }

    /** Setup (on the daemon that will crash), the call that crashes it, and what the next daemon must show. */
    private record Case(Step setup, Step crash, Step afterRestart) {
    }

    private final Map<String, Case> cases = new HashMap<>();

    @BeforeAll
    void bystanderAndRegistry() throws Exception {
        // Every daemon from now on halts at the crash point this file names when it reaches it (empty: none).
        arm("");
        node.jvmOptions(List.of("-D" + CrashPoints.PROPERTY + "=@" + crashPointFile()));
        node.stopDaemon();
        node.startDaemon();
        var podConfig = node.pod("bystander").build();
        bystanderPod = node.runPod(podConfig);
        bystander = node.createAndStart(bystanderPod, podConfig, PodTestNode.container("sleeper", "sleep", "3600").build());
        bystanderPid = pid(bystander);
        if (TestRegistry.available()) {
            registry = TestRegistry.start(Files.createDirectories(node.dir.resolve("registry")));
            TestImages.busybox().push(new TestPush(registry.apiRoot()), "library/busybox", "1.36");
            Path certsD = Files.createDirectories(node.dir.resolve("certs.d/docker.io"));
            Files.writeString(certsD.resolve("hosts.toml"), """
                    server = "https://registry-1.docker.io"
                    [host."http://%s"]
                      capabilities = ["pull", "resolve"]
                    """.formatted(registry.host()));
            // Read by the next daemon start (each case starts two).
            Files.writeString(node.dir.resolve("bollard.toml"), Files.readString(node.dir.resolve("bollard.toml"))
                    + "\n[registry]\nconfig_path = \"" + node.dir.resolve("certs.d") + "\"\n");
        }
        blobsBefore = count(node.daemon.root.resolve("image/content/blobs/sha256"));
        snapshotsBefore = count(node.daemon.root.resolve("image/snapshots")) - 1; // less tmp/
        defineCases();
    }

    @AfterAll
    void stopRegistry() throws Exception {
        if (registry != null) {
            registry.close();
        }
    }

    static Stream<String> crashPoints() {
        return CrashPoints.ALL.stream();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("crashPoints")
    void theNextStartCompletesOrRollsBack(String point) throws Exception {
        Case c = cases.get(point);
        assertNotNull(c, "no case for crash point " + point);
        if (point.contains("Image")) {
            Assumptions.assumeTrue(registry != null, "no docker-registry binary: " + TestRegistry.BINARY);
        }
        var s = new Scenario();
        c.setup().run(s);
        arm(point);
        var e = assertThrows(StatusRuntimeException.class, () -> c.crash().run(s), "the call dies with the daemon");
        assertEquals(Status.Code.UNAVAILABLE, e.getStatus().getCode(), e.toString());
        assertEquals(CrashPoints.EXIT_STATUS, node.awaitDaemonDeath());
        assertTrue(node.lastDeadDaemonLog().contains("crash point " + point + " reached"), node.lastDeadDaemonLog());
        Set<String> touched = idsOnDisk();
        arm("");
        node.startDaemon();
        assertTrue(node.daemon.logText().contains("recovery done"), node.daemon.logText());
        assertEquals(ContainerState.CONTAINER_RUNNING, node.status(bystander).getState(), "the bystander still runs");
        assertEquals(bystanderPid, pid(bystander), "the bystander's process is the same");
        assertRecordsMatchTheCri();
        c.afterRestart().run(s);

        cleanUp(s);
        assertNothingLeaked(touched);
    }

    /** A container printing a numbered line every 10 ms: three SIGKILLs of the daemon lose and repeat no line. */
    @Test
    void logsSurviveThreeDaemonKills() throws Exception {
        var podConfig = node.pod("printer").build();
        String pod = node.runPod(podConfig);
        // The pod goes whatever fails: the class's later cases check that their node has nothing left (one lost line
        // here once failed all 31 of them through this pod's leftovers).
        try {
            String printer = node.createAndStart(pod, podConfig, PodTestNode.container("printer", "sh", "-c",
                    "i=0; while true; do echo line $i; i=$((i+1)); sleep 0.01; done").build());
            Path log = Path.of(node.status(printer).getLogPath());
            int printerPid = pid(printer);
            for (int kill = 0; kill < 3; kill++) {
                int seen = PodRestartIntegrationTest.logNumbers(log).size();
                awaitLines(log, seen + 20);
                node.killDaemon();
                Thread.sleep(300); // lines pile up in the pipe meanwhile
                node.startDaemon();
                assertEquals(printerPid, pid(printer), "the same process after kill " + (kill + 1));
            }
            int before = PodRestartIntegrationTest.logNumbers(log).size();
            awaitLines(log, before + 50);
            node.rt().stopContainer(StopContainerRequest.newBuilder().setContainerId(printer).setTimeout(0).build());
            node.awaitExit(printer);
            var numbers = PodRestartIntegrationTest.logNumbers(log);
            assertTrue(numbers.size() > 100, "lines written: " + numbers.size());
            for (int i = 0; i < numbers.size(); i++) {
                assertEquals(i, numbers.get(i), "line " + i + " of the printer's log (none lost, none twice)");
            }
        } finally {
            node.removePod(pod);
        }
    }

    private Path crashPointFile() {
        return node.dir.resolve("crashpoint");
    }

    private void arm(String point) throws IOException {
        Files.writeString(crashPointFile(), point);
    }

    /**
     * Records lost (deleted while the daemon was down) for a running pod: the leak scan of the next start deletes
     * its tasks (their processes end), kills its shim, releases its IP and removes its netns, dirs and cgroup.
     */
    @Test
    void whatNoRecordOwnsIsCleanedUpAtStart() throws Exception {
        var s = new Scenario();
        started(s, "sleep", "3600");
        int containerPid = pid(s.container);
        node.stopDaemon();
        Files.delete(node.daemon.root.resolve("store/containers").resolve(s.container + ".json"));
        Files.delete(node.daemon.root.resolve("store/sandboxes").resolve(s.pod + ".json"));
        node.startDaemon();
        String log = node.daemon.logText();
        for (String cleaned : List.of("deleted a task no record owns", "killed a shim no pod owns",
                "released the network of a pod no record owns", "removed a netns pin no pod owns",
                "removed a pod directory no record owns", "removed a container directory no record owns")) {
            assertTrue(log.contains("leak scan: " + cleaned), cleaned + " in\n" + log);
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (ProcessHandle.of(containerPid).map(ProcessHandle::isAlive).orElse(false)) {
            assertTrue(System.nanoTime() < deadline, "the container's process ended");
            Thread.sleep(50); // reaped once its shim is gone
        }
        assertTrue(listedPod(s).isEmpty());
        assertNothingLeaked(new TreeSet<>(Set.of(s.pod, s.container)));
    }

    /** What UpdateContainerResources and UpdatePodSandboxResources set is reported by the next daemon too. */
    @Test
    void updatedResourcesSurviveAKill() throws Exception {
        var s = new Scenario();
        started(s, "sleep", "3600");
        var resources = dev.bollard.api.cri.v1.LinuxContainerResources.newBuilder().setCpuShares(256)
                .setMemoryLimitInBytes(96L << 20).build();
        node.rt().updateContainerResources(dev.bollard.api.cri.v1.UpdateContainerResourcesRequest.newBuilder()
                .setContainerId(s.container).setLinux(resources).build());
        node.rt().updatePodSandboxResources(dev.bollard.api.cri.v1.UpdatePodSandboxResourcesRequest.newBuilder()
                .setPodSandboxId(s.pod).setResources(resources).build());
        node.killDaemon();
        node.startDaemon();
        assertEquals(resources, node.status(s.container).getResources().getLinux(), "the updated resources");
        var info = node.rt().podSandboxStatus(PodSandboxStatusRequest.newBuilder().setPodSandboxId(s.pod)
                .setVerbose(true).build()).getInfoMap().get("info");
        var applied = JsonParser.parseString(info).getAsJsonObject().getAsJsonObject("podResources");
        assertNotNull(applied, "podResources in " + info);
        assertEquals(96L << 20, applied.get("memoryLimitInBytes").getAsLong());
        assertEquals(256, applied.get("cpuShares").getAsLong());
        cleanUp(s);
    }

    // ---------------------------------------------------------------- the cases

    private void defineCases() {
        for (String p : List.of("afterRecord", "afterNetns", "afterCniAdd", "afterShm", "afterShimStart",
                "afterTaskCreate", "afterTaskStart")) {
            cases.put("RunPodSandbox." + p, new Case(this::newPodConfig, s -> node.runPod(s.podConfig), s -> {
                assertTrue(listedPod(s).isEmpty(), "rolled back: " + listedPod(s));
                s.pod = node.runPod(s.podConfig); // kubelet's retry, under the same name
                assertPodReady(s.pod);
            }));
        }
        cases.put("RunPodSandbox.afterReady", new Case(this::newPodConfig, s -> node.runPod(s.podConfig), s -> {
            var listed = listedPod(s).orElseThrow(() -> new AssertionError("a pod recorded ready is listed"));
            s.pod = listed.getId();
            assertPodReady(s.pod);
            var again = assertThrows(StatusRuntimeException.class, () -> node.runPod(s.podConfig));
            assertEquals(Status.Code.ALREADY_EXISTS, again.getStatus().getCode());
        }));

        cases.put("CreateContainer.afterBundle", new Case(s -> newPod(s, "sleep", "3600"), this::create, s -> {
            assertTrue(listedContainer(s).isEmpty(), "not recorded, so not there");
            s.container = node.createAndStart(s.pod, s.podConfig, s.containerConfig);
            assertRunning(s.container);
        }));
        cases.put("CreateContainer.afterRecord", new Case(s -> newPod(s, "sleep", "3600"), this::create, s -> {
            s.container = listedContainer(s).orElseThrow().getId();
            assertEquals(ContainerState.CONTAINER_CREATED, node.status(s.container).getState());
            start(s);
            assertRunning(s.container);
        }));
        for (String p : List.of("afterFifos", "afterTaskCreate")) {
            cases.put("StartContainer." + p, new Case(s -> created(s, "sleep", "3600"), this::start, s -> {
                assertEquals(ContainerState.CONTAINER_CREATED, node.status(s.container).getState(), "rolled back");
                start(s);
                assertRunning(s.container);
            }));
        }
        for (String p : List.of("afterTaskStart", "afterRecord")) {
            cases.put("StartContainer." + p, new Case(s -> created(s, "sleep", "3600"), this::start,
                    s -> assertRunning(s.container)));
        }

        cases.put("StopContainer.afterSignal", new Case(s -> {
            started(s, "sh", "-c", "trap 'exit 3' TERM; echo ready; while true; do sleep 0.05; done");
            awaitLog(s, "ready");
        }, s -> stop(s, 10), s -> {
            var st = node.awaitExit(s.container);
            assertEquals(3, st.getExitCode(), "the exit that happened while the daemon was down: " + st);
            stop(s, 10); // kubelet's retry: nothing left to do
        }));
        cases.put("ContainerExit.afterRecord", new Case(s -> started(s, "sleep", "3600"), s -> stop(s, 0), s -> {
            assertEquals(137, node.status(s.container).getExitCode());
            stop(s, 0);
            removeContainer(s);
        }));
        for (String p : List.of("afterTaskDelete", "afterDirs")) {
            boolean listed = p.equals("afterTaskDelete");
            cases.put("RemoveContainer." + p, new Case(s -> {
                started(s, "sleep", "3600");
                stop(s, 0);
            }, this::removeContainer, s -> {
                assertEquals(listed, listedContainer(s).isPresent(), listed ? "not yet removed" : "removal completed");
                removeContainer(s);
                assertTrue(listedContainer(s).isEmpty());
            }));
        }

        for (String p : List.of("afterContainers", "afterShimShutdown", "afterNetworkDown", "afterRecord")) {
            var expected = p.equals("afterContainers") ? PodSandboxState.SANDBOX_READY : PodSandboxState.SANDBOX_NOTREADY;
            cases.put("StopPodSandbox." + p, new Case(s -> started(s, "sleep", "3600"), this::stopPod, s -> {
                assertEquals(expected, podState(s.pod));
                assertEquals(ContainerState.CONTAINER_EXITED, node.status(s.container).getState());
                stopPod(s);
                assertEquals(PodSandboxState.SANDBOX_NOTREADY, podState(s.pod));
                assertFalse(Files.exists(node.daemon.state.resolve("netns").resolve(s.pod)), "netns unpinned");
                assertFalse(Files.exists(node.daemon.root.resolve("cni/cache").resolve(s.pod + "-eth0.json")),
                        "network torn down");
            }));
        }
        for (String p : List.of("afterContainers", "afterDirs", "afterCgroup")) {
            boolean listed = p.equals("afterContainers");
            cases.put("RemovePodSandbox." + p, new Case(s -> {
                started(s, "sleep", "3600");
                stopPod(s);
            }, this::removePod, s -> {
                assertEquals(listed, listedPod(s).isPresent(), listed ? "not yet removed" : "removal completed");
                removePod(s);
                assertTrue(listedPod(s).isEmpty());
            }));
        }

        for (String p : List.of("afterManifest", "afterLayers", "afterRecord")) {
            boolean listed = p.equals("afterRecord");
            cases.put("PullImage." + p, new Case(s -> s.image = PULLED, this::pull, s -> {
                assertEquals(listed, imagePresent(s.image), listed ? "recorded" : "not recorded");
                pull(s);
                assertTrue(imagePresent(s.image));
            }));
        }
        cases.put("RemoveImage.afterRecord", new Case(s -> {
            s.image = PULLED;
            pull(s);
        }, this::removeImage, s -> {
            assertFalse(imagePresent(s.image), "its record is gone");
            removeImage(s);
        }));
    }

    private void newPodConfig(Scenario s) throws IOException {
        s.podConfig = node.pod("crash-" + ++caseNumber).build();
    }

    private void newPod(Scenario s, String... cmd) throws IOException {
        newPodConfig(s);
        s.pod = node.runPod(s.podConfig);
        s.containerConfig = PodTestNode.container("c", cmd).build();
    }

    private void created(Scenario s, String... cmd) throws IOException {
        newPod(s, cmd);
        create(s);
    }

    private void started(Scenario s, String... cmd) throws IOException {
        created(s, cmd);
        start(s);
    }

    private void create(Scenario s) {
        s.container = node.rt().createContainer(CreateContainerRequest.newBuilder().setPodSandboxId(s.pod)
                .setConfig(s.containerConfig).setSandboxConfig(s.podConfig).build()).getContainerId();
    }

    private void start(Scenario s) {
        node.rt().startContainer(StartContainerRequest.newBuilder().setContainerId(s.container).build());
    }

    private void stop(Scenario s, long timeout) {
        node.rt().stopContainer(StopContainerRequest.newBuilder().setContainerId(s.container).setTimeout(timeout).build());
    }

    private void removeContainer(Scenario s) {
        node.rt().removeContainer(RemoveContainerRequest.newBuilder().setContainerId(s.container).build());
    }

    private void stopPod(Scenario s) {
        node.rt().stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(s.pod).build());
    }

    private void removePod(Scenario s) {
        node.rt().removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(s.pod).build());
    }

    private void pull(Scenario s) {
        node.images().pullImage(PullImageRequest.newBuilder().setImage(ImageSpec.newBuilder().setImage(s.image)).build());
    }

    private void removeImage(Scenario s) {
        node.images().removeImage(RemoveImageRequest.newBuilder().setImage(ImageSpec.newBuilder().setImage(s.image))
                .build());
    }

    private boolean imagePresent(String image) {
        return node.images().imageStatus(ImageStatusRequest.newBuilder().setImage(ImageSpec.newBuilder()
                .setImage(image)).build()).hasImage();
    }

    private void awaitLog(Scenario s, String text) throws Exception {
        Path log = Path.of(node.status(s.container).getLogPath());
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (!Files.exists(log) || !Files.readString(log).contains(text)) {
            assertTrue(System.nanoTime() < deadline, "no \"" + text + "\" in the log of " + s.container);
            Thread.sleep(20);
        }
    }

    // ---------------------------------------------------------------- checks

    private Optional<PodSandbox> listedPod(Scenario s) {
        return node.rt().listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsList().stream()
                .filter(p -> p.getMetadata().getUid().equals(s.podConfig.getMetadata().getUid())).findFirst();
    }

    private Optional<dev.bollard.api.cri.v1.Container> listedContainer(Scenario s) {
        return node.rt().listContainers(ListContainersRequest.newBuilder().setFilter(ContainerFilter.newBuilder()
                .setPodSandboxId(s.pod)).build()).getContainersList().stream().findFirst();
    }

    private PodSandboxState podState(String pod) {
        return node.rt().podSandboxStatus(PodSandboxStatusRequest.newBuilder().setPodSandboxId(pod).build())
                .getStatus().getState();
    }

    private void assertPodReady(String pod) {
        var st = node.rt().podSandboxStatus(PodSandboxStatusRequest.newBuilder().setPodSandboxId(pod).build()).getStatus();
        assertEquals(PodSandboxState.SANDBOX_READY, st.getState());
        assertTrue(st.getNetwork().getIp().startsWith(node.subnetPrefix + "."), st.toString());
    }

    private void assertRunning(String id) {
        assertEquals(ContainerState.CONTAINER_RUNNING, node.status(id).getState());
        var r = node.rt().execSync(ExecSyncRequest.newBuilder().setContainerId(id).addCmd("true").setTimeout(20).build());
        assertEquals(0, r.getExitCode(), "an exec runs in it");
    }

    /** What the CRI lists is what the records hold, and a READY pod has its shim and netns pin. */
    private void assertRecordsMatchTheCri() throws IOException {
        var pods = node.rt().listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsList();
        var containers = node.rt().listContainers(ListContainersRequest.getDefaultInstance()).getContainersList();
        assertEquals(ids(pods.stream().map(PodSandbox::getId)), records("sandboxes"), "pod records");
        assertEquals(ids(containers.stream().map(dev.bollard.api.cri.v1.Container::getId)), records("containers"),
                "container records");
        var shims = node.shimProcesses();
        for (var p : pods) {
            if (p.getState() == PodSandboxState.SANDBOX_READY) {
                assertTrue(shims.stream().anyMatch(line -> line.contains(" -id " + p.getId() + " ")),
                        "the shim of ready pod " + p.getId() + ": " + shims);
                assertTrue(Files.exists(node.daemon.state.resolve("netns").resolve(p.getId())), "netns pin");
            }
        }
        for (var c : containers) {
            if (c.getState() == ContainerState.CONTAINER_RUNNING) {
                int pid = pid(c.getId());
                assertTrue(Files.exists(Path.of("/proc/" + pid)), "running container " + c.getId() + " has pid " + pid);
            }
        }
    }

    /** kubelet's way out of every case: the case's pod stopped and removed, its image removed. */
    private void cleanUp(Scenario s) throws Exception {
        if (s.podConfig != null) {
            var listed = listedPod(s);
            if (listed.isPresent()) {
                node.removePod(listed.get().getId());
            }
        }
        if (s.image != null) {
            removeImage(s);
        }
    }

    /** Only the bystander's resources remain: nothing of any pod or container the case touched. */
    private void assertNothingLeaked(Set<String> touched) throws Exception {
        touched.remove(bystanderPod);
        touched.remove(bystander);
        Set<String> mine = Set.of(bystanderPod, bystander);
        var st = node.daemon.state;
        var root = node.daemon.root;
        assertEquals(Set.of(bystanderPod), names(st.resolve("pods")), "pod bundles");
        assertEquals(Set.of(bystanderPod), names(root.resolve("pods")), "pod directories");
        assertEquals(Set.of(bystanderPod), names(st.resolve("netns")), "netns pins");
        assertEquals(Set.of(bystander), names(st.resolve("containers")), "container bundles");
        assertEquals(Set.of(bystander), names(root.resolve("containers")), "container directories");
        assertEquals(Set.of(bystanderPod + "-eth0.json"), names(root.resolve("cni/cache")), "CNI cache");
        assertEquals(Set.of(bystanderPod), records("sandboxes"), "pod records");
        assertEquals(Set.of(bystander), records("containers"), "container records");
        for (String m : node.mountsUnderDir()) {
            assertTrue(mine.stream().anyMatch(m::contains) || m.startsWith(node.dir.resolve("registry").toString()),
                    "a mount no pod owns: " + m);
        }
        var shims = node.shimProcesses();
        assertEquals(1, shims.size(), "one shim, the bystander's: " + shims);
        assertTrue(shims.getFirst().contains(" -id " + bystanderPod + " "), shims.getFirst());
        for (String id : touched) {
            assertFalse(Cgroups.exists("/bollard/" + id), "cgroup of " + id + " left");
        }
        try (var nets = Files.list(node.dir.resolve("ipam"))) {
            for (Path net : nets.toList()) {
                try (var files = Files.list(net)) {
                    for (Path f : files.filter(f -> IP_FILE.matcher(f.getFileName().toString()).matches()).toList()) {
                        assertEquals(bystanderPod, Files.readAllLines(f).getFirst().strip(),
                                "IP " + f.getFileName() + " allocated to a pod that is gone");
                    }
                }
            }
        }
        // Image content: what a crashed pull or removal left is collected (start-up housekeeping, in the background).
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (count(root.resolve("image/content/blobs/sha256")) != blobsBefore
                || count(root.resolve("image/snapshots")) - 1 != snapshotsBefore) {
            assertTrue(System.nanoTime() < deadline, "image blobs " + count(root.resolve("image/content/blobs/sha256"))
                    + " (before " + blobsBefore + "), snapshots " + (count(root.resolve("image/snapshots")) - 1)
                    + " (before " + snapshotsBefore + ")");
            Thread.sleep(100);
        }
        assertEquals(0, count(root.resolve("image/snapshots/tmp")), "no unpack in progress left");
    }

    /** Pod and container IDs with anything on disk, read while the daemon is down. */
    private Set<String> idsOnDisk() throws IOException {
        var out = new TreeSet<String>();
        for (String d : List.of("pods", "containers", "netns")) {
            out.addAll(names(node.daemon.state.resolve(d)));
        }
        out.addAll(records("sandboxes"));
        out.addAll(records("containers"));
        return out;
    }

    private Set<String> records(String kind) throws IOException {
        var out = new TreeSet<String>();
        for (String n : names(node.daemon.root.resolve("store").resolve(kind))) {
            if (n.endsWith(".json")) {
                out.add(n.substring(0, n.length() - 5));
            }
        }
        return out;
    }

    private static Set<String> ids(Stream<String> s) {
        return new TreeSet<>(s.toList());
    }

    private static Set<String> names(Path dir) throws IOException {
        var out = new TreeSet<String>();
        if (Files.isDirectory(dir)) {
            try (var list = Files.list(dir)) {
                list.map(p -> p.getFileName().toString()).filter(n -> !n.startsWith(".")).forEach(out::add);
            }
        }
        return out;
    }

    private static int count(Path dir) throws IOException {
        return names(dir).size();
    }

    private int pid(String id) {
        var info = node.rt().containerStatus(dev.bollard.api.cri.v1.ContainerStatusRequest.newBuilder()
                .setContainerId(id).setVerbose(true).build()).getInfoMap().get("info");
        int pid = JsonParser.parseString(info).getAsJsonObject().get("pid").getAsInt();
        assertTrue(pid > 0, "a pid in " + info);
        return pid;
    }

    private void awaitLines(Path log, int n) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (PodRestartIntegrationTest.logNumbers(log).size() < n) {
            assertTrue(System.nanoTime() < deadline, "the log reached " + PodRestartIntegrationTest.logNumbers(log).size() + " lines, not " + n);
            Thread.sleep(20);
        }
    }
}
