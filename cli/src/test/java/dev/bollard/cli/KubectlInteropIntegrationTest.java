package dev.bollard.cli;

import dev.bollard.api.cri.v1.ExecRequest;
import dev.bollard.api.cri.v1.PodSandboxConfig;
import dev.bollard.api.cri.v1.PortForwardRequest;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Interop with Kubernetes' own Go clients: kubectl exec and port-forward (SPDY through spdystream, and
 * WebSocket v5) against Bollard's streaming server, through {@link FakeApiServer}, which turns kubectl's
 * requests into CRI Exec/PortForward calls on a real node. Skipped where no kubectl is installed.
 */
class KubectlInteropIntegrationTest extends PodNodeTest {

    private PodSandboxConfig podConfig;
    private String pod;
    private String sleeper;
    private FakeApiServer api;
    private Path kubeconfig;
    /** kubectl's minor version: WebSocket exec from 1.30, SPDY tunnelled over WebSocket for port-forward from 1.31. */
    private int kubectlMinor;

    @BeforeAll
    void startPodAndApi() throws Exception {
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/kubectl")), "kubectl is not installed");
        var version = new ProcessBuilder("/usr/bin/kubectl", "version", "--client", "-o", "json")
                .redirectError(ProcessBuilder.Redirect.DISCARD).start();
        var json = com.google.gson.JsonParser.parseString(new String(version.getInputStream().readAllBytes(),
                StandardCharsets.UTF_8)).getAsJsonObject().getAsJsonObject("clientVersion");
        version.waitFor();
        kubectlMinor = Integer.parseInt(json.get("minor").getAsString().replaceAll("[^0-9].*", ""));
        podConfig = node.pod("kubectl").build();
        pod = node.runPod(podConfig);
        sleeper = node.createAndStart(pod, podConfig, PodTestNode.container("main", "sleep", "100000").build());
        node.createAndStart(pod, podConfig, PodTestNode.container("echo", "nc", "-ll", "-p", "8080", "-e", "cat")
                .build());
        api = new FakeApiServer("wire", upgrade -> switch (upgrade.subresource()) {
            case "exec" -> URI.create(node.rt().exec(ExecRequest.newBuilder().setContainerId(sleeper)
                    .addAllCmd(upgrade.query().getOrDefault("command", List.of()))
                    .setStdin(flag(upgrade, "stdin")).setStdout(flag(upgrade, "stdout"))
                    .setStderr(flag(upgrade, "stderr")).setTty(flag(upgrade, "tty")).build()).getUrl());
            case "portforward" -> URI.create(node.rt().portForward(PortForwardRequest.newBuilder()
                    .setPodSandboxId(pod).build()).getUrl());
            default -> throw new IllegalArgumentException("unsupported subresource " + upgrade.subresource());
        });
        kubeconfig = node.dir.resolve("kubeconfig");
        Files.writeString(kubeconfig, api.kubeconfig());
    }

    @AfterAll
    void stopApi() throws IOException {
        if (api != null) {
            api.close();
        }
    }

    private static boolean flag(FakeApiServer.Upgrade u, String name) {
        var values = u.query().get(name);
        return values != null && !values.isEmpty() && (values.getFirst().equals("true") || values.getFirst().equals("1"));
    }

    private ProcessBuilder kubectl(boolean webSocket, String... args) throws IOException {
        var command = new ArrayList<String>();
        command.add("/usr/bin/kubectl");
        command.addAll(List.of(args));
        var pb = new ProcessBuilder(command);
        Path home = Files.createDirectories(node.dir.resolve("kubectl-home"));
        pb.environment().put("HOME", home.toString());
        pb.environment().put("KUBECONFIG", kubeconfig.toString());
        pb.environment().put("KUBECTL_REMOTE_COMMAND_WEBSOCKETS", Boolean.toString(webSocket));
        pb.environment().put("KUBECTL_PORT_FORWARD_WEBSOCKETS", Boolean.toString(webSocket));
        return pb;
    }

    record Result(int exit, byte[] out, String err) {
    }

