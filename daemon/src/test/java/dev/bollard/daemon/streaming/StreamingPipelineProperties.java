package dev.bollard.daemon.streaming;

import dev.bollard.daemon.testkit.Mutations;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.buffer.UnpooledByteBufAllocator;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.websocketx.BinaryWebSocketFrame;
import io.netty.handler.codec.http.websocketx.CloseWebSocketFrame;
import io.netty.handler.codec.http.websocketx.PingWebSocketFrame;
import io.netty.handler.codec.http.websocketx.TextWebSocketFrame;
import io.netty.handler.codec.http.websocketx.WebSocket13FrameEncoder;
import io.netty.handler.codec.spdy.DefaultSpdyDataFrame;
import io.netty.handler.codec.spdy.DefaultSpdyGoAwayFrame;
import io.netty.handler.codec.spdy.DefaultSpdyPingFrame;
import io.netty.handler.codec.spdy.DefaultSpdyRstStreamFrame;
import io.netty.handler.codec.spdy.DefaultSpdySettingsFrame;
import io.netty.handler.codec.spdy.DefaultSpdySynStreamFrame;
import io.netty.handler.codec.spdy.DefaultSpdyWindowUpdateFrame;
import io.netty.handler.codec.spdy.SpdyFrameCodec;
import io.netty.handler.codec.spdy.SpdyVersion;
import dev.bollard.daemon.testkit.Gen;
import dev.bollard.daemon.testkit.Tries;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The streaming server's own pipeline (HTTP codec, aggregator, {@link UpgradeRouter}, then SPDY or WebSocket with
 * the channel framing) fed valid upgrade requests and session frames, mutated, in random pieces. Whatever arrives:
 * no exception reaches the end of the pipeline, what the server buffers and answers stays proportional to what it
 * was sent, the feed finishes within a time bound, once the stream creation timeout has passed the connection is
 * either closed or running a command for its request (never left waiting for nothing).
 */
class StreamingPipelineProperties {

    /** The backend's calls park here, so no session thread touches the (single-threaded) embedded channel. */
    private static final CountDownLatch RELEASE = new CountDownLatch(1);
    private static final AtomicInteger STARTED = new AtomicInteger();
    private static final Duration CREATION_TIMEOUT = Duration.ofSeconds(30);

    private static final StreamBackend PARKED = new StreamBackend() {
        @Override
        public int exec(StreamRequest.Exec r, RemoteCommandStreams io) {
            park();
            return 0;
        }

        @Override
        public void attach(StreamRequest.Attach r, RemoteCommandStreams io) {
            park();
        }

        @Override
        public SocketChannel portForward(String podSandboxId, int port) throws IOException {
            park();
            throw new IOException("the test is over");
        }
    };

