package dev.bollard.daemon.streaming;

import dev.bollard.daemon.streaming.client.StreamClient;
import dev.bollard.daemon.streaming.client.StreamClient.Transport;
import dev.bollard.daemon.streaming.client.StreamClientException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.DigestOutputStream;
import java.security.MessageDigest;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import java.util.concurrent.Callable;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The streaming server's protocols against Bollard's own client, with a fake backend (no containers). */
class StreamingServerTest {

    private final FakeStreamBackend backend = new FakeStreamBackend();
    private StreamTokens tokens;
    private StreamingServer server;
    private StreamClient client;

    @BeforeEach
    void start() throws IOException {
        tokens = new StreamTokens(Duration.ofMinutes(1), Clock.systemUTC());
        server = new StreamingServer(new StreamingConfig("127.0.0.1", 0, Optional.empty(), Optional.empty(),
                Duration.ofHours(4), Duration.ofSeconds(30), 100, Duration.ofMinutes(1)), tokens, backend);
        server.start();
        client = new StreamClient();
    }

    @AfterEach
    void stop() {
        client.close();
        server.close();
    }

    private URI url(String kind, StreamRequest r) {
        return URI.create(server.baseUrl() + "/" + kind + "/" + tokens.put(r));
    }

    private URI exec(boolean tty, boolean stdin, String... cmd) {
        return url("exec", new StreamRequest.Exec("c1", List.of(cmd), tty, stdin, true, !tty));
    }

    @ParameterizedTest
    @EnumSource(Transport.class)
    void execCopiesStdinToStdoutAndReportsSuccess(Transport transport) throws Exception {
        byte[] input = "hello\nworld\n".repeat(1000).getBytes(StandardCharsets.UTF_8);
        var out = new ByteArrayOutputStream();
        int code = client.remoteCommand(exec(false, true, "cat"), transport,
                new StreamClient.Io(new ByteArrayInputStream(input), out, new ByteArrayOutputStream(), false, null));
        assertEquals(0, code);
        assertArrayEquals(input, out.toByteArray());
    }

    @ParameterizedTest
    @EnumSource(Transport.class)
    void exitCodesAndStderrReachTheClient(Transport transport) throws Exception {
        for (int expected : new int[]{1, 137}) {
            var err = new ByteArrayOutputStream();
            int code = client.remoteCommand(exec(false, false, "exit", Integer.toString(expected)), transport,
                    new StreamClient.Io(null, new ByteArrayOutputStream(), err, false, null));
            assertEquals(expected, code);
            assertEquals("bye", err.toString(StandardCharsets.UTF_8));
        }
    }

    @ParameterizedTest
    @EnumSource(Transport.class)
    void resizeReachesTheBackend(Transport transport) throws Exception {
        var sizes = new LinkedBlockingQueue<TerminalSize>();
        sizes.add(new TerminalSize(132, 43));
        var out = new ByteArrayOutputStream();
        int code = client.remoteCommand(exec(true, false, "size"), transport,
                new StreamClient.Io(null, out, null, true, sizes));
        assertEquals(0, code);
        assertEquals("43 132\n", out.toString(StandardCharsets.UTF_8));
    }

    @ParameterizedTest
    @EnumSource(Transport.class)
    void largeOutputArrivesIntact(Transport transport) throws Exception {
        long size = 24L * 1024 * 1024 + 17;
        var digest = MessageDigest.getInstance("SHA-256");
        var counted = new CountingStream();
        int code = client.remoteCommand(exec(false, false, "big", Long.toString(size), "42"), transport,
                new StreamClient.Io(null, new DigestOutputStream(counted, digest), new ByteArrayOutputStream(),
                        false, null));
        assertEquals(0, code);
        assertEquals(size, counted.count);
        assertEquals(HexFormat.of().formatHex(expectedDigest(size, 42)), HexFormat.of().formatHex(digest.digest()));
    }

    @ParameterizedTest
    @EnumSource(Transport.class)
    void backendFailureIsReportedAsAMessage(Transport transport) {
        var e = assertThrows(StreamClientException.class, () -> client.remoteCommand(exec(false, false, "fail"),
                transport, new StreamClient.Io(null, new ByteArrayOutputStream(), new ByteArrayOutputStream(), false,
                        null)));
        assertTrue(e.getMessage().contains("container c1 is not running"), e.getMessage());
    }

