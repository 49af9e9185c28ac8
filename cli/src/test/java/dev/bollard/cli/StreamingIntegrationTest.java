package dev.bollard.cli;

import dev.bollard.api.cri.v1.AttachRequest;
import dev.bollard.api.cri.v1.ExecRequest;
import dev.bollard.api.cri.v1.PodSandboxConfig;
import dev.bollard.api.cri.v1.PortForwardRequest;
import dev.bollard.daemon.streaming.TerminalSize;
import dev.bollard.daemon.streaming.client.StreamClient;
import dev.bollard.daemon.streaming.client.StreamClient.Transport;
import dev.bollard.daemon.streaming.client.StreamClientException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PipedInputStream;
import java.io.PipedOutputStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.DigestOutputStream;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Exec, attach and port-forward end to end on a real node: the CRI call's URL, the daemon's streaming server,
 * and Bollard's own client (the one {@code bollard exec/attach/port-forward} use), over both transports.
 */
class StreamingIntegrationTest extends PodNodeTest {

    private PodSandboxConfig podConfig;
    private String pod;
    private String sleeper;
    private StreamClient client;
    private boolean echoStarted;

    @BeforeAll
    void startPod() throws Exception {
        client = new StreamClient();
        podConfig = node.pod("wire").build();
        pod = node.runPod(podConfig);
        sleeper = node.createAndStart(pod, podConfig, PodTestNode.container("sleeper", "sleep", "100000").build());
    }

    @AfterAll
    void closeClient() {
        if (client != null) {
            client.close();
        }
    }

    private URI execUrl(boolean tty, boolean stdin, String... cmd) {
        return URI.create(node.rt().exec(ExecRequest.newBuilder().setContainerId(sleeper).addAllCmd(List.of(cmd))
                .setTty(tty).setStdin(stdin).setStdout(true).setStderr(!tty).build()).getUrl());
    }

    private int exec(Transport t, byte[] stdin, OutputStream out, OutputStream err, String... cmd) throws Exception {
        return client.remoteCommand(execUrl(false, stdin != null, cmd), t,
                new StreamClient.Io(stdin == null ? null : new ByteArrayInputStream(stdin), out, err, false, null));
    }

    @ParameterizedTest
    @EnumSource(Transport.class)
    void execPipesStdinAndReportsExitCodes(Transport t) throws Exception {
        byte[] input = "line one\nline two\n".repeat(2000).getBytes(StandardCharsets.UTF_8);
        var out = new ByteArrayOutputStream();
        assertEquals(0, exec(t, input, out, new ByteArrayOutputStream(), "cat"));
        assertArrayEquals(input, out.toByteArray());

        var err = new ByteArrayOutputStream();
        assertEquals(1, exec(t, null, new ByteArrayOutputStream(), err, "sh", "-c", "echo oops >&2; exit 1"));
        assertEquals("oops\n", err.toString(StandardCharsets.UTF_8));
        assertEquals(137, exec(t, null, new ByteArrayOutputStream(), new ByteArrayOutputStream(),
                "sh", "-c", "kill -9 $$"));
        assertEquals(0, exec(t, null, new ByteArrayOutputStream(), new ByteArrayOutputStream(), "true"));
    }

    @ParameterizedTest
    @EnumSource(Transport.class)
    void ttyExecSeesTheResize(Transport t) throws Exception {
        var sizes = new LinkedBlockingQueue<TerminalSize>();
        sizes.add(new TerminalSize(100, 33));
        var out = new ByteArrayOutputStream();
        // Waits (bounded by timeout) until the resize has reached the pty, then reports it.
        int code = client.remoteCommand(execUrl(true, false, "timeout", "20", "sh", "-c",
                        "until [ \"$(stty size)\" = '33 100' ]; do sleep 0.1; done; stty size"), t,
                new StreamClient.Io(null, out, null, true, sizes));
        assertEquals(0, code, out.toString(StandardCharsets.UTF_8));
        assertTrue(out.toString(StandardCharsets.UTF_8).contains("33 100"), out.toString(StandardCharsets.UTF_8));
    }

    @ParameterizedTest
    @EnumSource(Transport.class)
    void hundredMegabytesArriveIntact(Transport t) throws Exception {
        long size = 100L * 1024 * 1024;
        var digest = MessageDigest.getInstance("SHA-256");
        var counter = new long[1];
        var sink = new DigestOutputStream(new OutputStream() {
            @Override
            public void write(int b) {
                counter[0]++;
            }

            @Override
            public void write(byte[] b, int off, int len) {
                counter[0] += len;
            }
        }, digest);
        assertEquals(0, exec(t, null, sink, new ByteArrayOutputStream(), "sh", "-c",
                "yes 0123456789abcdefghijklmnopqrstuvwxyz | head -c " + size));
        assertEquals(size, counter[0]);
        var expected = MessageDigest.getInstance("SHA-256");
        byte[] line = "0123456789abcdefghijklmnopqrstuvwxyz\n".getBytes(StandardCharsets.US_ASCII);
        for (long left = size; left > 0; left -= line.length) {
            expected.update(line, 0, (int) Math.min(line.length, left));
        }
        assertEquals(HexFormat.of().formatHex(expected.digest()), HexFormat.of().formatHex(digest.digest()));
    }