    private static void park() {
        STARTED.incrementAndGet();
        boolean interrupted = false;
        while (true) {
            try {
                RELEASE.await();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    @AfterAll
    static void releaseParked() {
        RELEASE.countDown();
    }

    enum Kind { EXEC, ATTACH, PORTFORWARD }

    /**
     * A session: its kind, whether it is base64 (WebSocket only), the seed of its frames, their mutations and their
     * pieces, how many mutations, and whether they may hit the upgrade request too.
     */
    record Session(Kind kind, boolean base64, long seed, int mutations, boolean mutateRequest) {
    }

    private static Gen<Session> sessions(boolean webSocket) {
        Gen<Kind> kinds = Gen.enums(Kind.class);
        Gen<Integer> mutations = Gen.ints(0, 8);
        return r -> new Session(kinds.next(r), webSocket && r.nextBoolean(), r.nextLong(), mutations.next(r),
                r.nextBoolean());
    }

    @TestFactory
    Stream<DynamicTest> spdySessionsSurviveMutatedFrames() {
        return Tries.forAll(250, sessions(false), s -> spdySession(s.kind(), s.seed(), s.mutations(), s.mutateRequest()));
    }

    private static void spdySession(Kind kind, long seed, int mutations, boolean mutateRequest) {
        var tokens = new StreamTokens(Duration.ofMinutes(1), Clock.systemUTC());
        String token = tokens.put(request(kind, false));
        byte[] head = ("POST /" + path(kind) + "/" + token + " HTTP/1.1\r\nHost: localhost\r\n"
                + "Connection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: "
                + (kind == Kind.PORTFORWARD ? "portforward.k8s.io" : "v4.channel.k8s.io")
                + "\r\nContent-Length: 0\r\n\r\n").getBytes(StandardCharsets.US_ASCII);
        byte[] frames = spdyFrames(kind, new Random(seed));
        run(tokens, head, frames, seed, mutations, mutateRequest, kind != Kind.PORTFORWARD);
    }

    @TestFactory
    Stream<DynamicTest> webSocketSessionsSurviveMutatedFrames() {
        return Tries.forAll(250, sessions(true),
                s -> webSocketSession(s.kind(), s.base64(), s.seed(), s.mutations(), s.mutateRequest()));
    }

    private static void webSocketSession(Kind kind, boolean base64, long seed, int mutations, boolean mutateRequest) {
        var tokens = new StreamTokens(Duration.ofMinutes(1), Clock.systemUTC());
        String token = tokens.put(request(kind, true));
        String protocol = base64 ? "v4.base64.channel.k8s.io" : "v4.channel.k8s.io";
        byte[] head = ("GET /" + path(kind) + "/" + token + (kind == Kind.PORTFORWARD ? "?port=80" : "")
                + " HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                + "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                + "Sec-WebSocket-Protocol: " + protocol + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII);
        byte[] frames = webSocketFrames(base64, new Random(seed));
        run(tokens, head, frames, seed, mutations, mutateRequest, kind != Kind.PORTFORWARD);
    }

    /** Any bytes as the request, and the seed of the pieces they arrive in. */
    record Arbitrary(byte[] bytes, long seed) {
    }

    @TestFactory
    Stream<DynamicTest> arbitraryBytesAsTheRequestEndInAnAnswerOrAClose() {
        Gen<byte[]> bytes = Gen.bytes(4000);
        return Tries.forAll(300, r -> new Arbitrary(bytes.next(r), r.nextLong()), a -> {
            var tokens = new StreamTokens(Duration.ofMinutes(1), Clock.systemUTC());
            tokens.put(request(Kind.EXEC, false));
            run(tokens, new byte[0], a.bytes(), a.seed(), 0, false, true);
        });
    }

    /** The seed of the resize messages' mutations, and how many. */
    record Resizes(long seed, int mutations) {
    }

    /** Resize messages (client-go's JSON objects, back to back) mutated: sizes in range, and the command finishes. */
    @TestFactory
    Stream<DynamicTest> mutatedResizesNeverStopTheCommand() {
        Gen<Integer> mutations = Gen.ints(0, 6);
        return Tries.forAll(300, r -> new Resizes(r.nextLong(), mutations.next(r)),
                s -> resizesNeverStopTheCommand(s.seed(), s.mutations()));
    }

    private static void resizesNeverStopTheCommand(long seed, int mutations) {
        var valid = "{\"Width\":80,\"Height\":24}{\"Width\":120,\"Height\":40}\n{\"Width\":0,\"Height\":0}"
                .getBytes(StandardCharsets.UTF_8);
        byte[] resize = Mutations.bytes(valid, seed, mutations);
        var seen = new ArrayList<TerminalSize>();
        StreamBackend reading = new StreamBackend() {
            @Override
            public int exec(StreamRequest.Exec r, RemoteCommandStreams io) throws InterruptedException {
                for (Optional<TerminalSize> s; (s = io.nextResize()).isPresent(); ) {
                    seen.add(s.get());
                }
                return 7;
            }

            @Override
            public void attach(StreamRequest.Attach r, RemoteCommandStreams io) {
                throw new AssertionError();
            }

            @Override
            public SocketChannel portForward(String podSandboxId, int port) {
                throw new AssertionError();
            }
        };
        var error = new ByteArrayOutputStream();
        var done = new CountDownLatch(1);
        assertTimeoutPreemptively(Duration.ofSeconds(10), () -> {
            RemoteCommandRunner.start(reading, new StreamRequest.Exec("c1", List.of("sh"), true, false, false,
                            false), RemoteCommandProtocol.V4,
                    new RemoteCommandRunner.Wires(null, null, null, new ByteArrayInputStream(resize), error),
                    done::countDown);
            done.await();
        });
        assertEquals(new String(ExitStatus.encode(RemoteCommandProtocol.V4, 7), StandardCharsets.UTF_8),
                error.toString(StandardCharsets.UTF_8));
        for (var s : seen) {
            assertTrue(s.width() >= 0 && s.height() >= 0 && s.width() <= 0xffff && s.height() <= 0xffff, s.toString());
        }
        if (mutations == 0) {
            // resizes are coalesced (only the latest waits for the command): the command sees the sent sizes in
            // order, some skipped, and always the last one
            var sent = List.of(new TerminalSize(80, 24), new TerminalSize(120, 40), new TerminalSize(0, 0));
            assertFalse(seen.isEmpty(), "the last size never reached the command");
            assertEquals(sent.getLast(), seen.getLast());
            int next = 0;
            for (var s : seen) {
                int at = sent.subList(next, sent.size()).indexOf(s);
                assertTrue(at >= 0, "out of order or not sent: " + s + " in " + seen);
                next += at + 1;
            }
        }
    }

    /** @param waitsForCommand a remote command (not a port-forward, which may idle with no stream open) */
    private static void run(StreamTokens tokens, byte[] head, byte[] frames, long seed, int mutations,
                            boolean mutateRequest, boolean waitsForCommand) {
        byte[] wire;
        if (mutateRequest) {
            wire = Mutations.bytes(concat(head, frames), seed, Math.max(1, mutations));
        } else {
            wire = concat(head, Mutations.bytes(frames, seed, mutations));
        }
        int before = STARTED.get();
        assertTimeoutPreemptively(Duration.ofSeconds(10), () -> feed(tokens, wire, seed, before, waitsForCommand));
    }

    private static void feed(StreamTokens tokens, byte[] wire, long seed, int startedBefore,
                             boolean waitsForCommand) throws InterruptedException {
        var config = new StreamingConfig("127.0.0.1", 0, Optional.empty(), Optional.empty(), Duration.ofHours(4),
                CREATION_TIMEOUT, 10, Duration.ofMinutes(1));
        var alloc = new UnpooledByteBufAllocator(false, true);
        var ch = new EmbeddedChannel();
        ch.config().setAllocator(alloc);
        // as StreamingServer.start builds it, without TLS and the idle timeout (Netty's, on the wall clock)
        ch.pipeline().addLast(UpgradeRouter.HTTP, new HttpServerCodec());
        ch.pipeline().addLast(UpgradeRouter.AGGREGATOR, new HttpObjectAggregator(64 * 1024));
        ch.pipeline().addLast("router", new UpgradeRouter(config, tokens, PARKED, new AtomicInteger()));
        var r = new Random(seed);
        long answered = 0;
        long peak = 0;
        try {
            int at = 0;
            while (at < wire.length && ch.isOpen()) {
                int n = Math.min(wire.length - at, 1 + r.nextInt(512));
                // throws whatever exception reached the end of the pipeline
                ch.writeInbound(Unpooled.wrappedBuffer(Arrays.copyOfRange(wire, at, at + n)));
                ch.runPendingTasks();
                answered += drain(ch);
                peak = Math.max(peak, alloc.metric().usedHeapMemory());
                at += n;
            }
            ch.advanceTimeBy(CREATION_TIMEOUT.toMillis() + 1000, TimeUnit.MILLISECONDS);
            ch.runPendingTasks();
            ch.runScheduledPendingTasks();
            answered += drain(ch);
            ch.checkException();
            if (waitsForCommand) {
                // the backend is called on a virtual thread of the session: give it a moment
                for (int i = 0; i < 200 && ch.isOpen() && STARTED.get() == startedBefore; i++) {
                    Thread.sleep(10);
                }
                assertTrue(!ch.isOpen() || STARTED.get() > startedBefore,
                        "the connection is still open after the stream creation timeout with no command running");
            }
            long bound = 4L * wire.length + 64 * 1024;
            assertTrue(answered <= bound, "answered " + answered + " bytes to " + wire.length);
            assertTrue(peak <= bound, "buffered " + peak + " bytes of " + wire.length);
        } finally {
            ch.finishAndReleaseAll();
        }
    }

    private static long drain(EmbeddedChannel ch) {
        long n = 0;
        for (Object o; (o = ch.readOutbound()) != null; ) {
            if (o instanceof ByteBuf b) {
                n += b.readableBytes();
            }
            io.netty.util.ReferenceCountUtil.release(o);
        }
        return n;
    }

    private static StreamRequest request(Kind kind, boolean webSocket) {
        return switch (kind) {
            case EXEC -> new StreamRequest.Exec("c1", List.of("sh"), false, true, true, true);
            case ATTACH -> new StreamRequest.Attach("c1", false, true, true, false);
            // no ports: over SPDY every port is allowed; over WebSocket the query names them
            case PORTFORWARD -> new StreamRequest.PortForward("sb1", webSocket ? List.of(80) : List.of());
        };
    }

    private static String path(Kind kind) {
        return switch (kind) {
            case EXEC -> "exec";
            case ATTACH -> "attach";
            case PORTFORWARD -> "portforward";
        };
    }

    /** What a client sends after the upgrade: its streams opened, data, pings, window updates, settings, resets. */
    private static byte[] spdyFrames(Kind kind, Random r) {
        var client = new EmbeddedChannel(new SpdyFrameCodec(SpdyVersion.SPDY_3_1));
        var frames = new ArrayList<Object>();
        if (kind == Kind.PORTFORWARD) {
            int id = 1;
            for (int req = 0; req < 2; req++) {
                for (String type : List.of("error", "data")) {
                    var syn = new DefaultSpdySynStreamFrame(id, 0, (byte) 0);
                    syn.headers().set("streamtype", type).set("port", "80").set("requestid", Integer.toString(req));
                    frames.add(syn);
                    id += 2;
                }
            }
            frames.add(new DefaultSpdyDataFrame(3, Unpooled.wrappedBuffer("GET / HTTP/1.0\r\n\r\n".getBytes())));
        } else {
            int id = 1;
            for (String type : List.of("error", "stdin", "stdout", "stderr")) {
                var syn = new DefaultSpdySynStreamFrame(id, 0, (byte) 0);
                syn.headers().set("streamtype", type);
                frames.add(syn);
                id += 2;
            }
            byte[] data = new byte[r.nextInt(2000)];
            r.nextBytes(data);
            frames.add(new DefaultSpdyDataFrame(3, Unpooled.wrappedBuffer(data)));
            var fin = new DefaultSpdyDataFrame(3);
            fin.setLast(true);
            frames.add(fin);
        }
        var settings = new DefaultSpdySettingsFrame();
        settings.setValue(7, 1 << 20);
        frames.add(settings);
        frames.add(new DefaultSpdyPingFrame(1));
        frames.add(new DefaultSpdyWindowUpdateFrame(1, 4096));
        frames.add(new DefaultSpdyRstStreamFrame(5, 5));
        if (r.nextBoolean()) {
            frames.add(new DefaultSpdyGoAwayFrame(0));
        }
        for (Object f : frames) {
            client.writeOutbound(f);
        }
        return drainBytes(client);
    }

    /** What a client sends after the handshake: masked channel frames, a ping, sometimes a close. */
    private static byte[] webSocketFrames(boolean base64, Random r) {
        var client = new EmbeddedChannel(new WebSocket13FrameEncoder(true));
        byte[] data = new byte[r.nextInt(2000)];
        r.nextBytes(data);
        for (int channel : new int[]{0, 0, 4, 255, 9}) {
            byte[] payload = channel == 4 ? "{\"Width\":80,\"Height\":24}".getBytes(StandardCharsets.UTF_8)
                    : channel == 255 ? new byte[]{0} : data;
            if (base64) {
                client.writeOutbound(new TextWebSocketFrame((char) ('0' + channel)
                        + Base64.getEncoder().encodeToString(payload)));
            } else {
                var b = Unpooled.buffer().writeByte(channel).writeBytes(payload);
                client.writeOutbound(new BinaryWebSocketFrame(b));
            }
        }
        client.writeOutbound(new PingWebSocketFrame(Unpooled.wrappedBuffer(new byte[]{1, 2, 3})));
        if (r.nextBoolean()) {
            client.writeOutbound(new CloseWebSocketFrame(1000, "bye"));
        }
        return drainBytes(client);
    }

    private static byte[] drainBytes(EmbeddedChannel client) {
        var out = new ByteArrayOutputStream();
        for (Object o; (o = client.readOutbound()) != null; ) {
            var b = (ByteBuf) o;
            out.writeBytes(ByteBufUtil.getBytes(b));
            b.release();
        }
        client.finishAndReleaseAll();
        return out.toByteArray();
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
