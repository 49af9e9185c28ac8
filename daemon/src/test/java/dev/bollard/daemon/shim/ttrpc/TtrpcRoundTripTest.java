package dev.bollard.daemon.shim.ttrpc;

import com.google.protobuf.ByteString;
import dev.bollard.api.ttrpc.KeyValue;
import dev.bollard.api.ttrpc.Request;
import dev.bollard.api.ttrpc.Response;
import dev.bollard.api.ttrpc.StringList;
import io.grpc.Status.Code;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Client and server over a real UNIX socket, and each of them against hand-written bytes on a plain socket. */
class TtrpcRoundTripTest {

    private static final String SERVICE = "bollard.test.v1.Echo";
    private static final Duration TIMEOUT = Duration.ofSeconds(10);

    @TempDir
    Path dir;

    private final List<AutoCloseable> closeables = new ArrayList<>();
    private final CountDownLatch release = new CountDownLatch(1);
    private final AtomicReference<TtrpcServerCall> seen = new AtomicReference<>();

    private Path sock() {
        return dir.resolve("ttrpc.sock");
    }

    private TtrpcServer server() throws IOException {
        Map<String, TtrpcHandler> methods = Map.of(
                "Echo", payload -> {
                    // Jitter so that responses come back in another order than the requests went out.
                    sleep(ThreadLocalRandom.current().nextInt(3));
                    byte[] out = new byte[payload.length + 1];
                    out[0] = 'e';
                    System.arraycopy(payload, 0, out, 1, payload.length);
                    return out;
                },
                "Fail", payload -> {
                    throw new TtrpcException(Code.NOT_FOUND, "container " + new String(payload, StandardCharsets.UTF_8)
                            + ": not found");
                },
                "Detailed", payload -> {
                    throw new TtrpcException(com.google.rpc.Status.newBuilder()
                            .setCode(Code.ALREADY_EXISTS.value()).setMessage("exists")
                            .addDetails(com.google.protobuf.Any.pack(StringList.newBuilder().addList("d").build()))
                            .build());
                },
                "Crash", payload -> {
                    throw new IllegalStateException("handler bug");
                },
                "Block", payload -> {
                    seen.set(TtrpcServer.currentCall().orElseThrow());
                    try {
                        release.await();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                    return "late".getBytes(StandardCharsets.UTF_8);
                },
                "Whoami", payload -> {
                    var call = TtrpcServer.currentCall().orElseThrow();
                    seen.set(call);
                    return StringList.newBuilder()
                            .addList(call.service() + "/" + call.method())
                            .addList(call.metadataValue("containerd-namespace-ttrpc").orElse("-"))
                            .build().toByteArray();
                },
                "Huge", payload -> new byte[TtrpcFrame.MAX_DATA_LENGTH],
                "Typed", TtrpcHandler.of(StringList.parser(),
                        list -> StringList.newBuilder().addAllList(list.getListList()).addList("!").build()));
        var server = TtrpcServer.start(sock(), Map.of(SERVICE, methods));
        closeables.add(server);
        return server;
    }

    private TtrpcClient client() throws IOException {
        var client = TtrpcClient.connect(sock(), Duration.ofSeconds(5));
        closeables.add(0, client);
        return client;
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static TtrpcException failure(CompletableFuture<?> call) {
        var e = assertThrows(ExecutionException.class, () -> call.get(10, TimeUnit.SECONDS));
        return assertInstanceOf(TtrpcException.class, e.getCause());
    }

    @AfterEach
    void closeAndCheckForLeakedThreads() throws Exception {
        release.countDown();
        for (var c : closeables) {
            c.close();
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        List<String> left;
        do {
            left = Thread.getAllStackTraces().keySet().stream()
                    .filter(Thread::isAlive)
                    .map(Thread::getName)
                    .filter(n -> n.startsWith("epollEventLoopGroup"))
                    .toList();
            if (!left.isEmpty()) {
                Thread.sleep(20);
            }
        } while (!left.isEmpty() && System.nanoTime() < deadline);
        assertEquals(List.of(), left, "event loop threads left running");
    }

    @Test
    void manyConcurrentCallsOnOneConnectionGetTheirOwnResponses() throws Exception {
        server();
        var client = client();
        int n = 500;
        int senders = 16;
        // Many threads race to send: stream ids must still reach the server strictly increasing (it answers
        // INVALID_ARGUMENT otherwise), and each response must find its own call.
        List<CompletableFuture<byte[]>> calls = new ArrayList<>(java.util.Collections.nCopies(n, null));
        var threads = new ArrayList<Thread>();
        for (int t = 0; t < senders; t++) {
            int first = t;
            threads.add(Thread.ofVirtual().start(() -> {
                for (int i = first; i < n; i += senders) {
                    calls.set(i, client.call(SERVICE, "Echo", ("m" + i).getBytes(StandardCharsets.UTF_8), TIMEOUT));
                }
            }));
        }
        for (var t : threads) {
            t.join();
        }
        for (int i = 0; i < n; i++) {
            assertEquals("em" + i, new String(calls.get(i).get(10, TimeUnit.SECONDS), StandardCharsets.UTF_8));
        }
        assertEquals(0, client.pendingCalls());
    }

    @Test
    void cancellingACallAbandonsItsStream() throws Exception {
        server();
        var client = client();
        var typed = client.call(SERVICE, "Block", StringList.getDefaultInstance(), StringList.parser(), null);
        while (seen.get() == null) {
            Thread.sleep(5);
        }
        assertEquals(1, client.pendingCalls());
        assertTrue(typed.cancel(false));
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (client.pendingCalls() != 0 && System.nanoTime() < deadline) {
            Thread.sleep(5);
        }
        assertEquals(0, client.pendingCalls());
        release.countDown(); // its late answer is dropped
        assertEquals("ey", new String(client.call(SERVICE, "Echo", "y".getBytes(), TIMEOUT).get(10, TimeUnit.SECONDS),
                StandardCharsets.UTF_8));
    }

    @Test
    void typedCallsAndMetadata() throws Exception {
        server();
        var client = client();
        StringList out = client.invoke(SERVICE, "Typed", StringList.newBuilder().addList("a").build(),
                StringList.parser(), TIMEOUT);
        assertEquals(List.of("a", "!"), out.getListList());

        var md = List.of(KeyValue.newBuilder().setKey("containerd-namespace-ttrpc").setValue("k8s.io").build());
        StringList who = client.call(SERVICE, "Whoami", StringList.getDefaultInstance(), StringList.parser(),
                Duration.ofSeconds(7), md).get(10, TimeUnit.SECONDS);
        assertEquals(List.of(SERVICE + "/Whoami", "k8s.io"), who.getListList());
        assertEquals(Duration.ofSeconds(7).toNanos(), seen.get().timeoutNanos(), "timeout_nano reached the server");
        assertEquals(3, seen.get().streamId(), "second call on the connection: stream 3");
    }

    @Test
    void errorStatusesPropagateWithCodeAndMessage() throws Exception {
        server();
        var client = client();
        var notFound = failure(client.call(SERVICE, "Fail", "c1".getBytes(StandardCharsets.UTF_8), TIMEOUT));
        assertEquals(Code.NOT_FOUND, notFound.code());
        assertEquals(5, notFound.codeValue());
        assertEquals("container c1: not found", notFound.statusMessage());
        assertEquals("NOT_FOUND: container c1: not found", notFound.getMessage());

        var detailed = failure(client.call(SERVICE, "Detailed", new byte[0], TIMEOUT));
        assertEquals(Code.ALREADY_EXISTS, detailed.code());
        assertEquals(List.of("d"), detailed.status().getDetails(0).unpack(StringList.class).getListList(),
                "status details travel as sent");

        var crash = failure(client.call(SERVICE, "Crash", new byte[0], TIMEOUT));
        assertEquals(Code.UNKNOWN, crash.code());
        assertEquals("handler bug", crash.statusMessage());

        // 0xff starts a tag whose varint never ends: not a StringList.
        var typed = failure(client.call(SERVICE, "Typed", new byte[] {(byte) 0xff}, TIMEOUT));
        assertEquals(Code.INTERNAL, typed.code(), "an unparsable request payload answers INTERNAL");
        assertTrue(client.isOpen(), "errors leave the connection usable");
        assertEquals("eok", new String(client.call(SERVICE, "Echo", "ok".getBytes(), TIMEOUT).get(), StandardCharsets.UTF_8));
    }

    @Test
    void unknownServiceOrMethodIsUnimplemented() throws Exception {
        server();
        var client = client();
        var noService = failure(client.call("containerd.task.v2.Task", "Create", new byte[0], TIMEOUT));
        assertEquals(Code.UNIMPLEMENTED, noService.code());
        assertEquals(12, noService.codeValue());
        assertEquals("service containerd.task.v2.Task", noService.statusMessage());
        var noMethod = failure(client.call(SERVICE, "Nope", new byte[0], TIMEOUT));
        assertEquals(Code.UNIMPLEMENTED, noMethod.code());
        assertEquals("method Nope", noMethod.statusMessage());
    }

    @Test
    void timeoutFailsTheCallWithDeadlineExceededAndTheConnectionStaysUsable() throws Exception {
        server();
        var client = client();
        long start = System.nanoTime();
        var slow = failure(client.call(SERVICE, "Block", new byte[0], Duration.ofMillis(200)));
        long tookMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        assertEquals(Code.DEADLINE_EXCEEDED, slow.code());
        assertTrue(slow.statusMessage().contains(SERVICE + "/Block"), slow.statusMessage());
        assertTrue(tookMillis >= 190 && tookMillis < 5000, "took " + tookMillis + " ms");
        assertEquals(Duration.ofMillis(200).toNanos(), seen.get().timeoutNanos());
        assertEquals(0, client.pendingCalls(), "the timed-out call is forgotten");
        release.countDown(); // the late response arrives for a forgotten stream and is dropped
        assertEquals("ex", new String(client.call(SERVICE, "Echo", "x".getBytes(), TIMEOUT).get(10, TimeUnit.SECONDS),
                StandardCharsets.UTF_8));
    }

    @Test
    void serverCloseFailsPendingCallsAndLaterOnes() throws Exception {
        var server = server();
        var client = client();
        var pending = client.call(SERVICE, "Block", new byte[0], TIMEOUT);
        while (seen.get() == null) {
            Thread.sleep(5);
        }
        server.close();
        var lost = failure(pending);
        assertEquals(Code.UNAVAILABLE, lost.code());
        assertTrue(lost.statusMessage().contains("ttrpc connection to " + sock()), lost.statusMessage());
        client.closeFuture().get(5, TimeUnit.SECONDS);
        assertFalse(client.isOpen());
        assertEquals(Code.UNAVAILABLE, failure(client.call(SERVICE, "Echo", new byte[0], TIMEOUT)).code());
        assertFalse(Files.exists(sock()), "socket removed");
    }

    @Test
    void clientCloseFailsPendingCalls() throws Exception {
        server();
        var client = client();
        var pending = client.call(SERVICE, "Block", new byte[0], null);
        while (seen.get() == null) {
            Thread.sleep(5);
        }
        client.close();
        var closed = failure(pending);
        assertEquals(Code.UNAVAILABLE, closed.code());
        assertTrue(closed.statusMessage().contains("closed by this client"), closed.statusMessage());
        assertEquals(Code.UNAVAILABLE, failure(client.call(SERVICE, "Echo", new byte[0], TIMEOUT)).code());
    }

    @Test
    void oversizedMessagesAreResourceExhaustedBothWays() throws Exception {
        server();
        var client = client();
        var tooBig = failure(client.call(SERVICE, "Echo", new byte[TtrpcFrame.MAX_DATA_LENGTH], TIMEOUT));
        assertEquals(Code.RESOURCE_EXHAUSTED, tooBig.code());
        var hugeAnswer = failure(client.call(SERVICE, "Huge", new byte[0], TIMEOUT));
        assertEquals(Code.RESOURCE_EXHAUSTED, hugeAnswer.code());
        assertTrue(hugeAnswer.statusMessage().contains("exceed maximum message size of 4194304"));
        assertTrue(client.isOpen());
    }

    @Test
    void serverSocketIsOwnerAndGroupOnly() throws Exception {
        server();
        assertEquals("rw-rw----", PosixFilePermissions.toString(Files.getPosixFilePermissions(sock())));
        try (var files = Files.list(dir)) {
            assertEquals(List.of(sock()), files.toList(), "no temporary socket left");
        }
    }

    @Test
    void connectToAMissingSocketFailsClearly() {
        var e = assertThrows(IOException.class, () -> TtrpcClient.connect(dir.resolve("absent.sock"), Duration.ofSeconds(1)));
        assertTrue(e.getMessage().contains("absent.sock"), e.getMessage());
    }

    @Test
    void shimAddressesNameSocketFiles() {
        assertEquals(Path.of("/run/containerd/s/0a1b"), TtrpcClient.socketPath("unix:///run/containerd/s/0a1b"));
        assertEquals(Path.of("/tmp/x.sock"), TtrpcClient.socketPath("/tmp/x.sock"));
        assertThrows(IllegalArgumentException.class, () -> TtrpcClient.socketPath("vsock://3:1024"));
        assertThrows(IllegalArgumentException.class, () -> TtrpcClient.socketPath("unix://@abstract"));
        assertThrows(IllegalArgumentException.class, () -> TtrpcClient.socketPath("unix://"));
    }

    // ---- against bytes on a plain socket -------------------------------------------------------------------------

    private static byte[] hex(String s) {
        return HexFormat.of().parseHex(s.replace(" ", ""));
    }

    private static byte[] frame(int streamId, int type, int flags, byte[] data) {
        return ByteBuffer.allocate(10 + data.length).putInt(data.length).putInt(streamId)
                .put((byte) type).put((byte) flags).put(data).array();
    }

    private static byte[] readFrame(SocketChannel ch) throws IOException {
        ByteBuffer header = ByteBuffer.allocate(10);
        readFully(ch, header);
        ByteBuffer data = ByteBuffer.allocate(header.getInt(0));
        readFully(ch, data);
        return ByteBuffer.allocate(10 + data.capacity()).put(header.flip()).put(data.flip()).array();
    }

    private static void readFully(SocketChannel ch, ByteBuffer buf) throws IOException {
        while (buf.hasRemaining()) {
            if (ch.read(buf) < 0) {
                throw new IOException("EOF");
            }
        }
    }

    private static Response responseOf(byte[] frame) throws Exception {
        return Response.parseFrom(ByteBuffer.wrap(frame, 10, frame.length - 10));
    }

    @Test
    void serverAnswersHandWrittenFramesByteForByte() throws Exception {
        server();
        try (var ch = SocketChannel.open(UnixDomainSocketAddress.of(sock()))) {
            // Request{service SERVICE, method "Echo", payload "hi"} on stream 1, flags 0 (unary)
            byte[] req = Request.newBuilder().setService(SERVICE).setMethod("Echo")
                    .setPayload(ByteString.copyFromUtf8("hi")).build().toByteArray();
            ch.write(ByteBuffer.wrap(frame(1, 1, 0, req)));
            // Response{status {code 0}, payload "ehi"}: status is present but empty (0a 00), payload 12 03 "ehi"
            assertArrayEquals(hex("00000007 00000001 02 00 0a00 1203 656869"), readFrame(ch));

            // An even stream id: INVALID_ARGUMENT (3) on that stream, connection kept.
            ch.write(ByteBuffer.wrap(frame(4, 1, 0, req)));
            byte[] even = readFrame(ch);
            assertArrayEquals(hex("00000004 02 00"), java.util.Arrays.copyOfRange(even, 4, 10));
            assertEquals(3, responseOf(even).getStatus().getCode());
            assertEquals("StreamID must be odd for client initiated streams", responseOf(even).getStatus().getMessage());

            // A stream id that does not increase: INVALID_ARGUMENT.
            ch.write(ByteBuffer.wrap(frame(1, 1, 0, req)));
            assertEquals("StreamID cannot be re-used and must increment", responseOf(readFrame(ch)).getStatus().getMessage());

            // An oversized request: its data is skipped and RESOURCE_EXHAUSTED (8) answers on its stream...
            ch.write(ByteBuffer.wrap(hex("00400001 00000007 01 00")));
            ByteBuffer junk = ByteBuffer.allocate(TtrpcFrame.MAX_DATA_LENGTH + 1);
            while (junk.hasRemaining()) {
                ch.write(junk);
            }
            byte[] over = readFrame(ch);
            assertEquals(7, ByteBuffer.wrap(over).getInt(4));
            assertEquals(8, responseOf(over).getStatus().getCode());
            // ...and the connection goes on.
            ch.write(ByteBuffer.wrap(frame(9, 1, 0, req)));
            assertArrayEquals(hex("00000007 00000009 02 00 0a00 1203 656869"), readFrame(ch));

            // A Data frame for a stream that is not active.
            ch.write(ByteBuffer.wrap(frame(11, 3, 1, new byte[0])));
            assertEquals("StreamID is no longer active", responseOf(readFrame(ch)).getStatus().getMessage());
        }
    }

    @Test
    void clientSendsHandCheckableFramesAndReadsHandWrittenResponses() throws Exception {
        Path path = sock();
        try (var listener = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            listener.bind(UnixDomainSocketAddress.of(path));
            var client = client();
            var first = client.call("svc", "M", hex("2a"), Duration.ofNanos(300));
            try (var peer = listener.accept()) {
                // Request{service "svc", method "M", payload 2a, timeout_nano 300} on stream 1, request, flags 0
                assertArrayEquals(hex("0000000e 00000001 01 00 0a03737663 12014d 1a012a 20ac02"), readFrame(peer));
                // The first call times out (300 ns) before anything answers it; waiting for that here keeps the
                // test from racing the timer on a loaded machine.
                assertEquals(Code.DEADLINE_EXCEEDED, failure(first).code());
                var second = client.call("svc", "M", new byte[0], null);
                // Stream 3; empty payload and zero timeout are omitted by proto3.
                assertArrayEquals(hex("00000008 00000003 01 00 0a03737663 12014d"), readFrame(peer));
                // Answer stream 3 first, with Response{status {code 9 "no"}}; then stream 1 with OK and payload 07.
                peer.write(ByteBuffer.wrap(hex("00000008 00000003 02 00 0a06 0809 12026e6f")));
                peer.write(ByteBuffer.wrap(hex("00000005 00000001 02 00 0a00 120107")));
                var e = failure(second);
                assertEquals(Code.FAILED_PRECONDITION, e.code());
                assertEquals("no", e.statusMessage());
                // The first call's late answer (stream 1 above) was dropped quietly: its outcome stays the timeout.
                assertEquals(Code.DEADLINE_EXCEEDED, failure(first).code());

                var third = client.call("svc", "M", new byte[0], TIMEOUT);
                assertEquals(5, ByteBuffer.wrap(readFrame(peer)).getInt(4));
                // A response without a status is OK; payload 01 02.
                peer.write(ByteBuffer.wrap(hex("00000004 00000005 02 00 12020102")));
                assertArrayEquals(hex("0102"), third.get(10, TimeUnit.SECONDS));

                var fourth = client.call("svc", "M", new byte[0], TIMEOUT);
                assertEquals(7, ByteBuffer.wrap(readFrame(peer)).getInt(4));
                // An oversized response fails only its own call.
                peer.write(ByteBuffer.wrap(hex("00400001 00000007 02 00")));
                ByteBuffer junk = ByteBuffer.allocate(TtrpcFrame.MAX_DATA_LENGTH + 1);
                while (junk.hasRemaining()) {
                    peer.write(junk);
                }
                assertEquals(Code.RESOURCE_EXHAUSTED, failure(fourth).code());
                var fifth = client.call("svc", "M", new byte[0], TIMEOUT);
                assertEquals(9, ByteBuffer.wrap(readFrame(peer)).getInt(4));
                peer.write(ByteBuffer.wrap(hex("00000000 00000009 02 00")));
                assertArrayEquals(new byte[0], fifth.get(10, TimeUnit.SECONDS));

                // The peer goes away: pending calls fail with UNAVAILABLE.
                var sixth = client.call("svc", "M", new byte[0], TIMEOUT);
                readFrame(peer);
                peer.close();
                var lost = failure(sixth);
                assertEquals(Code.UNAVAILABLE, lost.code());
                assertTrue(lost.statusMessage().contains("closed by the peer"), lost.statusMessage());
            }
        }
    }
}