    @ParameterizedTest
    @EnumSource(Transport.class)
    void concurrentExecsOnOneContainer(Transport t) throws Exception {
        try (var pool = Executors.newVirtualThreadPerTaskExecutor()) {
            var results = new ArrayList<Future<String>>();
            for (int i = 0; i < 4; i++) {
                String text = ("exec " + i + "\n").repeat(3000);
                results.add(pool.submit(() -> {
                    var out = new ByteArrayOutputStream();
                    int code = exec(t, text.getBytes(StandardCharsets.UTF_8), out, new ByteArrayOutputStream(), "cat");
                    return code == 0 && out.toString(StandardCharsets.UTF_8).equals(text) ? "ok" : "wrong";
                }));
            }
            for (var r : results) {
                assertEquals("ok", r.get(120, TimeUnit.SECONDS));
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Transport.class)
    void attachReadsAndWritesTheMainProcess(Transport t) throws Exception {
        String name = "echoer-" + t.name().toLowerCase();
        String echoer = node.createAndStart(pod, podConfig, PodTestNode.container(name, "sh", "-c",
                "while read line; do echo \"got:$line\"; done").setStdin(true).build());
        URI url = URI.create(node.rt().attach(AttachRequest.newBuilder().setContainerId(echoer).setStdin(true)
                .setStdout(true).setStderr(true).build()).getUrl());
        var stdin = new PipedInputStream();
        var typing = new PipedOutputStream(stdin);
        var seen = new CountDownLatch(1);
        var out = new ByteArrayOutputStream() {
            @Override
            public synchronized void write(byte[] b, int off, int len) {
                super.write(b, off, len);
                if (toString(StandardCharsets.UTF_8).contains("got:hello")) {
                    seen.countDown();
                }
            }
        };
        var attachClient = new StreamClient();
        var session = Thread.ofVirtual().start(() -> {
            try {
                attachClient.remoteCommand(url, t, new StreamClient.Io(stdin, out, new ByteArrayOutputStream(),
                        false, null));
            } catch (Exception e) {
                // ended by the client going away below
            }
        });
        typing.write("hello\n".getBytes(StandardCharsets.UTF_8));
        typing.flush();
        assertTrue(seen.await(30, TimeUnit.SECONDS), "attach output: " + out);
        attachClient.close();
        typing.close();
        session.join(TimeUnit.SECONDS.toMillis(30));
        // The container's own process is untouched by the client leaving.
        assertEquals(dev.bollard.api.cri.v1.ContainerState.CONTAINER_RUNNING, node.status(echoer).getState());
    }

    @Test
    void portForwardCarriesConcurrentConnectionsBothWays() throws Exception {
        ensureEchoServer();
        var request = PortForwardRequest.newBuilder().setPodSandboxId(pod).addPort(8080).build();
        // SPDY: one session, several connections at once.
        try (var spdy = client.portForwardSpdy(URI.create(node.rt().portForward(request).getUrl()));
             var pool = Executors.newVirtualThreadPerTaskExecutor()) {
            var results = new ArrayList<Future<Boolean>>();
            for (int i = 0; i < 4; i++) {
                int seed = i;
                results.add(pool.submit(() -> roundTrip(spdy.connect(awaitListening(spdy)), seed, true)));
            }
            for (var r : results) {
                assertTrue(r.get(120, TimeUnit.SECONDS));
            }
        }
        // WebSocket: one URL per connection.
        try (var pool = Executors.newVirtualThreadPerTaskExecutor()) {
            var results = new ArrayList<Future<Boolean>>();
            for (int i = 0; i < 3; i++) {
                int seed = 10 + i;
                results.add(pool.submit(() -> roundTrip(client.portForwardWebSocket(
                        URI.create(node.rt().portForward(request).getUrl()), List.of(8080)).getFirst(), seed, false)));
            }
            for (var r : results) {
                assertTrue(r.get(120, TimeUnit.SECONDS));
            }
        }
    }

    @Test
    void aUsedOrUnknownUrlIsRefused() throws Exception {
        URI url = execUrl(false, false, "true");
        assertEquals(0, client.remoteCommand(url, Transport.SPDY, new StreamClient.Io(null,
                new ByteArrayOutputStream(), new ByteArrayOutputStream(), false, null)));
        for (var t : Transport.values()) {
            var e = assertThrows(StreamClientException.class, () -> client.remoteCommand(url, t,
                    new StreamClient.Io(null, new ByteArrayOutputStream(), new ByteArrayOutputStream(), false, null)));
            assertEquals(404, e.httpStatus());
        }
    }

    @ParameterizedTest
    @EnumSource(Transport.class)
    void theCliStreamsExecAndForwardsPorts(Transport t) throws Exception {
        String ep = node.daemon.endpoint();
        String transport = t.name().toLowerCase();
        Path input = node.dir.resolve("cli-stdin-" + transport);
        byte[] text = "through bollard exec -i\n".repeat(3000).getBytes(StandardCharsets.UTF_8);
        Files.write(input, text);
        Path output = node.dir.resolve("cli-stdout-" + transport);
        var exec = new ProcessBuilder(DaemonProcess.command("-r", ep, "exec", "-i", "--transport", transport, sleeper,
                "cat")).redirectInput(input.toFile()).redirectOutput(output.toFile())
                .redirectError(ProcessBuilder.Redirect.DISCARD).start();
        assertTrue(exec.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, exec.exitValue());
        assertArrayEquals(text, Files.readAllBytes(output));
        var failing = DaemonProcess.run(node.dir, "-r", ep, "exec", "--transport", transport, sleeper, "sh", "-c",
                "echo out; echo err >&2; exit 7");
        assertEquals(7, failing.exit(), failing.err());
        assertEquals("out\n", failing.out());
        assertEquals("err\n", failing.err());

        ensureEchoServer();
        int local;
        try (var probe = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            local = probe.getLocalPort();
        }
        var forward = new ProcessBuilder(DaemonProcess.command("-r", ep, "port-forward", "--transport", transport, pod,
                local + ":8080")).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        try {
            var lines = new java.io.BufferedReader(new java.io.InputStreamReader(forward.getInputStream(),
                    StandardCharsets.UTF_8));
            String first = lines.readLine();
            assertTrue(first != null && first.startsWith("Forwarding from 127.0.0.1:" + local), first);
            for (int i = 0; i < 3; i++) {
                byte[] data = new byte[256 * 1024 + i];
                new Random(100 + i).nextBytes(data);
                byte[] back = null;
                for (int attempt = 0; attempt < 50; attempt++) {
                    try (var socket = new java.net.Socket(java.net.InetAddress.getLoopbackAddress(), local)) {
                        var writer = Thread.ofVirtual().start(() -> {
                            try {
                                socket.getOutputStream().write(data);
                                if (t == Transport.SPDY) {
                                    socket.shutdownOutput();
                                }
                            } catch (IOException e) {
                                // read below fails too
                            }
                        });
                        back = t == Transport.SPDY ? socket.getInputStream().readAllBytes()
                                : socket.getInputStream().readNBytes(data.length);
                        writer.join();
                    }
                    if (back.length > 0) {
                        break;
                    }
                    Thread.sleep(100);
                }
                assertArrayEquals(data, back);
            }
        } finally {
            forward.destroy();
            forward.waitFor(30, TimeUnit.SECONDS);
        }
    }

    private synchronized void ensureEchoServer() {
        if (!echoStarted) {
            node.createAndStart(pod, podConfig, PodTestNode.container("echo-server", "nc", "-ll", "-p", "8080", "-e",
                    "cat").build());
            echoStarted = true;
        }
    }

    /** nc starts listening a moment after the container starts: the first connection may find nothing. */
    private int awaitListening(StreamClient.SpdyPortForward spdy) throws Exception {
        for (int attempt = 0; attempt < 100; attempt++) {
            var probe = spdy.connect(8080);
            probe.output().write('x');
            probe.closeOutput();
            byte[] back = probe.input().readAllBytes();
            if (back.length == 1 && probe.error().isEmpty()) {
                return 8080;
            }
            Thread.sleep(100);
        }
        throw new AssertionError("nothing listens on 8080 in the pod");
    }

    private static boolean roundTrip(StreamClient.Forwarded conn, int seed, boolean halfClose) throws Exception {
        byte[] data = new byte[1024 * 1024 + seed];
        new Random(seed).nextBytes(data);
        var writer = Thread.ofVirtual().start(() -> {
            try {
                conn.output().write(data);
                if (halfClose) {
                    conn.closeOutput();
                }
            } catch (IOException e) {
                throw new RuntimeException(e);
            }
        });
        byte[] back = halfClose ? conn.input().readAllBytes() : conn.input().readNBytes(data.length);
        writer.join();
        conn.close();
        return Arrays.equals(data, back);
    }
}