    @ParameterizedTest
    @EnumSource(Transport.class)
    void unknownAndReusedTokensAre404(Transport transport) throws Exception {
        var io = new StreamClient.Io(new ByteArrayInputStream(new byte[0]), new ByteArrayOutputStream(),
                new ByteArrayOutputStream(), false, null);
        var unknown = assertThrows(StreamClientException.class, () -> client.remoteCommand(
                URI.create(server.baseUrl() + "/exec/not-a-token"), transport, io));
        assertEquals(404, unknown.httpStatus());
        URI once = exec(false, true, "cat");
        assertEquals(0, client.remoteCommand(once, transport, io));
        var reused = assertThrows(StreamClientException.class, () -> client.remoteCommand(once, transport, io));
        assertEquals(404, reused.httpStatus());
        // An exec token on the attach path is not found either.
        String token = tokens.put(new StreamRequest.Exec("c1", List.of("cat"), false, true, true, true));
        var wrongKind = assertThrows(StreamClientException.class, () -> client.remoteCommand(
                URI.create(server.baseUrl() + "/attach/" + token), transport, io));
        assertEquals(404, wrongKind.httpStatus());
    }

    @ParameterizedTest
    @EnumSource(Transport.class)
    void attachEchoesThroughTheBackend(Transport transport) throws Exception {
        var out = new ByteArrayOutputStream();
        URI url = url("attach", new StreamRequest.Attach("c1", false, true, true, false));
        int code = client.remoteCommand(url, transport, new StreamClient.Io(
                new ByteArrayInputStream("typed\n".getBytes(StandardCharsets.UTF_8)), out, null, false, null));
        assertEquals(0, code);
        assertEquals("typed\n", out.toString(StandardCharsets.UTF_8));
    }

    @ParameterizedTest
    @EnumSource(Transport.class)
    void concurrentExecsStayApart(Transport transport) throws Exception {
        try (var pool = Executors.newVirtualThreadPerTaskExecutor()) {
            var results = new ArrayList<Future<String>>();
            for (int i = 0; i < 8; i++) {
                String text = ("stream " + i + "\n").repeat(5000);
                results.add(pool.submit(() -> {
                    var out = new ByteArrayOutputStream();
                    client.remoteCommand(exec(false, true, "cat"), transport, new StreamClient.Io(
                            new ByteArrayInputStream(text.getBytes(StandardCharsets.UTF_8)), out,
                            new ByteArrayOutputStream(), false, null));
                    return out.toString(StandardCharsets.UTF_8).equals(text) ? "ok" : "mixed up";
                }));
            }
            for (var r : results) {
                assertEquals("ok", r.get(60, TimeUnit.SECONDS));
            }
        }
    }

    @Test
    void spdyPortForwardCarriesSeveralConnectionsIntact() throws Exception {
        try (var echo = new EchoServer()) {
            URI url = url("portforward", new StreamRequest.PortForward("pod1", List.of()));
            try (var forward = client.portForwardSpdy(url); var pool = Executors.newVirtualThreadPerTaskExecutor()) {
                var results = new ArrayList<Future<Boolean>>();
                for (int i = 0; i < 5; i++) {
                    int seed = i;
                    results.add(pool.submit(() -> {
                        var conn = forward.connect(echo.port());
                        byte[] data = randomBytes(3 * 1024 * 1024 + seed, seed);
                        var writer = Thread.ofVirtual().start(() -> {
                            try {
                                conn.output().write(data);
                                conn.closeOutput();
                            } catch (IOException e) {
                                throw new RuntimeException(e);
                            }
                        });
                        byte[] back = conn.input().readAllBytes();
                        writer.join();
                        assertEquals("", conn.error());
                        return java.util.Arrays.equals(data, back);
                    }));
                }
                for (var r : results) {
                    assertTrue(r.get(60, TimeUnit.SECONDS));
                }
            }
        }
    }

    @Test
    void spdyPortForwardReportsAConnectFailureOnTheErrorStream() throws Exception {
        int closedPort;
        try (var s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            closedPort = s.getLocalPort();
        }
        URI url = url("portforward", new StreamRequest.PortForward("pod1", List.of()));
        try (var forward = client.portForwardSpdy(url)) {
            var conn = forward.connect(closedPort);
            assertEquals(0, conn.input().readAllBytes().length);
            assertTrue(conn.error().contains("error forwarding port " + closedPort), conn.error());
        }
    }

