package dev.bollard.vm;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.protobuf.Any;
import com.google.protobuf.ByteString;
import com.google.protobuf.Empty;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.MessageLite;
import com.google.protobuf.Parser;
import dev.bollard.api.containerd.cgroups.v2.Metrics;
import dev.bollard.api.containerd.events.TaskExit;
import dev.bollard.api.containerd.events.TaskOOM;
import dev.bollard.api.containerd.services.events.v1.ForwardRequest;
import dev.bollard.api.containerd.task.v2.CloseIORequest;
import dev.bollard.api.containerd.task.v2.ConnectRequest;
import dev.bollard.api.containerd.task.v2.ConnectResponse;
import dev.bollard.api.containerd.task.v2.CreateTaskRequest;
import dev.bollard.api.containerd.task.v2.CreateTaskResponse;
import dev.bollard.api.containerd.task.v2.DeleteRequest;
import dev.bollard.api.containerd.task.v2.DeleteResponse;
import dev.bollard.api.containerd.task.v2.ExecProcessRequest;
import dev.bollard.api.containerd.task.v2.KillRequest;
import dev.bollard.api.containerd.task.v2.PidsRequest;
import dev.bollard.api.containerd.task.v2.PidsResponse;
import dev.bollard.api.containerd.task.v2.ResizePtyRequest;
import dev.bollard.api.containerd.task.v2.ShutdownRequest;
import dev.bollard.api.containerd.task.v2.StartRequest;
import dev.bollard.api.containerd.task.v2.StartResponse;
import dev.bollard.api.containerd.task.v2.StateRequest;
import dev.bollard.api.containerd.task.v2.StateResponse;
import dev.bollard.api.containerd.task.v2.StatsRequest;
import dev.bollard.api.containerd.task.v2.StatsResponse;
import dev.bollard.api.containerd.task.v2.WaitRequest;
import dev.bollard.api.containerd.task.v2.WaitResponse;
import dev.bollard.api.containerd.types.Envelope;
import dev.bollard.api.containerd.types.Mount;
import dev.bollard.api.containerd.types.task.Status;
import dev.bollard.daemon.linux.MountInfo;
import dev.bollard.daemon.linux.Syscalls;
import dev.bollard.daemon.shim.ttrpc.TtrpcClient;
import dev.bollard.daemon.shim.ttrpc.TtrpcException;
import dev.bollard.daemon.shim.ttrpc.TtrpcHandler;
import dev.bollard.daemon.shim.ttrpc.TtrpcServer;
import io.grpc.Status.Code;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The shim as containerd or Bollard runs it: {@code start} from the pod's bundle with {@code TTRPC_ADDRESS}, the
 * Task API over its socket, events to our events server. One VM boot (TCG) for the whole class: the pod's
 * sandbox container boots it, the other cases run beside it.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class VmShimIntegrationTest {

    private static final String TASK = TaskService.SERVICE;
    private static final Duration CALL = Duration.ofSeconds(120);

    private static Path work;
    private static Path stateRoot;
    private static Path guest;
    private static Path rootfsSource;
    private static Path hostFile;
    private static String pod;
    private static String netns;
    private static TtrpcServer eventsServer;
    private static final BlockingQueue<Envelope> events = new LinkedBlockingQueue<>();
    private static TtrpcClient shim;
    private static int shimPid;

    @BeforeAll
    static void startShim() throws Exception {
        // The guest image (kernel + initramfs), built from Debian packages and cached under vm/guest/out.
        guest = TestProcesses.guestImage();

        work = Files.createTempDirectory(Path.of("/tmp"), "vmshim-");
        netns = "vmshim-" + Long.toHexString(System.nanoTime());
        assertEquals(0, new ProcessBuilder("ip", "netns", "add", netns).inheritIO().start().waitFor());
        stateRoot = work.resolve("state");
        pod = "pod-" + Long.toHexString(System.nanoTime());
        rootfsSource = work.resolve("busybox");
        makeBusyboxRootfs(rootfsSource);
        hostFile = work.resolve("host-file");
        Files.writeString(hostFile, "from the host\n");
        eventsServer = TtrpcServer.start(work.resolve("events.sock"), Map.of(EventPublisher.SERVICE,
                Map.of("Forward", TtrpcHandler.of(ForwardRequest.parser(), request -> {
                    events.add(request.getEnvelope());
                    return Empty.getDefaultInstance();
                }))));

        Path bundle = bundle(pod, List.of("sleep", "3600"));
        var result = runShim(bundle, "-id", pod, "start");
        assertEquals(0, result.exitCode(), result.stderr());
        String address = result.stdout().strip();
        assertTrue(address.startsWith("unix://" + stateRoot), address);
        assertEquals(address, Files.readString(bundle.resolve("address")));
        shim = TtrpcClient.connect(TtrpcClient.socketPath(address), Duration.ofSeconds(5));
        shimPid = shim.invoke(TASK, "Connect", ConnectRequest.newBuilder().setId(pod).build(),
                ConnectResponse.parser(), CALL).getShimPid();
    }

    @AfterAll
    static void cleanUp() throws Exception {
        if (shim != null) {
            shim.close();
        }
        if (shimPid > 0) {
            ProcessHandle.of(shimPid).ifPresent(ProcessHandle::destroyForcibly);
        }
        if (eventsServer != null) {
            eventsServer.close();
        }
        if (netns != null) {
            new ProcessBuilder("ip", "netns", "del", netns).inheritIO().start().waitFor();
        }
        if (work != null) {
            TestProcesses.removeWorkDir(work);
        }
    }

    @Test
    @Order(1)
    void theSandboxContainerBootsTheVmAndRuns() throws Exception {
        var io = Stdio.make(pod);
        // The rootfs comes as a mount for the shim to make, as Bollard's overlay snapshots do.
        var created = call("Create", CreateTaskRequest.newBuilder().setId(pod).setBundle(work.resolve("bundles")
                        .resolve(pod).toString())
                .addRootfs(Mount.newBuilder().setType("bind").setSource(rootfsSource.toString()).addOptions("rbind"))
                .setStdout(io.stdout.toString()).setStderr(io.stderr.toString()).build(), CreateTaskResponse.parser());
        assertTrue(created.getPid() > 0, "guest pid " + created.getPid());
        assertTopic("/tasks/create", pod);
        var started = call("Start", StartRequest.newBuilder().setId(pod).build(), StartResponse.parser());
        assertEquals(created.getPid(), started.getPid());
        assertTopic("/tasks/start", pod);
        var state = call("State", StateRequest.newBuilder().setId(pod).build(), StateResponse.parser());
        assertEquals(Status.RUNNING, state.getStatus());
    }

    @Test
    @Order(2)
    void aContainerSeesTheGuestKernelNotTheHosts() throws Exception {
        String id = "app-" + Long.toHexString(System.nanoTime());
        bundle(id, List.of("sh", "-c", "uname -r; cat /etc/from-host; echo to-stderr >&2; "
                + "if echo x > /etc/from-host; then echo WRITABLE; fi; exit 3"));
        var io = Stdio.make(id);
        call("Create", CreateTaskRequest.newBuilder().setId(id).setBundle(work.resolve("bundles").resolve(id).toString())
                .addRootfs(Mount.newBuilder().setType("bind").setSource(rootfsSource.toString()).addOptions("rbind"))
                .setStdout(io.stdout.toString()).setStderr(io.stderr.toString()).build(), CreateTaskResponse.parser());
        call("Start", StartRequest.newBuilder().setId(id).build(), StartResponse.parser());
        var waited = call("Wait", WaitRequest.newBuilder().setId(id).build(), WaitResponse.parser());
        assertEquals(3, waited.getExitStatus());
        TaskExit exit = TaskExit.parseFrom(awaitTopic("/tasks/exit", id).getEvent().getValue());
        assertEquals(3, exit.getExitStatus());
        assertEquals(id, exit.getId());

        List<String> out = io.stdoutText().lines().toList();
        String guestKernel = Files.readString(guest.resolve("kernel-release")).strip();
        assertEquals(guestKernel, out.getFirst(), "uname -r in the container");
        assertNotEquals(hostKernel(), out.getFirst(), "the container must not run on the host's kernel");
        assertEquals("from the host", out.get(1), "a read-only bind mount of a host file");
        assertFalse(out.contains("WRITABLE"), "a read-only bind mount stayed writable: " + out);
        assertTrue(io.stderrText().contains("to-stderr"), io.stderrText());

        var deleted = call("Delete", DeleteRequest.newBuilder().setId(id).build(), DeleteResponse.parser());
        assertEquals(3, deleted.getExitStatus());
        assertTopic("/tasks/delete", id);
        assertFalse(MountInfo.mountPointsBelow(work.resolve("bundles").resolve(id)).iterator().hasNext(),
                "the container's rootfs is still mounted");
        var gone = assertThrows(TtrpcException.class, () -> call("State", StateRequest.newBuilder().setId(id).build(),
                StateResponse.parser()));
        assertEquals(Code.NOT_FOUND.value(), gone.status().getCode(), gone.getMessage());
    }

    @Test
    @Order(3)
    void execRunsInTheContainerWithItsExitCodeAndOutput() throws Exception {
        var io = Stdio.make("exec1");
        var spec = new JsonObject();
        spec.add("args", strings(List.of("sh", "-c", "echo exec-out; cat; exit 7")));
        spec.add("env", strings(List.of("PATH=/bin")));
        spec.addProperty("cwd", "/");
        var user = new JsonObject();
        user.addProperty("uid", 0);
        user.addProperty("gid", 0);
        spec.add("user", user);
        Path stdin = work.resolve("exec1.stdin");
        Syscalls.mkfifo(stdin, 0600);
        call("Exec", ExecProcessRequest.newBuilder().setId(pod).setExecId("exec1").setStdin(stdin.toString())
                .setStdout(io.stdout.toString()).setStderr(io.stderr.toString())
                .setSpec(Any.newBuilder().setTypeUrl("types.containerd.io/opencontainers/runtime-spec/1/Process")
                        .setValue(ByteString.copyFromUtf8(spec.toString()))).build(), Empty.parser());
        var writer = new CompletableFuture<Void>();
        Thread.ofPlatform().daemon().start(() -> {
            try (var out = new java.io.FileOutputStream(stdin.toFile())) {
                out.write("through-stdin\n".getBytes(StandardCharsets.UTF_8));
                writer.complete(null);
            } catch (IOException e) {
                writer.completeExceptionally(e);
            }
        });
        var started = call("Start", StartRequest.newBuilder().setId(pod).setExecId("exec1").build(), StartResponse.parser());
        assertTrue(started.getPid() > 0);
        writer.get(60, TimeUnit.SECONDS);
        // The shim holds the FIFO until CloseIO (as containerd's runc shim): the writer's close alone is no EOF.
        call("CloseIO", CloseIORequest.newBuilder().setId(pod).setExecId("exec1").setStdin(true).build(), Empty.parser());
        var waited = call("Wait", WaitRequest.newBuilder().setId(pod).setExecId("exec1").build(), WaitResponse.parser());
        assertEquals(7, waited.getExitStatus());
        assertEquals(List.of("exec-out", "through-stdin"), io.stdoutText().lines().toList());
        call("Delete", DeleteRequest.newBuilder().setId(pod).setExecId("exec1").build(), DeleteResponse.parser());
    }

    @Test
    @Order(3)
    void aTerminalExecGetsAPtySizedBeforeItsStart() throws Exception {
        Path out = work.resolve("tty1.stdout");
        Syscalls.mkfifo(out, 0600);
        var text = Stdio.read(out);
        var spec = new JsonObject();
        spec.add("args", strings(List.of("sh", "-c", "tty; stty size; exit 6")));
        spec.add("env", strings(List.of("PATH=/bin")));
        spec.addProperty("cwd", "/");
        var user = new JsonObject();
        user.addProperty("uid", 0);
        user.addProperty("gid", 0);
        spec.add("user", user);
        call("Exec", ExecProcessRequest.newBuilder().setId(pod).setExecId("tty1").setTerminal(true)
                .setStdout(out.toString())
                .setSpec(Any.newBuilder().setTypeUrl("types.containerd.io/opencontainers/runtime-spec/1/Process")
                        .setValue(ByteString.copyFromUtf8(spec.toString()))).build(), Empty.parser());
        // A size given before the start is the pty's from its first instruction (the agent keeps it till then).
        call("ResizePty", ResizePtyRequest.newBuilder().setId(pod).setExecId("tty1").setWidth(90).setHeight(20)
                .build(), Empty.parser());
        call("Start", StartRequest.newBuilder().setId(pod).setExecId("tty1").build(), StartResponse.parser());
        var waited = call("Wait", WaitRequest.newBuilder().setId(pod).setExecId("tty1").build(), WaitResponse.parser());
        assertEquals(6, waited.getExitStatus());
        String printed = text.get(60, TimeUnit.SECONDS);
        assertTrue(printed.startsWith("/dev/pts/") && printed.endsWith("\r\n20 90\r\n"), printed);
        call("Delete", DeleteRequest.newBuilder().setId(pod).setExecId("tty1").build(), DeleteResponse.parser());
        // A process without a terminal has nothing to resize: no error (as runc's shim).
        call("ResizePty", ResizePtyRequest.newBuilder().setId(pod).setWidth(80).setHeight(24).build(), Empty.parser());
    }

    @Test
    @Order(4)
    void statsAndPidsComeFromTheGuestCgroup() throws Exception {
        var stats = call("Stats", StatsRequest.newBuilder().setId(pod).build(), StatsResponse.parser());
        assertEquals(GuestMetrics.TYPE_URL, stats.getStats().getTypeUrl());
        Metrics metrics = Metrics.parseFrom(stats.getStats().getValue());
        assertTrue(metrics.getMemory().getUsage() > 0, metrics.toString());
        assertTrue(metrics.getPids().getCurrent() >= 1, metrics.toString());
        var pids = call("Pids", PidsRequest.newBuilder().setId(pod).build(), PidsResponse.parser());
        int init = call("State", StateRequest.newBuilder().setId(pod).build(), StateResponse.parser()).getPid();
        assertTrue(pids.getProcessesList().stream().anyMatch(p -> p.getPid() == init), pids.toString());
    }

    @Test
    @Order(5)
    void badInputGetsClearStatuses() {
        var unknown = assertThrows(TtrpcException.class, () -> call("Start",
                StartRequest.newBuilder().setId("no-such-container").build(), StartResponse.parser()));
        assertEquals(Code.NOT_FOUND.value(), unknown.status().getCode(), unknown.getMessage());
        var badId = assertThrows(TtrpcException.class, () -> call("Create",
                CreateTaskRequest.newBuilder().setId("../escape").setBundle(work.toString()).build(),
                CreateTaskResponse.parser()));
        assertEquals(Code.INVALID_ARGUMENT.value(), badId.status().getCode(), badId.getMessage());
        var again = assertThrows(TtrpcException.class, () -> call("Create",
                CreateTaskRequest.newBuilder().setId(pod).setBundle(work.resolve("bundles").resolve(pod).toString())
                        .build(), CreateTaskResponse.parser()));
        assertEquals(Code.ALREADY_EXISTS.value(), again.status().getCode(), again.getMessage());
    }

    @Test
    @Order(6)
    void aContainerOverItsMemoryLimitIsReportedOomBeforeItsExit() throws Exception {
        String id = "hog-" + Long.toHexString(System.nanoTime());
        Path bundle = bundle(id, List.of("sh", "-c", "a=$(head -c 100000000 /dev/zero | tr '\\0' x); echo survived"));
        // linux.resources.memory.limit: 16 MiB, as Bollard writes a container's memory limit
        var spec = JsonParser.parseString(Files.readString(bundle.resolve("config.json"))).getAsJsonObject();
        var memory = new JsonObject();
        memory.addProperty("limit", 16L << 20);
        var resources = new JsonObject();
        resources.add("memory", memory);
        spec.getAsJsonObject("linux").add("resources", resources);
        Files.writeString(bundle.resolve("config.json"), spec.toString());
        var io = Stdio.make(id);
        call("Create", CreateTaskRequest.newBuilder().setId(id).setBundle(bundle.toString())
                .addRootfs(Mount.newBuilder().setType("bind").setSource(rootfsSource.toString()).addOptions("rbind"))
                .setStdout(io.stdout.toString()).setStderr(io.stderr.toString()).build(), CreateTaskResponse.parser());
        call("Start", StartRequest.newBuilder().setId(id).build(), StartResponse.parser());
        assertEquals(137, call("Wait", WaitRequest.newBuilder().setId(id).build(), WaitResponse.parser()).getExitStatus());
        // TaskOOM first, then the exit it caused (awaitTopic skips what comes before: an exit first would be lost)
        var oom = TaskOOM.parseFrom(awaitTopic("/tasks/oom", id).getEvent().getValue());
        assertEquals(id, oom.getContainerId());
        assertEquals(137, TaskExit.parseFrom(awaitTopic("/tasks/exit", id).getEvent().getValue()).getExitStatus());
        assertFalse(io.stdoutText().contains("survived"), io.stdoutText());
        call("Delete", DeleteRequest.newBuilder().setId(id).build(), DeleteResponse.parser());
    }

    @Test
    @Order(7)
    void killAContainerThenTheVmDyingIsEveryContainerExiting() throws Exception {
        String id = "app2-" + Long.toHexString(System.nanoTime());
        bundle(id, List.of("sleep", "3600"));
        var io = Stdio.make(id);
        call("Create", CreateTaskRequest.newBuilder().setId(id).setBundle(work.resolve("bundles").resolve(id).toString())
                .addRootfs(Mount.newBuilder().setType("bind").setSource(rootfsSource.toString()).addOptions("rbind"))
                .setStdout(io.stdout.toString()).setStderr(io.stderr.toString()).build(), CreateTaskResponse.parser());
        call("Start", StartRequest.newBuilder().setId(id).build(), StartResponse.parser());
        call("Kill", KillRequest.newBuilder().setId(id).setSignal(9).build(), Empty.parser());
        assertEquals(137, call("Wait", WaitRequest.newBuilder().setId(id).build(), WaitResponse.parser()).getExitStatus());
        assertEquals(137, TaskExit.parseFrom(awaitTopic("/tasks/exit", id).getEvent().getValue()).getExitStatus());
        var finished = assertThrows(TtrpcException.class, () -> call("Kill",
                KillRequest.newBuilder().setId(id).setSignal(15).build(), Empty.parser()));
        assertEquals(Code.NOT_FOUND.value(), finished.status().getCode(), finished.getMessage());
        call("Delete", DeleteRequest.newBuilder().setId(id).build(), DeleteResponse.parser());

        // qemu dies under the running pod: its containers are reported exited, and the pod can still be removed.
        ProcessHandle qemu = ProcessHandle.allProcesses().filter(p -> p.info().commandLine()
                .map(c -> c.contains("qemu-system") && c.contains(stateRoot.toString())).orElse(false))
                .findFirst().orElseThrow();
        qemu.destroyForcibly();
        var waited = call("Wait", WaitRequest.newBuilder().setId(pod).build(), WaitResponse.parser());
        assertEquals(TaskService.VM_DIED_STATUS, waited.getExitStatus());
        assertEquals(TaskService.VM_DIED_STATUS,
                TaskExit.parseFrom(awaitTopic("/tasks/exit", pod).getEvent().getValue()).getExitStatus());
        assertEquals(Status.STOPPED, call("State", StateRequest.newBuilder().setId(pod).build(),
                StateResponse.parser()).getStatus());
        var deleted = call("Delete", DeleteRequest.newBuilder().setId(pod).build(), DeleteResponse.parser());
        assertEquals(TaskService.VM_DIED_STATUS, deleted.getExitStatus());
    }

    @Test
    @Order(8)
    void shutdownLeavesNothing() throws Exception {
        try {
            call("Shutdown", ShutdownRequest.newBuilder().setId(pod).build(), Empty.parser());
        } catch (TtrpcException e) {
            // the shim may exit before its answer is read
        }
        var handle = ProcessHandle.of(shimPid);
        if (handle.isPresent()) {
            handle.get().onExit().get(30, TimeUnit.SECONDS);
        }
        shimPid = 0;
        assertEquals(0, childPids("qemu-system") + childPids("virtiofsd"), "qemu or virtiofsd of this test still running");
        assertTrue(MountInfo.mountPointsBelow(work).isEmpty(), "mounts left: " + MountInfo.mountPointsBelow(work));
        try (Stream<Path> left = Files.exists(stateRoot) ? Files.list(stateRoot) : Stream.empty()) {
            assertEquals(List.of(), left.toList(), "files left in the state root");
        }
        assertTrue(Files.exists(work.resolve("bundles").resolve(pod).resolve("config.json")),
                "the bundle itself is the caller's to remove");
    }

    // --- helpers ------------------------------------------------------------------------------------------------

    private static <T> T call(String method, MessageLite request, Parser<T> parser) throws TtrpcException {
        try {
            return shim.invoke(TASK, method, request, parser, CALL);
        } catch (TtrpcException e) {
            throw e;
        } catch (Exception e) {
            throw new AssertionError(method + " failed: " + e, e);
        }
    }

    /** Processes whose command line names this test's state root: the pod's qemu and virtiofsd. */
    private static long childPids(String name) {
        return TestProcesses.mentioning(stateRoot.toString()).stream().filter(pid -> ProcessHandle.of(pid)
                .flatMap(p -> p.info().command()).map(c -> c.contains(name)).orElse(false)).count();
    }

    private static Envelope awaitTopic(String topic, String id) throws InterruptedException, InvalidProtocolBufferException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        var seen = new ArrayList<String>();
        while (System.nanoTime() < deadline) {
            Envelope e = events.poll(1, TimeUnit.SECONDS);
            if (e == null) {
                continue;
            }
            seen.add(e.getTopic());
            // An exec's exit names its container too: for exits, match the process id exactly.
            boolean matches = topic.equals("/tasks/exit") ? e.getTopic().equals(topic)
                    && TaskExit.parseFrom(e.getEvent().getValue()).getId().equals(id)
                    : e.getTopic().equals(topic) && e.getEvent().getValue().toStringUtf8().contains(id);
            if (matches) {
                assertEquals("containerd.events." + switch (topic) {
                    case "/tasks/create" -> "TaskCreate";
                    case "/tasks/start" -> "TaskStart";
                    case "/tasks/exit" -> "TaskExit";
                    case "/tasks/delete" -> "TaskDelete";
                    case "/tasks/oom" -> "TaskOOM";
                    default -> "?";
                }, e.getEvent().getTypeUrl());
                assertEquals("bollard-test", e.getNamespace());
                return e;
            }
        }
        throw new AssertionError("no " + topic + " event for " + id + "; saw " + seen);
    }

    private static void assertTopic(String topic, String id) throws Exception {
        assertNotNull(awaitTopic(topic, id));
    }

    private record ShimRun(int exitCode, String stdout, String stderr) {
    }

    private static ShimRun runShim(Path bundle, String... args) throws Exception {
        var command = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElseThrow(),
                "--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow", "-XX:+UseSerialGC",
                "-Dbollard.vm.jvmFlags=--enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow "
                        + "-XX:+UseSerialGC",
                "-cp", System.getProperty("java.class.path"), Main.class.getName(),
                "-namespace", "bollard-test", "-address", work.resolve("events.sock").toString(),
                "-publish-binary", "/bin/false"));
        command.addAll(List.of(args));
        var builder = new ProcessBuilder(command).directory(bundle.toFile());
        builder.environment().putAll(Map.of("TTRPC_ADDRESS", work.resolve("events.sock").toString(),
                "BOLLARD_VM_KERNEL", guest.resolve("vmlinux").toString(),
                "BOLLARD_VM_INITRD", guest.resolve("initrd.img").toString(),
                "BOLLARD_VM_STATE_ROOT", stateRoot.toString()));
        Process process = builder.start();
        process.getOutputStream().close();
        var out = CompletableFuture.supplyAsync(() -> readAll(process.getInputStream()));
        var err = CompletableFuture.supplyAsync(() -> readAll(process.getErrorStream()));
        assertTrue(process.waitFor(60, TimeUnit.SECONDS), "shim " + String.join(" ", args) + " did not finish");
        return new ShimRun(process.exitValue(), out.get(5, TimeUnit.SECONDS), err.get(5, TimeUnit.SECONDS));
    }

    private static String readAll(InputStream in) {
        try (in) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "(unreadable: " + e + ")";
        }
    }

    /** A bundle as Bollard writes one: config.json naming the pod, an empty rootfs directory to mount on. */
    private static Path bundle(String id, List<String> args) throws IOException {
        Path bundle = work.resolve("bundles").resolve(id);
        Files.createDirectories(bundle.resolve("rootfs"));
        var spec = new JsonObject();
        spec.addProperty("ociVersion", "1.0.2");
        var process = new JsonObject();
        process.add("args", strings(args));
        process.add("env", strings(List.of("PATH=/bin")));
        process.addProperty("cwd", "/");
        var user = new JsonObject();
        user.addProperty("uid", 0);
        user.addProperty("gid", 0);
        process.add("user", user);
        process.addProperty("apparmorProfile", "bollard-default");
        spec.add("process", process);
        var root = new JsonObject();
        root.addProperty("path", "rootfs");
        spec.add("root", root);
        spec.addProperty("hostname", id);
        var mounts = new JsonArray();
        mounts.add(mount("/proc", "proc", "proc", List.of()));
        mounts.add(mount("/dev", "tmpfs", "tmpfs", List.of("nosuid", "mode=755")));
        // a terminal's pty comes from the container's own devpts (crun links /dev/ptmx to it)
        mounts.add(mount("/dev/pts", "devpts", "devpts",
                List.of("nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620")));
        mounts.add(mount("/sys", "sysfs", "sysfs", List.of("nosuid", "noexec", "nodev", "ro")));
        mounts.add(mount("/etc/from-host", "bind", hostFile.toString(), List.of("rbind", "ro")));
        spec.add("mounts", mounts);
        var linux = new JsonObject();
        var namespaces = new JsonArray();
        for (String type : List.of("pid", "ipc", "uts", "mount")) {
            var ns = new JsonObject();
            ns.addProperty("type", type);
            namespaces.add(ns);
        }
        // The pod's network namespace, as for a runc pod: the VM joins it and the guest spec drops it (this one
        // has no interface with an address, so the VM gets no NIC).
        var net = new JsonObject();
        net.addProperty("type", "network");
        net.addProperty("path", "/var/run/netns/" + netns);
        namespaces.add(net);
        linux.add("namespaces", namespaces);
        linux.addProperty("cgroupsPath", "/kubepods/host/path/" + id);
        spec.add("linux", linux);
        var annotations = new JsonObject();
        annotations.addProperty(Main.SANDBOX_ID_ANNOTATION, pod);
        spec.add("annotations", annotations);
        Files.writeString(bundle.resolve("config.json"), spec.toString());
        return bundle;
    }

    private static JsonObject mount(String destination, String type, String source, List<String> options) {
        var m = new JsonObject();
        m.addProperty("destination", destination);
        m.addProperty("type", type);
        m.addProperty("source", source);
        m.add("options", strings(options));
        return m;
    }

    private static JsonArray strings(List<String> values) {
        var array = new JsonArray();
        values.forEach(array::add);
        return array;
    }

    private static void makeBusyboxRootfs(Path root) throws IOException {
        for (String dir : List.of("bin", "proc", "sys", "dev", "etc", "tmp")) {
            Files.createDirectories(root.resolve(dir));
        }
        Files.copy(Path.of("/bin/busybox"), root.resolve("bin/busybox"));
        for (String applet : List.of("sh", "uname", "cat", "echo", "sleep", "ls", "ps")) {
            Files.createSymbolicLink(root.resolve("bin").resolve(applet), Path.of("busybox"));
        }
        Files.writeString(root.resolve("etc/from-host"), "");
    }

    private static String hostKernel() throws IOException {
        return Files.readString(Path.of("/proc/sys/kernel/osrelease")).strip();
    }

    /** A process's stdout and stderr FIFOs, read to the end on threads of their own. */
    private record Stdio(Path stdout, Path stderr, CompletableFuture<String> out, CompletableFuture<String> err) {

        static Stdio make(String name) throws IOException {
            Path out = work.resolve(name + ".stdout");
            Path err = work.resolve(name + ".stderr");
            Syscalls.mkfifo(out, 0600);
            Syscalls.mkfifo(err, 0600);
            return new Stdio(out, err, read(out), read(err));
        }

        private static CompletableFuture<String> read(Path fifo) {
            var result = new CompletableFuture<String>();
            // A platform thread: a virtual one blocked on a FIFO pins its carrier.
            Thread.ofPlatform().daemon().start(() -> {
                try (InputStream in = new FileInputStream(fifo.toFile())) {
                    result.complete(new String(in.readAllBytes(), StandardCharsets.UTF_8));
                } catch (IOException e) {
                    result.completeExceptionally(e);
                }
            });
            return result;
        }

        String stdoutText() throws Exception {
            return out.get(60, TimeUnit.SECONDS);
        }

        String stderrText() throws Exception {
            return err.get(60, TimeUnit.SECONDS);
        }
    }
}
