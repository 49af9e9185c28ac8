package dev.bollard.cli;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.protobuf.ByteString;
import dev.bollard.api.cri.v1.Container;
import dev.bollard.api.cri.v1.ContainerMetadata;
import dev.bollard.api.cri.v1.ContainerState;
import dev.bollard.api.cri.v1.ContainerStatus;
import dev.bollard.api.cri.v1.ContainerStatusRequest;
import dev.bollard.api.cri.v1.ContainerStatusResponse;
import dev.bollard.api.cri.v1.CreateContainerRequest;
import dev.bollard.api.cri.v1.ExecSyncRequest;
import dev.bollard.api.cri.v1.ExecSyncResponse;
import dev.bollard.api.cri.v1.Image;
import dev.bollard.api.cri.v1.ImageSpec;
import dev.bollard.api.cri.v1.ImageStatusRequest;
import dev.bollard.api.cri.v1.ImageStatusResponse;
import dev.bollard.api.cri.v1.ListContainersRequest;
import dev.bollard.api.cri.v1.ListContainersResponse;
import dev.bollard.api.cri.v1.ListPodSandboxRequest;
import dev.bollard.api.cri.v1.ListPodSandboxResponse;
import dev.bollard.api.cri.v1.PodSandbox;
import dev.bollard.api.cri.v1.PodSandboxMetadata;
import dev.bollard.api.cri.v1.PodSandboxState;
import dev.bollard.api.cri.v1.PodSandboxStatus;
import dev.bollard.api.cri.v1.PodSandboxStatusRequest;
import dev.bollard.api.cri.v1.PodSandboxStatusResponse;
import dev.bollard.api.cri.v1.PullImageRequest;
import dev.bollard.api.cri.v1.RemoveContainerRequest;
import dev.bollard.api.cri.v1.RemovePodSandboxRequest;
import dev.bollard.api.cri.v1.RunPodSandboxRequest;
import dev.bollard.api.cri.v1.StartContainerRequest;
import dev.bollard.api.cri.v1.StopContainerRequest;
import dev.bollard.api.cri.v1.StopPodSandboxRequest;
import dev.bollard.api.cri.v1.UpdateContainerResourcesRequest;
import io.grpc.Status;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Each pod and container command against a fake RuntimeService: the requests it sends and what it prints. */
class RuntimeCommandsTest {

    /** Creation times relative to when the fake answers, so that ages print the same however slow the run. */
    private static long agoNanos(long seconds) {
        return System.currentTimeMillis() * 1_000_000L - seconds * 1_000_000_000L;
    }

    private Path dir;
    private FakeRuntime fake;

    @BeforeEach
    void start() throws Exception {
        dir = Files.createTempDirectory("bollard-cli-");
        fake = new FakeRuntime(dir.resolve("cri.sock"));
    }

    @AfterEach
    void stop() throws Exception {
        try {
            fake.close();
        } finally {
            TestFiles.deleteTree(dir);
        }
    }

    record Result(int exit, String out, String err) {
    }