    @Test
    void webSocketPortForwardCarriesEachPortIntact() throws Exception {
        try (var echo = new EchoServer(); var pool = Executors.newVirtualThreadPerTaskExecutor()) {
            var results = new ArrayList<Future<Boolean>>();
            for (int i = 0; i < 3; i++) {
                int seed = i;
                results.add(pool.submit(() -> {
                    URI url = url("portforward", new StreamRequest.PortForward("pod1", List.of(echo.port())));
                    var conn = client.portForwardWebSocket(url, List.of(echo.port())).getFirst();
                    byte[] data = randomBytes(2 * 1024 * 1024 + seed, seed);
                    var writer = Thread.ofVirtual().start(() -> {
                        try {
                            conn.output().write(data);
                        } catch (IOException e) {
                            throw new RuntimeException(e);
                        }
                    });
                    byte[] back = conn.input().readNBytes(data.length);
                    writer.join();
                    conn.close();
                    return java.util.Arrays.equals(data, back);
                }));
            }
            for (var r : results) {
                assertTrue(r.get(60, TimeUnit.SECONDS));
            }
        }
    }

    @Test
    void spdyClientGoingAwayInterruptsTheExec() throws Exception {
        backend.sleeping = new java.util.concurrent.CountDownLatch(1);
        URI url = exec(false, true, "sleep");
        var blockedStdin = new InputStream() {
            @Override
            public int read() throws IOException {
                try {
                    Thread.sleep(Long.MAX_VALUE);
                } catch (InterruptedException e) {
                    throw new java.io.InterruptedIOException();
                }
                return -1;
            }
        };
        Thread.ofVirtual().start(() -> {
            try {
                client.remoteCommand(url, Transport.SPDY, new StreamClient.Io(blockedStdin,
                        new ByteArrayOutputStream(), new ByteArrayOutputStream(), false, null));
            } catch (Exception e) {
                // expected: the client is torn down below
            }
        });
        assertTrue(backend.sleeping.await(30, TimeUnit.SECONDS));
        assertEquals(1, server.activeSessions());
        client.close(); // its connections drop without goodbye
        client = new StreamClient();
        awaitExecGone();
    }

