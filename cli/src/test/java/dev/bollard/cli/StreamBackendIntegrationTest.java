package dev.bollard.cli;

import dev.bollard.api.cri.v1.AttachRequest;
import dev.bollard.api.cri.v1.ExecRequest;
import dev.bollard.api.cri.v1.PodSandboxConfig;
import dev.bollard.api.cri.v1.PortForwardRequest;
import dev.bollard.api.cri.v1.StopPodSandboxRequest;
import dev.bollard.daemon.streaming.RemoteCommandStreams;
import dev.bollard.daemon.streaming.StreamBackend;
import dev.bollard.daemon.streaming.StreamException;
import dev.bollard.daemon.streaming.StreamRequest;
import dev.bollard.daemon.streaming.TerminalSize;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The runtime side of streaming on a real node: the CRI's Exec/Attach/PortForward checks over gRPC, and the
 * backend the streaming server drives (exec through the pod's shim, attach to a container's process, a socket in
 * the pod's network namespace), called directly in the daemon, which runs in this JVM for that reason.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@LeakChecked
class StreamBackendIntegrationTest {

    private PodTestNode node;
    private StreamBackend backend;
    private PodSandboxConfig podConfig;
    private String pod;
    private String sleeper;

    @BeforeAll
    void startNode() throws Exception {
        node = PodTestNode.startInProcess();
        backend = node.daemon.inProcess.streamBackend();
        podConfig = node.pod("stream").build();
        pod = node.runPod(podConfig);
        sleeper = node.createAndStart(pod, podConfig, PodTestNode.container("sleeper", "sleep", "100000").build());
    }

    @AfterAll
    void closeNode() throws Exception {
        if (node != null) {
            node.close();
        }
    }

    /** What a protocol would hand the backend; resizes are queued by the test. */
    private record Streams(InputStream stdin, OutputStream stdout, OutputStream stderr,
                           BlockingQueue<Optional<TerminalSize>> resizes) implements RemoteCommandStreams {
        @Override
        public Optional<TerminalSize> nextResize() throws InterruptedException {
            return resizes.take();
        }
    }

    private static Streams streams(InputStream in, OutputStream out, OutputStream err) {
        return new Streams(in, out, err, new LinkedBlockingQueue<>());
    }

    private int exec(String id, boolean tty, Streams io, String... cmd) throws Exception {
        return backend.exec(new StreamRequest.Exec(id, List.of(cmd), tty, io.stdin() != null, io.stdout() != null,
                io.stderr() != null), io);
    }

    // ---- the CRI side ----

    private static Status.Code code(Runnable call) {
        return assertThrows(StatusRuntimeException.class, call::run).getStatus().getCode();
    }

    @Test
    void execValidatesTheRequestAndTheContainer() throws Exception {
        var rt = node.rt();
        var ok = ExecRequest.newBuilder().setContainerId(sleeper).addCmd("true").setStdout(true);
        assertEquals(Status.Code.NOT_FOUND, code(() -> rt.exec(ok.clone().setContainerId("nosuchcontainer").build())));
        assertEquals(Status.Code.INVALID_ARGUMENT, code(() -> rt.exec(ok.clone().clearCmd().build())));
        assertEquals(Status.Code.INVALID_ARGUMENT, code(() -> rt.exec(ok.clone().setTty(true).setStderr(true).build())));
        assertEquals(Status.Code.INVALID_ARGUMENT, code(() -> rt.exec(ok.clone().setStdout(false).build())));
        String done = node.createAndStart(pod, podConfig, PodTestNode.container("done", "true").build());
        node.awaitExit(done);
        assertEquals(Status.Code.FAILED_PRECONDITION, code(() -> rt.exec(ok.clone().setContainerId(done).build())));
        var e = assertThrows(StreamException.class, () -> exec(done, false, streams(null, new ByteArrayOutputStream(), null), "true"));
        assertTrue(e.getMessage().contains("not running"), e.getMessage());
    }

    @Test
    void attachValidatesTheRequestAndTheContainer() {
        var rt = node.rt();
        var ok = AttachRequest.newBuilder().setContainerId(sleeper).setStdout(true);
        assertEquals(Status.Code.NOT_FOUND, code(() -> rt.attach(ok.clone().setContainerId("nosuchcontainer").build())));
        assertEquals(Status.Code.INVALID_ARGUMENT, code(() -> rt.attach(ok.clone().setStdout(false).build())));
        var e = assertThrows(StatusRuntimeException.class, () -> rt.attach(ok.clone().setStdin(true).build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
        assertTrue(e.getStatus().getDescription().contains("without stdin"), e.getStatus().getDescription());
        assertEquals(Status.Code.INVALID_ARGUMENT, code(() -> rt.attach(ok.clone().setTty(true).build())),
                "tty must match the container's");
    }

    @Test
    void portForwardValidatesThePod() throws Exception {
        var rt = node.rt();
        assertEquals(Status.Code.NOT_FOUND, code(() -> rt.portForward(PortForwardRequest.newBuilder()
                .setPodSandboxId("nosuchpod").addPort(80).build())));
        assertEquals(Status.Code.INVALID_ARGUMENT, code(() -> rt.portForward(PortForwardRequest.newBuilder()
                .setPodSandboxId(pod).addPort(0).build())));
        var stoppedConfig = node.pod("stopped").build();
        String stopped = node.runPod(stoppedConfig);
        rt.stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(stopped).build());
        assertEquals(Status.Code.FAILED_PRECONDITION, code(() -> rt.portForward(PortForwardRequest.newBuilder()
                .setPodSandboxId(stopped).addPort(80).build())));
        assertThrows(StreamException.class, () -> backend.portForward(stopped, 80));
        node.removePod(stopped);
    }

    // ---- exec ----

    @Test
    void execReportsOutputAndExitCodes() throws Exception {
        var out = new ByteArrayOutputStream();
        var err = new ByteArrayOutputStream();
        assertEquals(3, exec(sleeper, false, streams(null, out, err), "sh", "-c", "echo out; echo err >&2; exit 3"));
        assertEquals("out\n", out.toString());
        assertEquals("err\n", err.toString());
        assertEquals(0, exec(sleeper, false, streams(null, new ByteArrayOutputStream(), null), "true"));
        assertEquals(1, exec(sleeper, false, streams(null, new ByteArrayOutputStream(), null), "false"));
        assertEquals(137, exec(sleeper, false, streams(null, new ByteArrayOutputStream(), null), "sh", "-c", "kill -9 $$"));
        assertNoExecLeft();
    }

    @Test
    void aCommandThatCannotRunIsAStreamError() {
        var e = assertThrows(StreamException.class, () -> exec(sleeper, false,
                streams(null, new ByteArrayOutputStream(), null), "/no/such/binary"));
        assertTrue(e.getMessage().contains("/no/such/binary"), e.getMessage());
    }

    @Test
    void stdinIsPipedInAndItsEndClosesTheProcesssStdin() throws Exception {
        var out = new ByteArrayOutputStream();
        var in = new ByteArrayInputStream("hello\nworld\n".getBytes(StandardCharsets.UTF_8));
        assertEquals(0, exec(sleeper, false, streams(in, out, null), "sh", "-c", "cat; echo done"));
        assertEquals("hello\nworld\ndone\n", out.toString());
    }

    @Test
    void aProcessThatExitsEndsTheExecWhileTheClientsStdinStaysOpen() throws Exception {
        var neverWritten = new java.io.PipedOutputStream();
        var in = new java.io.PipedInputStream(neverWritten);
        var out = new ByteArrayOutputStream();
        assertEquals(2, exec(sleeper, false, streams(in, out, null), "sh", "-c", "echo bye; exit 2"));
        assertEquals("bye\n", out.toString());
        neverWritten.close();
        assertNoExecLeft();
    }

    @Test
    void aTerminalMergesOutputAndFollowsResizes() throws Exception {
        var out = new ByteArrayOutputStream();
        var io = new Streams(null, out, null, new LinkedBlockingQueue<>());
        io.resizes().add(Optional.of(new TerminalSize(123, 45)));
        // Waits for the resize rather than racing it: no timing involved.
        int code = exec(sleeper, true, io, "sh", "-c",
                "[ -t 1 ] || exit 9; while [ \"$(stty size)\" != \"45 123\" ]; do sleep 0.05; done; stty size; echo err >&2");
        assertEquals(0, code, out.toString());
        String text = out.toString().replace("\r", "");
        assertTrue(text.contains("45 123\n"), text);
        assertTrue(text.contains("err\n"), "stderr goes to the terminal too: " + text);
    }

    @Test
    void oneHundredMegabytesArriveIntact() throws Exception {
        var sink = new DigestingStream();
        String line = "x".repeat(99);
        assertEquals(0, exec(sleeper, false, streams(null, sink, null), "sh", "-c",
                "yes " + line + " | head -c 104857600"));
        var expected = MessageDigest.getInstance("SHA-256");
        byte[] one = (line + "\n").getBytes(StandardCharsets.US_ASCII);
        for (int i = 0; i < 1_048_576; i++) {
            expected.update(one);
        }
        assertEquals(104_857_600L, sink.count);
        assertArrayEquals(expected.digest(), sink.digest.digest());
    }

    @Test
    void concurrentExecsEachGetTheirOwnOutput() throws Exception {
        try (var pool = Executors.newVirtualThreadPerTaskExecutor()) {
            var results = new ArrayList<CompletableFuture<String>>();
            for (int i = 0; i < 6; i++) {
                int n = i;
                results.add(CompletableFuture.supplyAsync(() -> {
                    try {
                        var out = new ByteArrayOutputStream();
                        int code = exec(sleeper, false, streams(null, out, null), "sh", "-c",
                                "i=0; while [ $i -lt 200 ]; do echo exec" + n + "; i=$((i+1)); done; exit " + n);
                        return code + ":" + out;
                    } catch (Exception e) {
                        throw new IllegalStateException(e);
                    }
                }, pool));
            }
            for (int i = 0; i < 6; i++) {
                String r = results.get(i).get(120, TimeUnit.SECONDS);
                assertEquals(i + ":" + ("exec" + i + "\n").repeat(200), r);
            }
        }
        assertNoExecLeft();
    }

    @Test
    void aClientThatGoesAwayGetsItsProcessKilled() throws Exception {
        var failing = new OutputStream() {
            int writes;

            @Override
            public void write(int b) throws IOException {
                write(new byte[]{(byte) b}, 0, 1);
            }

            @Override
            public void write(byte[] b, int off, int len) throws IOException {
                if (++writes > 3) {
                    throw new IOException("connection reset");
                }
            }
        };
        int code = exec(sleeper, false, streams(null, failing, null), "sh", "-c", "while true; do echo spam; done");
        assertEquals(137, code);
        assertFalse(node.sh(sleeper, "ps").contains("spam"), "the exec's process is gone");
        assertNoExecLeft();
    }

    @Test
    void anInterruptedStreamKillsItsProcess() throws Exception {
        var result = new CompletableFuture<Throwable>();
        Thread t = Thread.ofVirtual().start(() -> {
            try {
                exec(sleeper, false, streams(null, new ByteArrayOutputStream(), null), "sleep", "4242");
                result.complete(null);
            } catch (Throwable e) {
                result.complete(e);
            }
        });
        while (!node.sh(sleeper, "ps").contains("sleep 4242")) {
            Thread.sleep(20);
        }
        t.interrupt();
        assertTrue(result.get(60, TimeUnit.SECONDS) instanceof InterruptedException);
        assertFalse(node.sh(sleeper, "ps").contains("sleep 4242"));
        assertNoExecLeft();
    }

    @Test
    void manyExecsLeakNoFileDescriptors() throws Exception {
        var in = new byte[]{'x', '\n'};
        exec(sleeper, false, streams(new ByteArrayInputStream(in), new ByteArrayOutputStream(), new ByteArrayOutputStream()), "cat");
        long before = openFds();
        for (int i = 0; i < 30; i++) {
            var out = new ByteArrayOutputStream();
            assertEquals(0, exec(sleeper, false, streams(new ByteArrayInputStream(in), out, new ByteArrayOutputStream()), "cat"));
            assertEquals("x\n", out.toString());
        }
        long after = openFds();
        // Each exec holds 3 FIFO ends while it runs: a leak would show as ~90 here, not a few.
        assertTrue(after - before < 10, "fds before " + before + ", after " + after);
        assertNoExecLeft();
    }

    private static long openFds() throws IOException {
        try (var fds = Files.list(Path.of("/proc/self/fd"))) {
            return fds.count();
        }
    }

    /** No exec FIFOs in the container's bundle, no exec processes in the container besides ExecSync's own ps. */
    private void assertNoExecLeft() throws IOException {
        Path bundle = node.daemon.state.resolve("containers").resolve(sleeper);
        try (var files = Files.list(bundle)) {
            var left = files.map(p -> p.getFileName().toString()).filter(n -> n.startsWith("exec-")).toList();
            assertEquals(List.of(), left);
        }
    }

    // ---- attach ----

    @Test
    void attachWritesStdinAndReadsBothOutputs() throws Exception {
        String id = node.createAndStart(pod, podConfig, PodTestNode.container("reader", "sh", "-c",
                "read x; echo got $x; echo bye >&2").setStdin(true).build());
        var out = new ByteArrayOutputStream();
        var err = new ByteArrayOutputStream();
        var in = new ByteArrayInputStream("abc\n".getBytes(StandardCharsets.UTF_8));
        backend.attach(new StreamRequest.Attach(id, false, true, true, true), streams(in, out, err));
        assertEquals("got abc\n", out.toString());
        assertEquals("bye\n", err.toString());
        assertEquals(0, node.awaitExit(id).getExitCode());
    }

    @Test
    void stdinOnceClosesTheContainersStdinWhenTheFirstAttachEnds() throws Exception {
        String id = node.createAndStart(pod, podConfig, PodTestNode.container("once", "cat")
                .setStdin(true).setStdinOnce(true).build());
        var out = new ByteArrayOutputStream();
        var in = new ByteArrayInputStream("one line\n".getBytes(StandardCharsets.UTF_8));
        // Returns once cat saw the end of its stdin and the container exited.
        backend.attach(new StreamRequest.Attach(id, false, true, true, false), streams(in, out, null));
        assertEquals("one line\n", out.toString());
        assertEquals(0, node.awaitExit(id).getExitCode());
    }

    @Test
    void attachToATerminalFollowsResizes() throws Exception {
        String id = node.createAndStart(pod, podConfig, PodTestNode.container("term", "sh", "-c",
                "read x; while [ \"$(stty size)\" != \"30 90\" ]; do sleep 0.05; done; echo got $x")
                .setTty(true).setStdin(true).build());
        var out = new ByteArrayOutputStream();
        var io = new Streams(new ByteArrayInputStream("abc\n".getBytes(StandardCharsets.UTF_8)), out, null,
                new LinkedBlockingQueue<>());
        io.resizes().add(Optional.of(new TerminalSize(90, 30)));
        backend.attach(new StreamRequest.Attach(id, true, true, true, false), io);
        String text = out.toString().replace("\r", "");
        assertTrue(text.contains("got abc\n"), text);
        assertEquals(0, node.awaitExit(id).getExitCode());
    }

    @Test
    void attachToAnExitedContainerIsAStreamError() throws Exception {
        String id = node.createAndStart(pod, podConfig, PodTestNode.container("gone", "true").build());
        node.awaitExit(id);
        assertThrows(StreamException.class, () -> backend.attach(new StreamRequest.Attach(id, false, false, true, false),
                streams(null, new ByteArrayOutputStream(), null)));
    }

    // ---- port-forward ----

    @Test
    void portForwardReachesAServerInThePod() throws Exception {
        node.createAndStart(pod, podConfig, PodTestNode.container("web", "httpd", "-f", "-p", "8080", "-h", "/www").build());
        try (var ch = connect(8080)) {
            ch.write(ByteBuffer.wrap("GET /index.html HTTP/1.0\r\n\r\n".getBytes(StandardCharsets.US_ASCII)));
            var response = new ByteArrayOutputStream();
            var buf = ByteBuffer.allocate(8192);
            while (ch.read(buf.clear()) >= 0) {
                response.write(buf.array(), 0, buf.position());
            }
            String text = response.toString(StandardCharsets.US_ASCII);
            assertTrue(text.startsWith("HTTP/1.") && text.contains(" 200 "), text);
            assertTrue(text.endsWith("hello from a bollard pod\n"), text);
        }
    }

    @Test
    void concurrentForwardedConnectionsCarryDataBothWays() throws Exception {
        node.createAndStart(pod, podConfig, PodTestNode.container("echo", "nc", "-ll", "-p", "9000", "-e", "cat").build());
        connect(9000).close(); // listening now
        try (var pool = Executors.newVirtualThreadPerTaskExecutor()) {
            var done = new ArrayList<CompletableFuture<Void>>();
            for (int i = 0; i < 4; i++) {
                int seed = i;
                done.add(CompletableFuture.runAsync(() -> {
                    try {
                        echoRoundTrip(seed);
                    } catch (Exception e) {
                        throw new IllegalStateException(e);
                    }
                }, pool));
            }
            for (var f : done) {
                f.get(120, TimeUnit.SECONDS);
            }
        }
    }

    private void echoRoundTrip(int seed) throws Exception {
        byte[] data = new byte[4 << 20];
        new Random(seed).nextBytes(data);
        try (var ch = backend.portForward(pod, 9000)) {
            var writer = CompletableFuture.runAsync(() -> {
                try {
                    var b = ByteBuffer.wrap(data);
                    while (b.hasRemaining()) {
                        ch.write(b);
                    }
                    ch.shutdownOutput();
                } catch (IOException e) {
                    throw new IllegalStateException(e);
                }
            }, r -> Thread.ofVirtual().start(r));
            var got = new DigestingStream();
            var buf = ByteBuffer.allocate(65536);
            while (ch.read(buf.clear()) >= 0) {
                got.write(buf.array(), 0, buf.position());
            }
            writer.get(60, TimeUnit.SECONDS);
            assertEquals(data.length, got.count);
            assertEquals(HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data)),
                    HexFormat.of().formatHex(got.digest.digest()));
        }
    }

    @Test
    void aPortNobodyListensOnIsAStreamError() {
        var e = assertThrows(StreamException.class, () -> backend.portForward(pod, 1));
        assertTrue(e.getMessage().contains("port 1"), e.getMessage());
    }

    /** Connects once the server in the container listens (it starts asynchronously). */
    private java.nio.channels.SocketChannel connect(int port) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (true) {
            try {
                return backend.portForward(pod, port);
            } catch (StreamException e) {
                if (System.nanoTime() > deadline) {
                    throw e;
                }
                Thread.sleep(50);
            }
        }
    }

    // ---- through the streaming server (the JDK's WebSocket client speaking Kubernetes' channel framing) ----

    /** One WebSocket session: what the server sent on each channel, until it closed. */
    private static final class WsSession implements java.net.http.WebSocket.Listener {
        final java.util.Map<Integer, ByteArrayOutputStream> channels = new java.util.concurrent.ConcurrentHashMap<>();
        final CompletableFuture<Integer> closed = new CompletableFuture<>();
        private final ByteArrayOutputStream partial = new ByteArrayOutputStream();

        @Override
        public void onOpen(java.net.http.WebSocket ws) {
            ws.request(1);
        }

        @Override
        public java.util.concurrent.CompletionStage<?> onBinary(java.net.http.WebSocket ws, ByteBuffer data, boolean last) {
            byte[] b = new byte[data.remaining()];
            data.get(b);
            partial.writeBytes(b);
            if (last) {
                byte[] msg = partial.toByteArray();
                partial.reset();
                if (msg.length > 0) {
                    channels.computeIfAbsent(msg[0] & 0xff, k -> new ByteArrayOutputStream()).write(msg, 1, msg.length - 1);
                }
            }
            ws.request(1);
            return null;
        }

        @Override
        public java.util.concurrent.CompletionStage<?> onClose(java.net.http.WebSocket ws, int code, String reason) {
            closed.complete(code);
            return null;
        }

        @Override
        public void onError(java.net.http.WebSocket ws, Throwable error) {
            closed.completeExceptionally(error);
        }

        String text(int channel) {
            var b = channels.get(channel);
            return b == null ? "" : b.toString(StandardCharsets.UTF_8);
        }
    }

    private static java.net.http.WebSocket connectWs(String url, String protocol, WsSession session) throws Exception {
        return java.net.http.HttpClient.newHttpClient().newWebSocketBuilder().subprotocols(protocol)
                .buildAsync(java.net.URI.create(url.replaceFirst("^http", "ws")), session).get(30, TimeUnit.SECONDS);
    }

    private static byte[] frame(int channel, String data) {
        byte[] d = data.getBytes(StandardCharsets.UTF_8);
        byte[] f = new byte[d.length + 1];
        f[0] = (byte) channel;
        System.arraycopy(d, 0, f, 1, d.length);
        return f;
    }

    @Test
    void execThroughTheStreamingServerReportsItsExitCodeAndTheTokenIsSingleUse() throws Exception {
        String url = node.rt().exec(ExecRequest.newBuilder().setContainerId(sleeper).addCmd("sh").addCmd("-c")
                .addCmd("cat; echo done >&2; exit 3").setStdin(true).setStdout(true).setStderr(true).build()).getUrl();
        assertTrue(url.matches("http://127\\.0\\.0\\.1:\\d+/exec/[A-Za-z0-9_-]{22,}"), url);
        var session = new WsSession();
        var ws = connectWs(url, "v5.channel.k8s.io", session);
        ws.sendBinary(ByteBuffer.wrap(frame(0, "hi\n")), true).get(30, TimeUnit.SECONDS);
        ws.sendBinary(ByteBuffer.wrap(new byte[]{(byte) 255, 0}), true).get(30, TimeUnit.SECONDS); // v5: stdin closed
        session.closed.get(60, TimeUnit.SECONDS);
        assertEquals("hi\n", session.text(1));
        assertEquals("done\n", session.text(2));
        String status = session.text(3);
        assertTrue(status.contains("NonZeroExitCode") && status.contains("\"message\":\"3\""), status);

        var reuse = assertThrows(java.util.concurrent.ExecutionException.class,
                () -> connectWs(url, "v5.channel.k8s.io", new WsSession()));
        var handshake = (java.net.http.WebSocketHandshakeException) reuse.getCause();
        assertEquals(404, handshake.getResponse().statusCode());
        assertNoExecLeft();
    }

    @Test
    void attachAndTerminalExecThroughTheStreamingServer() throws Exception {
        String id = node.createAndStart(pod, podConfig, PodTestNode.container("wsreader", "sh", "-c",
                "read x; echo got $x").setStdin(true).build());
        String url = node.rt().attach(AttachRequest.newBuilder().setContainerId(id).setStdin(true).setStdout(true)
                .setStderr(true).build()).getUrl();
        var session = new WsSession();
        var ws = connectWs(url, "v5.channel.k8s.io", session);
        ws.sendBinary(ByteBuffer.wrap(frame(0, "abc\n")), true).get(30, TimeUnit.SECONDS);
        session.closed.get(60, TimeUnit.SECONDS);
        assertEquals("got abc\n", session.text(1));
        assertTrue(session.text(3).contains("\"status\":\"Success\""), session.text(3));

        String execUrl = node.rt().exec(ExecRequest.newBuilder().setContainerId(sleeper).addCmd("sh").addCmd("-c")
                .addCmd("while [ \"$(stty size)\" != \"24 77\" ]; do sleep 0.05; done; stty size")
                .setTty(true).setStdout(true).build()).getUrl();
        var term = new WsSession();
        var tws = connectWs(execUrl, "v5.channel.k8s.io", term);
        tws.sendBinary(ByteBuffer.wrap(frame(4, "{\"Width\":77,\"Height\":24}")), true).get(30, TimeUnit.SECONDS);
        term.closed.get(60, TimeUnit.SECONDS);
        assertTrue(term.text(1).replace("\r", "").contains("24 77\n"), term.text(1));
        assertTrue(term.text(3).contains("\"status\":\"Success\""), term.text(3));
    }

    @Test
    void aClientThatDisconnectsMidStreamLeavesNoProcess() throws Exception {
        String url = node.rt().exec(ExecRequest.newBuilder().setContainerId(sleeper).addCmd("sh").addCmd("-c")
                .addCmd("while true; do echo flood; done").setStdout(true).build()).getUrl();
        var session = new WsSession();
        var ws = connectWs(url, "v5.channel.k8s.io", session);
        while (session.text(1).length() < 1000) {
            Thread.sleep(10);
        }
        ws.abort();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (node.sh(sleeper, "ps").contains("flood") || hasExecFifos()) {
            assertTrue(System.nanoTime() < deadline, "the exec survived its client: " + node.sh(sleeper, "ps"));
            Thread.sleep(50);
        }
        assertNoExecLeft();
    }

    private boolean hasExecFifos() throws IOException {
        try (var files = Files.list(node.daemon.state.resolve("containers").resolve(sleeper))) {
            return files.anyMatch(p -> p.getFileName().toString().startsWith("exec-"));
        }
    }

    @Test
    void portForwardThroughTheStreamingServerReachesThePod() throws Exception {
        node.createAndStart(pod, podConfig, PodTestNode.container("web2", "httpd", "-f", "-p", "8081", "-h", "/www").build());
        connect(8081).close(); // listening now
        String url = node.rt().portForward(PortForwardRequest.newBuilder().setPodSandboxId(pod).addPort(8081).build())
                .getUrl();
        assertTrue(url.matches("http://127\\.0\\.0\\.1:\\d+/portforward/[A-Za-z0-9_-]{22,}"), url);
        var session = new WsSession();
        var ws = connectWs(url + "?ports=8081", "v4.channel.k8s.io", session);
        ws.sendBinary(ByteBuffer.wrap(frame(0, "GET /index.html HTTP/1.0\r\n\r\n")), true).get(30, TimeUnit.SECONDS);
        session.closed.get(60, TimeUnit.SECONDS);
        byte[] data = session.channels.get(0).toByteArray();
        // Each channel's first message is the port, little-endian.
        assertEquals(8081, (data[0] & 0xff) | (data[1] & 0xff) << 8);
        String text = new String(data, 2, data.length - 2, StandardCharsets.US_ASCII);
        assertTrue(text.startsWith("HTTP/1.") && text.endsWith("hello from a bollard pod\n"), text);
    }

    /** Counts and hashes what is written, keeping nothing. */
    private static final class DigestingStream extends OutputStream {
        final MessageDigest digest;
        long count;

        DigestingStream() throws Exception {
            digest = MessageDigest.getInstance("SHA-256");
        }

        @Override
        public void write(int b) {
            digest.update((byte) b);
            count++;
        }

        @Override
        public void write(byte[] b, int off, int len) {
            digest.update(b, off, len);
            count += len;
        }
    }
}