    /** Runs the CLI in this JVM against the fake, capturing stdout and stderr. */
    private Result run(String... args) {
        var out = new ByteArrayOutputStream();
        var err = new ByteArrayOutputStream();
        PrintStream oldOut = System.out;
        PrintStream oldErr = System.err;
        int exit;
        try {
            System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
            System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
            var full = new String[args.length + 2];
            full[0] = "-r";
            full[1] = fake.endpoint();
            System.arraycopy(args, 0, full, 2, args.length);
            exit = Main.run(full);
        } finally {
            System.out.flush();
            System.err.flush();
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
        return new Result(exit, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    private static String resource(String name) {
        return Path.of("src/test/resources", name).toAbsolutePath().toString();
    }

    private static PodSandbox pod(String id, String name, String namespace, long createdAt, PodSandboxState state) {
        return PodSandbox.newBuilder().setId(id).setState(state).setCreatedAt(createdAt)
                .setMetadata(PodSandboxMetadata.newBuilder().setName(name).setNamespace(namespace).setUid("u-" + id)).build();
    }

    private static Container container(String id, String name, ContainerState state, long createdAt) {
        return Container.newBuilder().setId(id).setPodSandboxId("pod0123456789abcdef").setState(state).setCreatedAt(createdAt)
                .setMetadata(ContainerMetadata.newBuilder().setName(name).setAttempt(2))
                .setImage(ImageSpec.newBuilder().setImage("sha256:" + "c0ffee".repeat(11)))
                .putLabels(CriText.POD_NAME_LABEL, "web").putLabels(CriText.POD_NAMESPACE_LABEL, "prod").build();
    }

    @Test
    void runpSendsTheConfigAndHandlerAndPrintsThePodId() {
        var r = run("runp", "--runtime", "crun", resource("pod.json"));
        assertEquals(0, r.exit(), r.err());
        assertEquals("pod-1\n", r.out());
        var request = fake.requests(RunPodSandboxRequest.class).getFirst();
        assertEquals("crun", request.getRuntimeHandler());
        assertEquals("busybox-sandbox", request.getConfig().getMetadata().getName());
        assertEquals("/tmp", request.getConfig().getLogDirectory());

        var yaml = run("runp", resource("pod.yaml"));
        assertEquals(0, yaml.exit(), yaml.err());
        var fromYaml = fake.requests(RunPodSandboxRequest.class).get(1);
        assertEquals("", fromYaml.getRuntimeHandler());
        assertEquals(Map.of("app", "busybox"), fromYaml.getConfig().getLabelsMap());
        assertEquals(1, fromYaml.getConfig().getMetadata().getAttempt());
    }

    @Test
    void aBadConfigNamesTheFileAndFieldAndSendsNothing() throws Exception {
        Path bad = Files.writeString(dir.resolve("bad.json"), "{\"metadata\":{\"name\":\"a\",\"namespace\":\"b\"},\"logDirectry\":\"/x\"}");
        var r = run("runp", bad.toString());
        assertEquals(1, r.exit());
        assertTrue(r.err().startsWith("bollard: " + bad + ": not a valid PodSandboxConfig"), r.err());
        assertTrue(r.err().contains("logDirectry"), r.err());
        assertEquals(1, r.err().lines().count(), r.err());
        assertTrue(fake.requests.isEmpty());
    }

    @Test
    void podsFiltersOnTheRuntimeAndByPatternsAndListsNewestFirst() {
        fake.answers.put("ListPodSandbox", req -> ListPodSandboxResponse.newBuilder()
                .addItems(pod("aaaaaaaaaaaaaaaaaaaa", "web-1", "default", agoNanos(120), PodSandboxState.SANDBOX_READY))
                .addItems(pod("bbbbbbbbbbbbbbbbbbbb", "db", "default", agoNanos(1), PodSandboxState.SANDBOX_READY))
                .addItems(pod("cccccccccccccccccccc", "web-2", "kube-system", agoNanos(5), PodSandboxState.SANDBOX_READY))
                .addItems(pod("dddddddddddddddddddd", "web-3", "default", agoNanos(60), PodSandboxState.SANDBOX_NOTREADY))
                .build());
        var r = run("pods", "--id", "a", "--state", "Ready", "--label", "app=web", "--label", "tier=front",
                "--name", "^web", "--namespace", "default");
        assertEquals(0, r.exit(), r.err());
        var filter = fake.requests(ListPodSandboxRequest.class).getFirst().getFilter();
        assertEquals("a", filter.getId());
        assertEquals(PodSandboxState.SANDBOX_READY, filter.getState().getState());
        assertEquals(Map.of("app", "web", "tier", "front"), filter.getLabelSelectorMap());
        var lines = r.out().lines().toList();
        assertEquals("POD ID              CREATED              STATE               NAME                NAMESPACE           ATTEMPT             RUNTIME",
                lines.get(0));
        assertEquals(3, lines.size(), r.out());
        assertEquals(List.of("ddddddddddddd", "About a minute ago", "NotReady", "web-3", "default", "0", "(default)"),
                List.of(lines.get(1).split(" {2,}")));
        assertTrue(lines.get(2).startsWith("aaaaaaaaaaaaa       2 minutes ago        Ready"), lines.get(2));

        var quiet = run("pods", "-q", "--no-trunc", "--last", "2");
        assertEquals("bbbbbbbbbbbbbbbbbbbb\ncccccccccccccccccccc\n", quiet.out());
        assertFalse(fake.requests(ListPodSandboxRequest.class).get(1).getFilter().hasState());

        var json = JsonParser.parseString(run("pods", "--latest", "-o", "json").out()).getAsJsonObject();
        assertEquals(1, json.getAsJsonArray("items").size());
        assertEquals("bbbbbbbbbbbbbbbbbbbb", json.getAsJsonArray("items").get(0).getAsJsonObject().get("id").getAsString());

        var verbose = run("pods", "-v", "--name", "db").out();
        assertTrue(verbose.startsWith("ID: bbbbbbbbbbbbbbbbbbbb\nName: db\nUID: u-bbbbbbbbbbbbbbbbbbbb\nNamespace: default\nStatus: Ready\nCreated: "),
                verbose);
        assertTrue(verbose.endsWith("Runtime: (default)\n\n"), verbose);
    }

    @Test
    void podsRejectsAnUnknownStateAndABadLabel() {
        var state = run("pods", "--state", "running");
        assertEquals(1, state.exit());
        assertEquals("bollard: --state should be ready or notready, not \"running\"\n", state.err());
        var label = run("pods", "--label", "app");
        assertEquals("bollard: incorrectly specified label: app (expected key=value)\n", label.err());
        assertTrue(fake.requests.isEmpty());
    }

    @Test
    void inspectpPrintsVerboseStatusWithReadableTimesAndDecodedInfo() {
        fake.answers.put("PodSandboxStatus", req -> PodSandboxStatusResponse.newBuilder()
                .setStatus(PodSandboxStatus.newBuilder().setId("pod-1").setState(PodSandboxState.SANDBOX_READY)
                        .setCreatedAt(1_700_000_000_123_000_000L)
                        .setMetadata(PodSandboxMetadata.newBuilder().setName("web").setNamespace("default")))
                .putInfo("info", "{\"pid\":42,\"runtimeHandler\":\"runc\"}").putInfo("note", "\"plain\"").build());
        var r = run("inspectp", "pod-1");
        assertEquals(0, r.exit(), r.err());
        var request = fake.requests(PodSandboxStatusRequest.class).getFirst();
        assertEquals("pod-1", request.getPodSandboxId());
        assertTrue(request.getVerbose());
        JsonObject doc = JsonParser.parseString(r.out()).getAsJsonObject();
        assertEquals(CriText.rfc3339Nano(1_700_000_000_123_000_000L), doc.getAsJsonObject("status").get("createdAt").getAsString());
        assertEquals("SANDBOX_READY", doc.getAsJsonObject("status").get("state").getAsString());
        assertEquals(42, doc.getAsJsonObject("info").get("pid").getAsInt());
        assertEquals("plain", doc.get("note").getAsString());

        var two = JsonParser.parseString(run("inspectp", "-q", "a", "b").out());
        assertEquals(2, two.getAsJsonArray().size());
        assertFalse(fake.requests(PodSandboxStatusRequest.class).get(1).getVerbose());

        var yaml = run("inspectp", "-o", "yaml", "pod-1").out();
        assertTrue(yaml.startsWith("status:\n  id: pod-1\n"), yaml);
    }

    @Test
    void stoppAndRmpWithForceAndAll() {
        var stop = run("stopp", "p1", "p2");
        assertEquals(0, stop.exit(), stop.err());
        assertEquals("Stopped sandbox p1\nStopped sandbox p2\n", stop.out());
        assertEquals(List.of("p1", "p2"), fake.requests(StopPodSandboxRequest.class).stream().map(StopPodSandboxRequest::getPodSandboxId).toList());

        fake.answers.put("PodSandboxStatus", req -> PodSandboxStatusResponse.newBuilder()
                .setStatus(PodSandboxStatus.newBuilder().setState(PodSandboxState.SANDBOX_READY)).build());
        var refused = run("rmp", "p1");
        assertEquals(1, refused.exit());
        assertEquals("bollard: removing the pod sandbox \"p1\": pod sandbox is running, please stop it first (or use -f)\n", refused.err());
        assertTrue(fake.requests(RemovePodSandboxRequest.class).isEmpty());

        var forced = run("rmp", "-f", "p1");
        assertEquals(0, forced.exit(), forced.err());
        assertEquals("Stopped sandbox p1\nRemoved sandbox p1\n", forced.out());
        assertEquals("p1", fake.requests(RemovePodSandboxRequest.class).getFirst().getPodSandboxId());

        fake.answers.put("PodSandboxStatus", req -> PodSandboxStatusResponse.newBuilder()
                .setStatus(PodSandboxStatus.newBuilder().setState(PodSandboxState.SANDBOX_NOTREADY)).build());
        fake.answers.put("ListPodSandbox", req -> ListPodSandboxResponse.newBuilder()
                .addItems(pod("x1", "a", "d", 1, PodSandboxState.SANDBOX_NOTREADY))
                .addItems(pod("x2", "b", "d", 2, PodSandboxState.SANDBOX_NOTREADY)).build());
        var all = run("rmp", "-a");
        assertEquals("Removed sandbox x1\nRemoved sandbox x2\n", all.out());
        assertEquals(1, run("rmp").exit());
    }

    @Test
    void createPullsAMissingImageWithThePodConfigThenCreates() {
        var r = run("create", "pod-9", resource("container.json"), resource("pod.json"));
        assertEquals(0, r.exit(), r.err());
        assertEquals("ctr-1\n", r.out());
        assertEquals("bollard.local/busybox:demo", fake.requests(ImageStatusRequest.class).getFirst().getImage().getImage());
        var pull = fake.requests(PullImageRequest.class).getFirst();
        assertEquals("bollard.local/busybox:demo", pull.getImage().getImage());
        assertEquals("busybox-sandbox", pull.getSandboxConfig().getMetadata().getName());
        var create = fake.requests(CreateContainerRequest.class).getFirst();
        assertEquals("pod-9", create.getPodSandboxId());
        assertEquals(List.of("sleep", "3600"), create.getConfig().getCommandList());
        assertEquals("busybox.0.log", create.getConfig().getLogPath());
        assertEquals("bollard.local/busybox:demo", create.getConfig().getImage().getUserSpecifiedImage());
        assertEquals("busybox-sandbox", create.getSandboxConfig().getMetadata().getName());

        fake.answers.put("ImageStatus", req -> ImageStatusResponse.newBuilder().setImage(Image.newBuilder().setId("sha256:1")).build());
        assertEquals(0, run("create", "pod-9", resource("container.json"), resource("pod.json")).exit());
        assertEquals(1, fake.requests(PullImageRequest.class).size(), "a present image is not pulled again");

        int statusCalls = fake.requests(ImageStatusRequest.class).size();
        assertEquals(0, run("create", "--no-pull", "pod-9", resource("container.json"), resource("pod.json")).exit());
        assertEquals(statusCalls, fake.requests(ImageStatusRequest.class).size());
        assertEquals(3, fake.requests(CreateContainerRequest.class).size());
    }

    @Test
    void runMakesThePodThenCreatesAndStartsTheContainer() {
        var r = run("run", "--runtime", "runc", "--no-pull", resource("container.json"), resource("pod.yaml"));
        assertEquals(0, r.exit(), r.err());
        assertEquals("ctr-1\n", r.out());
        assertEquals("runc", fake.requests(RunPodSandboxRequest.class).getFirst().getRuntimeHandler());
        assertEquals("pod-1", fake.requests(CreateContainerRequest.class).getFirst().getPodSandboxId());
        assertEquals("ctr-1", fake.requests(StartContainerRequest.class).getFirst().getContainerId());

        fake.failures.put("StartContainer", Status.FAILED_PRECONDITION.withDescription("no such binary"));
        var failed = run("run", "--no-pull", resource("container.json"), resource("pod.json"));
        assertEquals(1, failed.exit());
        assertEquals("bollard: starting container ctr-1: " + fake.endpoint() + ": FAILED_PRECONDITION: no such binary\n", failed.err());
    }

    @Test
    void startStopAndRemoveContainers() throws Exception {
        assertEquals("c1\nc2\n", run("start", "c1", "c2").out());
        assertEquals(List.of("c1", "c2"), fake.requests(StartContainerRequest.class).stream().map(StartContainerRequest::getContainerId).toList());

        assertEquals("c1\n", run("stop", "-t", "7", "c1").out());
        assertEquals(7, fake.requests(StopContainerRequest.class).getFirst().getTimeout());

        Path log = Files.writeString(dir.resolve("c1.log"), "x\n");
        Path rotated = Files.writeString(dir.resolve("c1.log.20240101-000000"), "y\n");
        Path other = Files.writeString(dir.resolve("c10.log"), "z\n");
        fake.answers.put("ContainerStatus", req -> ContainerStatusResponse.newBuilder().setStatus(ContainerStatus.newBuilder()
                .setId("c1").setState(ContainerState.CONTAINER_RUNNING).setLogPath(log.toString())).build());
        var refused = run("rm", "c1");
        assertEquals(1, refused.exit());
        assertEquals("bollard: removing container \"c1\": container is running, please stop it first (or use -f)\n", refused.err());

        var removed = run("rm", "-f", "c1");
        assertEquals(0, removed.exit(), removed.err());
        assertEquals("c1\nc1\n", removed.out());
        assertEquals(0, fake.requests(StopContainerRequest.class).get(1).getTimeout());
        assertEquals("c1", fake.requests(RemoveContainerRequest.class).getFirst().getContainerId());
        assertFalse(Files.exists(log));
        assertFalse(Files.exists(rotated));
        assertTrue(Files.exists(other));

        Files.writeString(log, "x\n");
        assertEquals(0, run("rm", "-f", "--keep-logs", "c1").exit());
        assertTrue(Files.exists(log));

        fake.answers.put("ListContainers", req -> ListContainersResponse.newBuilder()
                .addContainers(container("r1", "a", ContainerState.CONTAINER_RUNNING, 1)).build());
        assertEquals("r1\n", run("stop", "-a").out());
        assertEquals(ContainerState.CONTAINER_RUNNING,
                fake.requests(ListContainersRequest.class).getFirst().getFilter().getState().getState());
    }

    @Test
    void aDaemonErrorIsOneLineWithTheCode() {
        fake.failures.put("StopContainer", Status.NOT_FOUND.withDescription("container \"nope\" not found"));
        var r = run("stop", "nope");
        assertEquals(1, r.exit());
        assertEquals("bollard: stopping the container \"nope\": " + fake.endpoint() + ": NOT_FOUND: container \"nope\" not found\n", r.err());
        assertEquals("", r.out());
    }

    @Test
    void psShowsRunningByDefaultAndFormatsLikeCrictl() {
        fake.answers.put("ListContainers", req -> ListContainersResponse.newBuilder()
                .addContainers(container("1111111111111111111", "old", ContainerState.CONTAINER_RUNNING, agoNanos(3 * 3600)))
                .addContainers(container("2222222222222222222", "new", ContainerState.CONTAINER_EXITED, agoNanos(600)))
                .build());
        var r = run("ps");
        assertEquals(0, r.exit(), r.err());
        var filter = fake.requests(ListContainersRequest.class).getFirst().getFilter();
        assertEquals(ContainerState.CONTAINER_RUNNING, filter.getState().getState());
        var lines = r.out().lines().toList();
        assertEquals(List.of("CONTAINER", "IMAGE", "CREATED", "STATE", "NAME", "ATTEMPT", "POD ID", "POD", "NAMESPACE"),
                List.of(lines.get(0).split(" {2,}")));
        assertEquals(List.of("2222222222222", "c0ffeec0ffeec", "10 minutes ago", "Exited", "new", "2", "pod0123456789",
                "web", "prod"), List.of(lines.get(1).split(" {2,}")));
        assertEquals(List.of("1111111111111", "c0ffeec0ffeec", "3 hours ago", "Running", "old", "2", "pod0123456789",
                "web", "prod"), List.of(lines.get(2).split(" {2,}")));

        run("ps", "-a", "--pod", "p1", "--id", "22", "--label", "a=b");
        var all = fake.requests(ListContainersRequest.class).get(1).getFilter();
        assertFalse(all.hasState());
        assertEquals("p1", all.getPodSandboxId());
        assertEquals("22", all.getId());
        assertEquals(Map.of("a", "b"), all.getLabelSelectorMap());

        run("ps", "--state", "exited");
        assertEquals(ContainerState.CONTAINER_EXITED, fake.requests(ListContainersRequest.class).get(2).getFilter().getState().getState());
        assertEquals("2222222222222222222\n", run("ps", "-l", "-q").out());
        assertFalse(fake.requests(ListContainersRequest.class).get(3).getFilter().hasState());
        assertEquals("1111111111111111111\n", run("ps", "-q", "--name", "^ol").out());
        assertEquals("", run("ps", "-q", "--namespace", "^dev$").out());

        var json = JsonParser.parseString(run("ps", "-o", "json").out()).getAsJsonObject();
        assertEquals(2, json.getAsJsonArray("containers").size());
        assertEquals(1, run("ps", "--state", "paused").exit());
    }

    @Test
    void psImageFilterComparesImageIds() {
        fake.answers.put("ListContainers", req -> ListContainersResponse.newBuilder()
                .addContainers(container("1", "a", ContainerState.CONTAINER_RUNNING, 1).toBuilder()
                        .setImage(ImageSpec.newBuilder().setImage("busybox")).build())
                .addContainers(container("2", "b", ContainerState.CONTAINER_RUNNING, 2).toBuilder()
                        .setImage(ImageSpec.newBuilder().setImage("nginx")).build()).build());
        fake.answers.put("ImageStatus", req -> {
            String image = ((ImageStatusRequest) req).getImage().getImage();
            String id = image.startsWith("docker.io/library/busybox") || image.equals("busybox") ? "sha256:b" : "sha256:n";
            return ImageStatusResponse.newBuilder().setImage(Image.newBuilder().setId(id)).build();
        });
        assertEquals("1\n", run("ps", "-q", "--image", "docker.io/library/busybox:latest").out());
    }

    @Test
    void inspectShowsZeroTimesForWhatHasNotHappened() {
        fake.answers.put("ContainerStatus", req -> ContainerStatusResponse.newBuilder().setStatus(ContainerStatus.newBuilder()
                .setId("c1").setState(ContainerState.CONTAINER_CREATED).setCreatedAt(1_700_000_000_000_000_000L)).build());
        var r = run("inspect", "c1");
        assertEquals(0, r.exit(), r.err());
        assertTrue(fake.requests(ContainerStatusRequest.class).getFirst().getVerbose());
        var status = JsonParser.parseString(r.out()).getAsJsonObject().getAsJsonObject("status");
        assertEquals(CriText.rfc3339Nano(1_700_000_000_000_000_000L), status.get("createdAt").getAsString());
        assertEquals("0001-01-01T00:00:00Z", status.get("startedAt").getAsString());
        assertEquals("0001-01-01T00:00:00Z", status.get("finishedAt").getAsString());
        assertEquals("CONTAINER_CREATED", status.get("state").getAsString());
    }

    @Test
    void execPrintsBothStreamsAndExitsWithTheCommandsCode() {
        fake.answers.put("ExecSync", req -> ExecSyncResponse.newBuilder().setStdout(ByteString.copyFromUtf8("hi\n"))
                .setStderr(ByteString.copyFromUtf8("warn\n")).setExitCode(3).build());
        var r = run("exec", "--timeout", "5", "c1", "sh", "-c", "echo hi; echo warn >&2; exit 3");
        assertEquals(3, r.exit());
        assertEquals("hi\n", r.out());
        assertEquals("warn\n", r.err());
        var request = fake.requests(ExecSyncRequest.class).getFirst();
        assertEquals("c1", request.getContainerId());
        assertEquals(List.of("sh", "-c", "echo hi; echo warn >&2; exit 3"), request.getCmdList());
        assertEquals(5, request.getTimeout());

        // -i/-t stream through Exec (which this fake does not serve), never ExecSync.
        var tty = run("exec", "-it", "c1", "sh");
        assertEquals(1, tty.exit());
        assertTrue(tty.err().startsWith("bollard: "), tty.err());
        var sync = run("exec", "-s", "-it", "c1", "sh");
        assertEquals(1, sync.exit());
        assertTrue(sync.err().contains("-i/-t cannot be combined with --sync/--timeout"), sync.err());
        assertEquals(1, fake.requests(ExecSyncRequest.class).size());
    }

    @Test
    void updateSendsTheLinuxResources() {
        var r = run("update", "--cpu-shares", "512", "--memory", "67108864", "--cpu-quota", "50000", "--cpuset-cpus", "0", "c1");
        assertEquals(0, r.exit(), r.err());
        assertEquals("c1\n", r.out());
        var linux = fake.requests(UpdateContainerResourcesRequest.class).getFirst().getLinux();
        assertEquals(512, linux.getCpuShares());
        assertEquals(67108864, linux.getMemoryLimitInBytes());
        assertEquals(50000, linux.getCpuQuota());
        assertEquals("0", linux.getCpusetCpus());
    }

    private void containerLogAt(Path log, ContainerState state) {
        fake.answers.put("ContainerStatus", req -> ContainerStatusResponse.newBuilder().setStatus(ContainerStatus.newBuilder()
                .setId("c1").setState(state).setLogPath(log.toString())
                .setMetadata(ContainerMetadata.newBuilder().setName("app").setAttempt(1))).build());
    }

    @Test
    void logsSplitsStreamsJoinsPartialsAndTails() throws Exception {
        Path log = Files.writeString(dir.resolve("1.log"), """
                2024-01-02T03:04:05.000000001Z stdout F one
                2024-01-02T03:04:06.5Z stderr P par
                2024-01-02T03:04:06.6Z stdout F two
                2024-01-02T03:04:06.7Z stderr F tial
                2024-01-02T03:04:07Z stdout F three
                """);
        containerLogAt(log, ContainerState.CONTAINER_EXITED);
        var r = run("logs", "c1");
        assertEquals(0, r.exit(), r.err());
        assertEquals("one\ntwo\nthree\n", r.out());
        assertEquals("partial\n", r.err());
        assertEquals("c1", fake.requests(ContainerStatusRequest.class).getFirst().getContainerId());

        var tail = run("logs", "--tail", "2", "-t", "c1");
        assertEquals("2024-01-02T03:04:07Z three\n", tail.out());
        assertEquals("2024-01-02T03:04:06.5Z partial\n", tail.err());

        assertEquals("three\n", run("logs", "--since", "2024-01-02T03:04:06.65Z", "c1").out());
        assertEquals("", run("logs", "--stream", "stderr", "c1").out());

        Files.writeString(dir.resolve("0.log"), "2024-01-01T00:00:00Z stdout F before\n");
        assertEquals("before\n", run("logs", "-p", "c1").out());
        // Following an exited container's log reads it once and returns.
        assertEquals("one\ntwo\nthree\n", run("logs", "-f", "c1").out());
    }

    @Test
    void logsFollowReadsWhatIsWrittenUntilTheContainerStops() throws Exception {
        Path log = Files.writeString(dir.resolve("0.log"), "2024-01-02T03:04:05Z stdout F first\n");
        var calls = new AtomicInteger();
        fake.answers.put("ContainerStatus", req -> {
            int n = calls.incrementAndGet();
            if (n == 2) {
                try {
                    Files.writeString(log, "2024-01-02T03:04:06Z stdout P sec\n2024-01-02T03:04:06Z stdout F ond\n",
                            java.nio.file.StandardOpenOption.APPEND);
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            }
            return ContainerStatusResponse.newBuilder().setStatus(ContainerStatus.newBuilder().setId("c1")
                    .setState(n <= 2 ? ContainerState.CONTAINER_RUNNING : ContainerState.CONTAINER_EXITED)
                    .setLogPath(log.toString())).build();
        });
        var r = run("logs", "-f", "c1");
        assertEquals(0, r.exit(), r.err());
        assertEquals("first\nsecond\n", r.out());
        assertTrue(calls.get() >= 3);
    }
}
