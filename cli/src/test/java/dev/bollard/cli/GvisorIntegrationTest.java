package dev.bollard.cli;

import dev.bollard.api.cri.v1.ContainerState;
import dev.bollard.api.cri.v1.ExecSyncRequest;
import dev.bollard.api.cri.v1.ExecSyncResponse;
import dev.bollard.api.cri.v1.PodSandboxStatusRequest;
import dev.bollard.api.cri.v1.RunPodSandboxRequest;
import dev.bollard.api.cri.v1.StopContainerRequest;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The same pod under runsc (gVisor, ptrace platform, through containerd-shim-runc-v2) and under runc: gVisor's
 * kernel inside, the pod IP serving HTTP to the host, exec, logs, and removal leaving no mount, shim, runsc
 * process or runsc state behind.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@LeakChecked
class GvisorIntegrationTest {

    private PodTestNode node;

    @BeforeAll
    void start() throws Exception {
        node = PodTestNode.start();
    }

    @AfterAll
    void stop() throws Exception {
        if (node != null) {
            node.close();
            assertEquals(List.of(), runscProcesses(), "runsc processes left");
        }
    }

    /** What one run of the pod saw. */
    private record Observed(String procVersion, String dmesg, String page, long podStartMillis) {
    }

    /**
     * The pod sandbox under runsc: its infra container runs in a gVisor sandbox (runsc-sandbox and its gofer,
     * ptrace platform), and removing the pod leaves nothing. Then the same web pod under runc and under runsc
     * (each container a gVisor sandbox of its own in the pod's netns: see README).
     */
    @Test
    void runscPodSandboxBesideARuncPod() throws Exception {
        var podConfig = node.pod("sandbox-runsc").build();
        long t0 = System.nanoTime();
        String pod = node.rt().runPodSandbox(RunPodSandboxRequest.newBuilder().setConfig(podConfig)
                .setRuntimeHandler("runsc").build()).getPodSandboxId();
        long runscMillis = (System.nanoTime() - t0) / 1_000_000;
        assertEquals("runsc", node.rt().podSandboxStatus(PodSandboxStatusRequest.newBuilder().setPodSandboxId(pod)
                .build()).getStatus().getRuntimeHandler());
        var procs = runscProcesses();
        assertTrue(procs.stream().anyMatch(p -> p.contains("runsc-sandbox") && p.contains("--network=host")
                && p.contains(pod)), "a gVisor sandbox (host network in the pod netns) for " + pod + ": " + procs);
        assertTrue(procs.stream().anyMatch(p -> p.contains("runsc-gofer")), procs.toString());
        node.removePod(pod);
        assertTrue(node.mountsUnderDir().isEmpty(), node.mountsUnderDir().toString());
        assertTrue(node.shimProcesses().isEmpty(), node.shimProcesses().toString());
        assertEquals(List.of(), runscProcesses(), "runsc processes left after removing " + pod);
        Path runscState = node.dir.resolve("state/runsc/k8s.io");
        if (Files.isDirectory(runscState)) {
            try (var left = Files.list(runscState)) {
                assertEquals(List.of(), left.map(p -> p.getFileName().toString()).toList(), "runsc state left");
            }
        }

        String hostVersion = Files.readString(Path.of("/proc/version"));
        var runc = runPod("runc");
        assertEquals(hostVersion, runc.procVersion(), "a runc pod shares the host kernel");
        // The same pod spec under runsc: each container a gVisor sandbox of its own in the pod's netns.
        var runsc = runPod("runsc");
        org.junit.jupiter.api.Assertions.assertNotEquals(hostVersion, runsc.procVersion(), "gVisor's kernel inside");
        assertTrue(runsc.dmesg().contains("gVisor"), "gVisor's boot messages in dmesg: " + runsc.dmesg());
        System.out.printf("pod startup: runsc %d ms, runc %d ms (%.1fx)%n", runscMillis, runc.podStartMillis(),
                (double) runscMillis / Math.max(1, runc.podStartMillis()));
    }

