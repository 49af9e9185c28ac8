package dev.bollard.daemon.streaming.client;

import dev.bollard.daemon.streaming.ExitStatus;
import dev.bollard.daemon.streaming.RemoteCommandProtocol;
import dev.bollard.daemon.streaming.TerminalSize;
import dev.bollard.daemon.streaming.spdy.SpdySession;
import dev.bollard.daemon.streaming.spdy.SpdyStream;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.nio.NioEventLoopGroup;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.util.InsecureTrustManagerFactory;
import io.netty.util.concurrent.DefaultThreadFactory;

import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLException;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Bollard's client of CRI streaming URLs, over SPDY/3.1 or WebSocket, as crictl and kubectl speak them: used by
 * {@code bollard exec/attach/port-forward} and by the tests.
 */
public final class StreamClient implements AutoCloseable {

    public enum Transport {
        SPDY, WEBSOCKET;

        public static Transport parse(String text) {
            return switch (text.toLowerCase(Locale.ROOT)) {
                case "spdy" -> SPDY;
                case "websocket", "ws" -> WEBSOCKET;
                default -> throw new IllegalArgumentException("transport \"" + text + "\": expected spdy or websocket");
            };
        }
    }

    /**
     * What to connect to the remote command. stdin null: none requested; stderr null: none (always with tty).
     *
     * @param resizes terminal sizes to send (tty only); null for none
     */
    public record Io(InputStream stdin, OutputStream stdout, OutputStream stderr, boolean tty,
                     BlockingQueue<TerminalSize> resizes) {
    }

    /** One forwarded connection: bytes both ways, and the server's error text once it ended. */
    public interface Forwarded extends AutoCloseable {
        InputStream input();

        OutputStream output();

        /** Half-closes our side (SPDY only; WebSocket port-forward framing has no half-close). */
        void closeOutput() throws IOException;

        /** Blocks until the server closed the error stream; empty when there was no error. */
        String error() throws IOException;

        @Override
        void close();
    }

    static final List<String> SPDY_PROTOCOLS = RemoteCommandProtocol.spdyNames();
    static final List<String> WS_PROTOCOLS = List.of("v5.channel.k8s.io", "v4.channel.k8s.io", "channel.k8s.io");

    private final EventLoopGroup group;
    private final java.util.Set<WebSocketMux> openSockets = java.util.concurrent.ConcurrentHashMap.newKeySet();
    private final SslContext nettySsl;
    private final SSLContext jdkSsl;

    /** @param insecureTls accept any server certificate (the streaming server's is often self-signed) */
    public StreamClient(boolean insecureTls) {
        this.group = new NioEventLoopGroup(1, new DefaultThreadFactory("bollard-stream-client", true));
        try {
            var builder = SslContextBuilder.forClient();
            if (insecureTls) {
                builder.trustManager(InsecureTrustManagerFactory.INSTANCE);
            }
            this.nettySsl = builder.build();
            if (insecureTls) {
                var ctx = SSLContext.getInstance("TLS");
                ctx.init(null, InsecureTrustManagerFactory.INSTANCE.getTrustManagers(), null);
                this.jdkSsl = ctx;
            } else {
                this.jdkSsl = SSLContext.getDefault();
            }
        } catch (SSLException | java.security.GeneralSecurityException e) {
            group.shutdownGracefully();
            throw new IllegalStateException("TLS setup failed: " + e.getMessage(), e);
        }
    }

    public StreamClient() {
        this(false);
    }

    SslContext sslFor(URI url) {
        return "https".equals(url.getScheme()) || "wss".equals(url.getScheme()) ? nettySsl : null;
    }

    SSLContext jdkSsl() {
        return jdkSsl;
    }

    /**
     * Runs an exec or attach URL to its end: stdin copied in, stdout/stderr copied out.
     *
     * @return the command's exit code (0 for an attach that ended normally)
     * @throws StreamClientException the server refused the URL or reported a failure other than an exit code
     */
    public int remoteCommand(URI url, Transport transport, Io io) throws IOException, InterruptedException {
        return switch (transport) {
            case SPDY -> spdyRemoteCommand(url, io);
            case WEBSOCKET -> WebSocketRemoteCommandClient.run(this, url, io);
        };
    }

    private int spdyRemoteCommand(URI url, Io io) throws IOException, InterruptedException {
        var connected = SpdyConnector.connect(group, sslFor(url), url, SPDY_PROTOCOLS, refuseServerStreams());
        var protocol = connected.protocol().isEmpty() ? RemoteCommandProtocol.V1
                : RemoteCommandProtocol.byWireName(connected.protocol()).orElseThrow(() -> new IOException(
                "the server chose an unknown protocol " + connected.protocol()));
        SpdySession session = connected.session();
        try {
            var error = open(session, Map.of("streamType", "error"));
            var stdin = io.stdin() != null ? open(session, Map.of("streamType", "stdin")) : null;
            var stdout = io.stdout() != null ? open(session, Map.of("streamType", "stdout")) : null;
            var stderr = io.stderr() != null && !io.tty() ? open(session, Map.of("streamType", "stderr")) : null;
            var resize = io.tty() && protocol.resize() ? open(session, Map.of("streamType", "resize")) : null;
            error.closeOutput();
            var copies = new ArrayList<Thread>();
            if (stdin != null) {
                Thread.ofVirtual().name("stream-stdin").start(() -> pump(io.stdin(), stdin.output(), true));
            }
            if (stdout != null) {
                copies.add(Thread.ofVirtual().name("stream-stdout").start(() -> pump(stdout.input(), io.stdout(), false)));
            }
            if (stderr != null) {
                copies.add(Thread.ofVirtual().name("stream-stderr").start(() -> pump(stderr.input(), io.stderr(), false)));
            }
            Thread resizer = null;
            if (resize != null && io.resizes() != null) {
                resizer = Thread.ofVirtual().name("stream-resize").start(() -> sendResizes(io.resizes(), resize.output()));
            }
            byte[] status = error.input().readAllBytes();
            for (var t : copies) {
                t.join();
            }
            if (resizer != null) {
                resizer.interrupt();
            }
            return outcome(protocol, status);
        } finally {
            session.close();
        }
    }