    private Result run(boolean webSocket, byte[] stdin, String... args) throws Exception {
        Path errFile = Files.createTempFile(node.dir, "kubectl", ".err");
        var process = kubectl(webSocket, args).redirectError(errFile.toFile()).start();
        var writer = Thread.ofVirtual().start(() -> {
            try (var in = process.getOutputStream()) {
                if (stdin != null) {
                    in.write(stdin);
                }
            } catch (IOException e) {
                // kubectl closed its stdin
            }
        });
        byte[] out = process.getInputStream().readAllBytes();
        if (!process.waitFor(120, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            throw new AssertionError("kubectl " + String.join(" ", args) + " did not finish");
        }
        writer.join();
        return new Result(process.exitValue(), out, Files.readString(errFile));
    }

    @ParameterizedTest(name = "websocket={0}")
    @ValueSource(booleans = {false, true})
    void kubectlExecPipesStdinAndReportsTheExitCode(boolean webSocket) throws Exception {
        Assumptions.assumeTrue(!webSocket || kubectlMinor >= 30, "this kubectl execs over SPDY only");
        byte[] input = "from kubectl\n".repeat(5000).getBytes(StandardCharsets.UTF_8);
        var cat = run(webSocket, input, "exec", "-i", "wire", "--", "cat");
        assertEquals(0, cat.exit(), cat.err());
        assertArrayEquals(input, cat.out());

        var failing = run(webSocket, null, "exec", "wire", "--", "sh", "-c", "echo to-stderr >&2; echo to-stdout; exit 3");
        assertEquals(3, failing.exit(), failing.err());
        assertEquals("to-stdout\n", new String(failing.out(), StandardCharsets.UTF_8));
        assertTrue(failing.err().contains("to-stderr"), failing.err());

        var big = run(webSocket, null, "exec", "wire", "--", "sh", "-c", "yes abcdefghij | head -c 20971520");
        assertEquals(0, big.exit(), big.err());
        assertEquals(20971520, big.out().length);
    }

    @ParameterizedTest(name = "websocket={0}")
    @ValueSource(booleans = {false, true})
    void kubectlPortForwardCarriesData(boolean webSocket) throws Exception {
        Assumptions.assumeTrue(!webSocket || kubectlMinor >= 31, "this kubectl port-forwards over SPDY only");
        int local;
        try (var probe = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            local = probe.getLocalPort();
        }
        api.upgrades.clear();
        var process = kubectl(webSocket, "port-forward", "pod/wire", local + ":8080")
                .redirectError(node.dir.resolve("port-forward-" + webSocket + ".err").toFile()).start();
        try {
            var lines = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
            String line = lines.readLine();
            assertTrue(line != null && line.startsWith("Forwarding from"), "kubectl said: " + line + " / "
                    + Files.readString(node.dir.resolve("port-forward-" + webSocket + ".err")));
            Thread.ofVirtual().start(() -> {
                try {
                    while (lines.readLine() != null) {
                        // "Handling connection for ..." lines
                    }
                } catch (IOException e) {
                    // kubectl ended
                }
            });
            for (int i = 0; i < 3; i++) {
                byte[] data = new byte[512 * 1024 + i];
                new Random(i).nextBytes(data);
                assertTrue(roundTripWithRetry(local, data), "connection " + i + " through kubectl port-forward");
            }
            // kubectl 1.31+ tunnels SPDY through WebSocket; it used that, without falling back to plain SPDY.
            assertEquals(List.of("portforward " + (webSocket ? "websocket" : "spdy/3.1")), api.upgrades,
                    "the upgrades kubectl made");
        } finally {
            process.destroy();
            process.waitFor(30, TimeUnit.SECONDS);
        }
    }

    /** nc may not listen yet when the test starts: an empty answer is retried. */
    private static boolean roundTripWithRetry(int port, byte[] data) throws Exception {
        for (int attempt = 0; attempt < 50; attempt++) {
            try (var socket = new Socket(InetAddress.getLoopbackAddress(), port)) {
                var writer = Thread.ofVirtual().start(() -> {
                    try {
                        socket.getOutputStream().write(data);
                        socket.shutdownOutput();
                    } catch (IOException e) {
                        // the forward failed; the read below sees it
                    }
                });
                byte[] back = socket.getInputStream().readAllBytes();
                writer.join();
                if (back.length > 0) {
                    return Arrays.equals(data, back);
                }
            }
            Thread.sleep(200);
        }
        return false;
    }
}