    private Observed runPod(String handler) throws Exception {
        var podConfig = node.pod("web-" + handler).build();
        long t0 = System.nanoTime();
        String pod = node.rt().runPodSandbox(RunPodSandboxRequest.newBuilder().setConfig(podConfig)
                .setRuntimeHandler(handler).build()).getPodSandboxId();
        long podStartMillis = (System.nanoTime() - t0) / 1_000_000;
        var status = node.rt().podSandboxStatus(PodSandboxStatusRequest.newBuilder().setPodSandboxId(pod).build());
        assertEquals(handler, status.getStatus().getRuntimeHandler());
        String ip = status.getStatus().getNetwork().getIp();
        String web = node.createAndStart(pod, podConfig, PodTestNode.container("web", "sh", "-c",
                "echo serving under " + handler + "; exec httpd -f -p 8080 -h /www").build());
        assertEquals(ContainerState.CONTAINER_RUNNING, node.status(web).getState());

        var version = exec(web, "cat /proc/version");
        assertEquals(0, version.getExitCode(), version.getStderr().toStringUtf8());
        var dmesg = exec(web, "dmesg 2>&1; true");
        var failing = exec(web, "echo out; echo err >&2; exit 3");
        assertEquals(3, failing.getExitCode(), "exit code through " + handler + " exec");
        assertEquals("out\n", failing.getStdout().toStringUtf8());
        assertEquals("err\n", failing.getStderr().toStringUtf8());

        String page = fetch(ip, 8080);
        assertTrue(page.contains("hello from a bollard pod"), handler + " pod at " + ip + ":8080 answered: " + page);

        Path log = Path.of(podConfig.getLogDirectory(), "web.log");
        assertTrue(Files.readString(log).contains("serving under " + handler), Files.readString(log));

        node.rt().stopContainer(StopContainerRequest.newBuilder().setContainerId(web).setTimeout(5).build());
        assertEquals(ContainerState.CONTAINER_EXITED, node.status(web).getState());
        node.removePod(pod);
        assertTrue(node.mountsUnderDir().isEmpty(), node.mountsUnderDir().toString());
        assertTrue(node.shimProcesses().isEmpty(), node.shimProcesses().toString());
        assertEquals(List.of(), runscProcesses(), "runsc processes (sandbox, gofer) left after removing " + pod);
        return new Observed(version.getStdout().toStringUtf8(), dmesg.getStdout().toStringUtf8(), page, podStartMillis);
    }

    private ExecSyncResponse exec(String id, String script) {
        return node.rt().execSync(ExecSyncRequest.newBuilder().setContainerId(id).addCmd("sh").addCmd("-c")
                .addCmd(script).setTimeout(20).build());
    }

    /** An HTTP GET from the host to the pod's address (polling until httpd listens). */
    private static String fetch(String ip, int port) throws Exception {
        IOException last = null;
        for (int i = 0; i < 50; i++) {
            try (var s = new Socket()) {
                s.connect(new InetSocketAddress(ip, port), 2000);
                s.setSoTimeout(5000);
                OutputStream out = s.getOutputStream();
                out.write(("GET /index.html HTTP/1.0\r\nHost: " + ip + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
                out.flush();
                return new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            } catch (IOException e) {
                last = e;
                Thread.sleep(100);
            }
        }
        throw new AssertionError("no HTTP answer from " + ip + ":" + port, last);
    }

    /** runsc processes of this node: the sandbox, gofer and runsc calls all carry our state root in their flags. */
    private List<String> runscProcesses() throws IOException {
        var out = new ArrayList<String>();
        try (var procs = Files.list(Path.of("/proc"))) {
            for (Path p : procs.filter(p -> p.getFileName().toString().matches("\\d+")).toList()) {
                try {
                    String cmd = new String(Files.readAllBytes(p.resolve("cmdline"))).replace('\0', ' ');
                    if (cmd.contains("runsc") && cmd.contains(node.dir.toString())) {
                        out.add(p.getFileName() + ": " + cmd);
                    }
                } catch (IOException ignored) {
                    // the process ended meanwhile
                }
            }
        }
        return out;
    }
}
