package dev.bollard.cli;

import com.google.gson.JsonParser;
import dev.bollard.api.cri.v1.ContainerState;
import dev.bollard.api.cri.v1.ContainerStatusRequest;
import dev.bollard.api.cri.v1.CreateContainerRequest;
import dev.bollard.api.cri.v1.ExecSyncRequest;
import dev.bollard.api.cri.v1.ListPodSandboxRequest;
import dev.bollard.api.cri.v1.PodSandboxConfig;
import dev.bollard.api.cri.v1.PodSandboxState;
import dev.bollard.api.cri.v1.PodSandboxStatusRequest;
import dev.bollard.api.cri.v1.RemovePodSandboxRequest;
import dev.bollard.api.cri.v1.RunPodSandboxRequest;
import dev.bollard.api.cri.v1.StartContainerRequest;
import dev.bollard.api.cri.v1.StopPodSandboxRequest;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A daemon restart on a real node: the pods and containers of the daemon that went down (their shims kept running)
 * are known to the next one, with their processes, logs, exits and names.
 */
class PodRestartIntegrationTest extends PodNodeTest {

    private static final Pattern LOG_LINE = Pattern.compile("\\S+ stdout F line (\\d+)");

    @Test
    void podsAndContainersSurviveADaemonRestart() throws Exception {
        var podConfig = node.pod("survivor").build();
        String pod = node.runPod(podConfig);
        String ip = podStatus(pod).getNetwork().getIp();
        String sleeper = node.createAndStart(pod, podConfig, PodTestNode.container("sleeper", "sleep", "3600").build());
        String printer = node.createAndStart(pod, podConfig, PodTestNode.container("printer", "sh", "-c",
                "i=0; while true; do echo line $i; i=$((i+1)); sleep 0.1; done").build());
        String exited = node.createAndStart(pod, podConfig, PodTestNode.container("quitter", "sh", "-c", "exit 4").build());
        assertEquals(4, node.awaitExit(exited).getExitCode());
        String late = node.createAndStart(pod, podConfig, PodTestNode.container("late", "sh", "-c", "sleep 3; exit 5")
                .build());
        long lateStarted = System.nanoTime();
        int sleeperPid = pid(sleeper);
        int printerPid = pid(printer);
        Path printerLog = Path.of(node.status(printer).getLogPath());
        while (logNumbers(printerLog).size() < 5) {
            Thread.sleep(50);
        }
        assertEquals(ContainerState.CONTAINER_RUNNING, node.status(late).getState(), "still runs before the restart");

        node.stopDaemon();
        int lastBefore = logNumbers(printerLog).getLast();
        // Down until the late container has certainly exited: its exit happens while nobody listens.
        long untilLateExited = lateStarted + TimeUnit.SECONDS.toNanos(4) - System.nanoTime();
        Thread.sleep(Math.max(TimeUnit.NANOSECONDS.toMillis(untilLateExited), 1000));
        node.startDaemon();
        assertTrue(node.daemon.logText().contains("exited while the daemon was down"), node.daemon.logText());

        var pods = node.rt().listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsList();
        assertTrue(pods.stream().anyMatch(p -> p.getId().equals(pod) && p.getState() == PodSandboxState.SANDBOX_READY),
                "the pod is listed ready: " + pods);
        assertEquals(ip, podStatus(pod).getNetwork().getIp());

        assertEquals(ContainerState.CONTAINER_RUNNING, node.status(sleeper).getState());
        assertEquals(sleeperPid, pid(sleeper), "the same process");
        assertEquals(ContainerState.CONTAINER_RUNNING, node.status(printer).getState());
        assertEquals(printerPid, pid(printer), "the same process");
        var quitter = node.status(exited);
        assertEquals(ContainerState.CONTAINER_EXITED, quitter.getState());
        assertEquals(4, quitter.getExitCode());
        var lateStatus = node.status(late);
        assertEquals(ContainerState.CONTAINER_EXITED, lateStatus.getState(), lateStatus.toString());
        assertEquals(5, lateStatus.getExitCode(), lateStatus.toString());
        assertEquals("Error", lateStatus.getReason());
        assertTrue(lateStatus.getFinishedAt() > lateStatus.getStartedAt(), lateStatus.toString());

        var echo = node.rt().execSync(ExecSyncRequest.newBuilder().setContainerId(sleeper)
                .addAllCmd(List.of("echo", "after restart")).setTimeout(20).build());
        assertEquals("after restart\n", echo.getStdout().toStringUtf8());
        assertEquals(0, echo.getExitCode());

        var again = assertThrows(StatusRuntimeException.class, () -> node.runPod(podConfig));
        assertEquals(Status.Code.ALREADY_EXISTS, again.getStatus().getCode());

        // The log goes on where it stopped: what was written while the daemon was down waited in the pipe.
        List<Integer> numbers = logNumbers(printerLog);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (numbers.getLast() < lastBefore + 60 && System.nanoTime() < deadline) {
            Thread.sleep(100);
            numbers = logNumbers(printerLog);
        }
        assertTrue(numbers.getLast() >= lastBefore + 60, "the log grows after the restart: " + numbers.getLast()
                + " after " + lastBefore);
        for (int i = 0; i < numbers.size(); i++) {
            assertEquals(i, numbers.get(i), "line " + i + " of the printer's log (none missing, none twice)");
        }

        node.rt().stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(pod).build());
        node.rt().removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(pod).build());
        assertTrue(node.mountsUnderDir().isEmpty(), "no mount left: " + node.mountsUnderDir());
        assertTrue(node.shimProcesses().isEmpty(), "no shim left: " + node.shimProcesses());
        assertFalse(Files.exists(node.daemon.state.resolve("netns").resolve(pod)), "netns pin removed");
        assertFalse(Files.exists(node.daemon.root.resolve("store/sandboxes").resolve(pod + ".json")), "record removed");
    }

    @Test
    void aShimThatDiedWhileTheDaemonWasDownIsCleanedUp() throws Exception {
        var podConfig = node.pod("orphaned").build();
        String pod = node.runPod(podConfig);
        String c = node.createAndStart(pod, podConfig, PodTestNode.container("sleeper", "sleep", "3600").build());
        node.stopDaemon();
        var shims = node.shimProcesses().stream().filter(p -> p.contains(" -id " + pod + " ")).toList();
        assertEquals(1, shims.size(), "the pod's shim: " + node.shimProcesses());
        var shim = ProcessHandle.of(Long.parseLong(shims.getFirst().substring(0, shims.getFirst().indexOf(':'))))
                .orElseThrow();
        shim.destroyForcibly();
        shim.onExit().get(10, TimeUnit.SECONDS);
        node.startDaemon();

        assertEquals(PodSandboxState.SANDBOX_NOTREADY, podStatus(pod).getState());
        var s = node.status(c);
        assertEquals(ContainerState.CONTAINER_EXITED, s.getState(), s.toString());
        assertEquals(255, s.getExitCode());
        assertEquals("Unknown", s.getReason());
        assertTrue(s.getMessage().contains("shim was gone"), s.getMessage());
        // shim delete removed the runc containers and their rootfs mounts; stop and remove take the rest.
        node.rt().stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(pod).build());
        node.rt().removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(pod).build());
        assertTrue(node.mountsUnderDir().isEmpty(), "no mount left: " + node.mountsUnderDir());
        assertTrue(node.shimProcesses().isEmpty(), "no shim left: " + node.shimProcesses());
        assertFalse(Files.exists(node.daemon.state.resolve("netns").resolve(pod)), "netns pin removed");
    }

    @Test
    void aCorruptRecordStopsTheStartNamingTheFile() throws Exception {
        var podConfig = node.pod("corrupt").build();
        String pod = node.runPod(podConfig);
        node.stopDaemon();
        Path record = node.daemon.root.resolve("store/sandboxes").resolve(pod + ".json");
        byte[] good = Files.readAllBytes(record);
        try {
            Files.writeString(record, new String(good).replace("\"corrupt\"", "\"korrupt\""));
            var r = node.startDaemonExpectingFailure();
            assertEquals(1, r.exit(), r.err());
            assertEquals(1, r.err().lines().count(), "one line: " + r.err());
            assertTrue(r.err().startsWith("bollard: refusing to start"), r.err());
            assertTrue(r.err().contains(record.toString()) && r.err().contains("corrupt"), r.err());
        } finally {
            Files.write(record, good);
            node.startDaemon();
        }
        assertEquals(PodSandboxState.SANDBOX_READY, podStatus(pod).getState(), "the repaired record is read");
        node.rt().stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(pod).build());
        node.rt().removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(pod).build());
    }

    private dev.bollard.api.cri.v1.PodSandboxStatus podStatus(String pod) {
        return node.rt().podSandboxStatus(PodSandboxStatusRequest.newBuilder().setPodSandboxId(pod).build())
                .getStatus();
    }

    private int pid(String id) {
        var info = node.rt().containerStatus(ContainerStatusRequest.newBuilder().setContainerId(id).setVerbose(true)
                .build()).getInfoMap().get("info");
        int pid = JsonParser.parseString(info).getAsJsonObject().get("pid").getAsInt();
        assertTrue(pid > 0, "a pid in " + info);
        return pid;
    }

    /** The numbers of a printer's complete log lines ("line N"), in file order (also the crash tests'). */
    static List<Integer> logNumbers(Path log) throws IOException {
        var out = new ArrayList<Integer>();
        if (!Files.exists(log)) {
            return out;
        }
        for (String line : Files.readAllLines(log)) {
            var m = LOG_LINE.matcher(line);
            if (m.matches()) {
                out.add(Integer.parseInt(m.group(1)));
            } else if (!line.isEmpty()) {
                throw new AssertionError("unexpected log line: " + line);
            }
        }
        return out;
    }

    @Test
    void stopPodsOnShutdownLeavesTheNodeClean() throws Exception {
        var podConfig = node.pod("stopped-at-shutdown").build();
        node.stopDaemon();
        Path toml = node.dir.resolve("bollard.toml");
        String before = Files.readString(toml);
        Files.writeString(toml, before + "\n[daemon]\nstop_pods_on_shutdown = true\n");
        try {
            node.startDaemon();
            String pod = node.runPod(podConfig);
            node.createAndStart(pod, podConfig, PodTestNode.container("sleeper", "sleep", "3600").build());
            node.stopDaemon();
            // With the daemon gone: no shim, no mount (rootfs, shm, netns) left running for the pod.
            assertTrue(node.shimProcesses().isEmpty(), "shims left: " + node.shimProcesses());
            assertTrue(node.mountsUnderDir().isEmpty(), "mounts left: " + node.mountsUnderDir());
            Files.writeString(toml, before);
            node.startDaemon();
            var listed = node.rt().listPodSandbox(dev.bollard.api.cri.v1.ListPodSandboxRequest.getDefaultInstance())
                    .getItemsList().stream().filter(p -> p.getId().equals(pod)).toList();
            assertEquals(1, listed.size(), "the stopped pod is still known");
            assertEquals(dev.bollard.api.cri.v1.PodSandboxState.SANDBOX_NOTREADY, listed.getFirst().getState());
            node.removePod(pod);
        } finally {
            if (!Files.readString(toml).equals(before)) {
                Files.writeString(toml, before);
            }
        }
    }
}