    @Test
    void webSocketClientGoingAwayInterruptsTheExec() throws Exception {
        backend.sleeping = new java.util.concurrent.CountDownLatch(1);
        URI url = exec(false, true, "sleep");
        try (var socket = new Socket(InetAddress.getLoopbackAddress(), url.getPort())) {
            socket.getOutputStream().write(("GET " + url.getPath() + " HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
                    + "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                    + "Sec-WebSocket-Protocol: v4.channel.k8s.io\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            assertTrue(readLine(socket.getInputStream()).startsWith("HTTP/1.1 101"));
            assertTrue(backend.sleeping.await(30, TimeUnit.SECONDS));
            assertEquals(1, server.activeSessions());
        }
        awaitExecGone();
    }

    private void awaitExecGone() throws InterruptedException {
        await(() -> backend.interrupted.get() == 1 && server.activeSessions() == 0 && backend.running.get() == 0,
                () -> "interrupted " + backend.interrupted + ", sessions " + server.activeSessions() + ", running "
                        + backend.running);
    }

    @Test
    void aClientThatNeverReadsStallsOnlyItsOwnSession() throws Exception {
        var neverReads = new OutputStream() {
            @Override
            public void write(int b) throws IOException {
                write(new byte[]{(byte) b}, 0, 1);
            }

            @Override
            public void write(byte[] b, int off, int len) throws IOException {
                try {
                    Thread.sleep(Long.MAX_VALUE);
                } catch (InterruptedException e) {
                    throw new java.io.InterruptedIOException();
                }
            }
        };
        var slowClient = new StreamClient();
        var stalled = Thread.ofVirtual().start(() -> {
            try {
                slowClient.remoteCommand(exec(false, false, "big", Long.toString(256L * 1024 * 1024), "1"),
                        Transport.SPDY, new StreamClient.Io(null, neverReads, new ByteArrayOutputStream(), false, null));
            } catch (Exception e) {
                // torn down below
            }
        });
        await(() -> backend.running.get() == 1);
        // Meanwhile another session runs to completion.
        var out = new ByteArrayOutputStream();
        assertEquals(0, client.remoteCommand(exec(false, true, "cat"), Transport.SPDY, new StreamClient.Io(
                new ByteArrayInputStream("still served\n".getBytes(StandardCharsets.UTF_8)), out,
                new ByteArrayOutputStream(), false, null)));
        assertEquals("still served\n", out.toString(StandardCharsets.UTF_8));
        slowClient.close();
        stalled.interrupt();
        await(() -> backend.running.get() == 0 && server.activeSessions() == 0);
    }

    @Test
    void sessionsBeyondMaxStreamsAreRefusedWithTheirTokenKept() throws Exception {
        var small = new StreamingServer(new StreamingConfig("127.0.0.1", 0, Optional.empty(), Optional.empty(),
                Duration.ofHours(4), Duration.ofSeconds(30), 1, Duration.ofMinutes(1)), tokens, backend);
        small.start();
        try {
            backend.sleeping = new java.util.concurrent.CountDownLatch(1);
            var sleeperClient = new StreamClient();
            Thread.ofVirtual().start(() -> {
                try {
                    sleeperClient.remoteCommand(URI.create(small.baseUrl() + "/exec/" + tokens.put(new StreamRequest.Exec(
                                    "c1", List.of("sleep"), false, false, true, true))), Transport.SPDY,
                            new StreamClient.Io(null, new ByteArrayOutputStream(), new ByteArrayOutputStream(), false, null));
                } catch (Exception e) {
                    // torn down below
                }
            });
            assertTrue(backend.sleeping.await(30, TimeUnit.SECONDS));
            String token = tokens.put(new StreamRequest.Exec("c1", List.of("cat"), false, true, true, true));
            URI second = URI.create(small.baseUrl() + "/exec/" + token);
            var io = new StreamClient.Io(new ByteArrayInputStream(new byte[0]), new ByteArrayOutputStream(),
                    new ByteArrayOutputStream(), false, null);
            var refused = assertThrows(StreamClientException.class, () -> client.remoteCommand(second, Transport.SPDY, io));
            assertEquals(503, refused.httpStatus());
            sleeperClient.close();
            await(() -> small.activeSessions() == 0);
            // The refusal did not use the token up.
            assertEquals(0, client.remoteCommand(second, Transport.WEBSOCKET, io));
        } finally {
            small.close();
        }
    }

    @Test
    void tlsServesBothTransports(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        Path cert = dir.resolve("cert.pem");
        Path key = dir.resolve("key.pem");
        var openssl = new ProcessBuilder("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                "-subj", "/CN=127.0.0.1", "-keyout", key.toString(), "-out", cert.toString())
                .redirectErrorStream(true).start();
        openssl.getInputStream().readAllBytes();
        assertEquals(0, openssl.waitFor());
        var tls = new StreamingServer(new StreamingConfig("127.0.0.1", 0, Optional.of(cert), Optional.of(key),
                Duration.ofHours(4), Duration.ofSeconds(30), 10, Duration.ofMinutes(1)), tokens, backend);
        tls.start();
        try (var insecure = new StreamClient(true)) {
            assertEquals("https", tls.baseUrl().getScheme());
            for (var t : Transport.values()) {
                var out = new ByteArrayOutputStream();
                URI url = URI.create(tls.baseUrl() + "/exec/" + tokens.put(new StreamRequest.Exec("c1", List.of("cat"),
                        false, true, true, true)));
                assertEquals(0, insecure.remoteCommand(url, t, new StreamClient.Io(new ByteArrayInputStream(
                        "secret".getBytes(StandardCharsets.UTF_8)), out, new ByteArrayOutputStream(), false, null)));
                assertEquals("secret", out.toString(StandardCharsets.UTF_8));
            }
        } finally {
            tls.close();
        }
    }

    @Test
    void malformedTrafficClosesOnlyThatConnection() throws Exception {
        // Garbage where SPDY frames should be.
        String token = tokens.put(new StreamRequest.Exec("c1", List.of("cat"), false, true, true, true));
        try (var socket = new Socket(InetAddress.getLoopbackAddress(), server.baseUrl().getPort())) {
            var out = socket.getOutputStream();
            out.write(("POST /exec/" + token + " HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
                    + "X-Stream-Protocol-Version: v4.channel.k8s.io\r\nContent-Length: 0\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            out.flush();
            String status = readLine(socket.getInputStream());
            assertTrue(status.startsWith("HTTP/1.1 101"), status);
            byte[] garbage = new byte[4096];
            new Random(7).nextBytes(garbage);
            garbage[0] = (byte) 0x80; // a control frame bit with a nonsense version
            out.write(garbage);
            out.flush();
            socket.setSoTimeout(30_000);
            var in = socket.getInputStream();
            while (in.read() >= 0) {
                // drain until the server closes
            }
        }
        await(() -> server.activeSessions() == 0);
        // Not SPDY nor WebSocket at all.
        try (var socket = new Socket(InetAddress.getLoopbackAddress(), server.baseUrl().getPort())) {
            socket.getOutputStream().write("GET /exec/x HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            assertTrue(readLine(socket.getInputStream()).startsWith("HTTP/1.1 400"));
        }
        // And the server still serves.
        var out = new ByteArrayOutputStream();
        assertEquals(0, client.remoteCommand(exec(false, true, "cat"), Transport.SPDY, new StreamClient.Io(
                new ByteArrayInputStream("ok".getBytes(StandardCharsets.UTF_8)), out, new ByteArrayOutputStream(),
                false, null)));
        assertEquals("ok", out.toString(StandardCharsets.UTF_8));
    }

    @Test
    void sessionsLeaveNoFileDescriptorsBehind() throws Exception {
        var io = (java.util.function.Supplier<StreamClient.Io>) () -> new StreamClient.Io(
                new ByteArrayInputStream("x".getBytes(StandardCharsets.UTF_8)), new ByteArrayOutputStream(),
                new ByteArrayOutputStream(), false, null);
        for (var t : Transport.values()) {
            client.remoteCommand(exec(false, true, "cat"), t, io.get());
        }
        await(() -> server.activeSessions() == 0);
        long before = openFds();
        for (int i = 0; i < 10; i++) {
            for (var t : Transport.values()) {
                client.remoteCommand(exec(false, true, "cat"), t, io.get());
            }
        }
        await(() -> server.activeSessions() == 0 && openFds() <= before + 2);
    }

    // --- helpers ---

    private static long openFds() {
        try (var list = Files.list(Path.of("/proc/self/fd"))) {
            return list.count();
        } catch (IOException e) {
            throw new RuntimeException(e);
        }
    }

    private static void await(BooleanSupplier condition) throws InterruptedException {
        await(condition, () -> "");
    }

    private static void await(BooleanSupplier condition, java.util.function.Supplier<String> state)
            throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("condition not reached within 30 s " + state.get());
            }
            Thread.sleep(20);
        }
    }

    private static String readLine(InputStream in) throws IOException {
        var line = new StringBuilder();
        for (int c; (c = in.read()) >= 0 && c != '\n'; ) {
            line.append((char) c);
        }
        return line.toString().strip();
    }

    static byte[] randomBytes(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }

    private static byte[] expectedDigest(long n, long seed) throws Exception {
        var digest = MessageDigest.getInstance("SHA-256");
        FakeStreamBackend.writeRandom(new DigestOutputStream(OutputStream.nullOutputStream(), digest), n, seed);
        return digest.digest();
    }

    private static final class CountingStream extends OutputStream {
        long count;

        @Override
        public void write(int b) {
            count++;
        }

        @Override
        public void write(byte[] b, int off, int len) {
            count += len;
        }
    }

    /** A TCP echo server on loopback, one virtual thread per connection (half-close echoed as EOF). */
    static final class EchoServer implements AutoCloseable {
        private final ServerSocket socket;

        EchoServer() throws IOException {
            socket = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
            Thread.ofVirtual().start(() -> {
                while (!socket.isClosed()) {
                    try {
                        var conn = socket.accept();
                        Thread.ofVirtual().start(() -> {
                            try (conn) {
                                conn.getInputStream().transferTo(conn.getOutputStream());
                                conn.shutdownOutput();
                            } catch (IOException e) {
                                // the peer went away
                            }
                        });
                    } catch (IOException e) {
                        return;
                    }
                }
            });
        }

        int port() {
            return socket.getLocalPort();
        }

        @Override
        public void close() throws IOException {
            socket.close();
        }
    }
}