    /**
     * Opens a SPDY port-forward session: many connections share it, {@link SpdyPortForward#connect} opens one.
     */
    public SpdyPortForward portForwardSpdy(URI url) throws IOException, InterruptedException {
        var connected = SpdyConnector.connect(group, sslFor(url), url, List.of(RemoteCommandProtocol.PORT_FORWARD),
                refuseServerStreams());
        return new SpdyPortForward(connected.session());
    }

    /** A WebSocket port-forward URL gives one connection per port; the URL's token is then used up. */
    public List<Forwarded> portForwardWebSocket(URI url, List<Integer> ports) throws IOException, InterruptedException {
        return WebSocketPortForwardClient.open(this, url, ports);
    }

    public static final class SpdyPortForward implements AutoCloseable {
        private final SpdySession session;
        private final AtomicInteger requestIds = new AtomicInteger();

        SpdyPortForward(SpdySession session) {
            this.session = session;
        }

        public Forwarded connect(int port) throws IOException, InterruptedException {
            String id = Integer.toString(requestIds.getAndIncrement());
            var error = open(session, Map.of("streamType", "error", "port", Integer.toString(port), "requestID", id));
            var data = open(session, Map.of("streamType", "data", "port", Integer.toString(port), "requestID", id));
            error.closeOutput();
            return new Forwarded() {
                @Override
                public InputStream input() {
                    return data.input();
                }

                @Override
                public OutputStream output() {
                    return data.output();
                }

                @Override
                public void closeOutput() {
                    data.closeOutput();
                }

                @Override
                public String error() throws IOException {
                    return new String(error.input().readAllBytes(), StandardCharsets.UTF_8);
                }

                @Override
                public void close() {
                    data.reset();
                    error.reset();
                }
            };
        }

        @Override
        public void close() {
            session.close();
        }
    }

    private static SpdySession.Listener refuseServerStreams() {
        return new SpdySession.Listener() {
            @Override
            public void streamOpened(SpdyStream stream) {
                stream.reset();
            }

            @Override
            public void sessionClosed() {
            }
        };
    }

    static SpdyStream open(SpdySession session, Map<String, String> headers) throws IOException, InterruptedException {
        try {
            return session.open(headers).get(60, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            throw e.getCause() instanceof IOException io ? io : new IOException(e.getCause());
        } catch (TimeoutException e) {
            throw new IOException("the streaming server did not accept the " + headers.get("streamType") + " stream");
        }
    }

    static int outcome(RemoteCommandProtocol protocol, byte[] status) throws StreamClientException {
        return switch (ExitStatus.decode(protocol, status)) {
            case ExitStatus.Outcome.Exited exited -> exited.code();
            case ExitStatus.Outcome.Failed failed -> throw new StreamClientException(failed.message());
        };
    }

    static void sendResizes(BlockingQueue<TerminalSize> sizes, OutputStream out) {
        try {
            while (true) {
                TerminalSize size = sizes.take();
                out.write(("{\"Width\":" + size.width() + ",\"Height\":" + size.height() + "}\n")
                        .getBytes(StandardCharsets.UTF_8));
            }
        } catch (InterruptedException | IOException e) {
            // the session ended
        }
    }

    /** Copies until EOF; {@code closeAtEof} half-closes the destination (stdin's FIN). */
    static void pump(InputStream in, OutputStream out, boolean closeAtEof) {
        byte[] buf = new byte[32 * 1024];
        try {
            for (int n; (n = in.read(buf)) >= 0; ) {
                out.write(buf, 0, n);
                if (!closeAtEof) {
                    out.flush();
                }
            }
            if (closeAtEof) {
                out.close();
            } else {
                out.flush();
            }
        } catch (IOException e) {
            // the session ended
        }
    }

    static byte[] readAll(InputStream in) throws IOException {
        var out = new ByteArrayOutputStream();
        in.transferTo(out);
        return out.toByteArray();
    }

    void opened(WebSocketMux mux) {
        openSockets.add(mux);
    }

    void closed(WebSocketMux mux) {
        openSockets.remove(mux);
    }

    /** Closes every connection still open (SPDY and WebSocket), without goodbyes. */
    @Override
    public void close() {
        for (var mux : List.copyOf(openSockets)) {
            mux.abort();
        }
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }
}
