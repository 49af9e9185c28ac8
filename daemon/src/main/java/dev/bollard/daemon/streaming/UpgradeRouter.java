package dev.bollard.daemon.streaming;

import dev.bollard.daemon.log.Log;
import dev.bollard.daemon.streaming.spdy.SpdySession;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.QueryStringDecoder;
import io.netty.handler.codec.http.websocketx.WebSocketDecoderConfig;
import io.netty.handler.codec.http.websocketx.WebSocketFrameAggregator;
import io.netty.handler.codec.http.websocketx.WebSocketServerHandshakerFactory;
import io.netty.handler.codec.spdy.SpdyFrameCodec;
import io.netty.handler.codec.spdy.SpdyVersion;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static io.netty.handler.codec.http.HttpVersion.HTTP_1_1;

/**
 * The one HTTP request of a streaming connection: route by path, negotiate the transport and subprotocol from
 * the upgrade headers, and only then take the token (so a client that falls back from WebSocket to SPDY, as
 * kubectl does, still finds its token), then switch the pipeline to SPDY or WebSocket.
 */
final class UpgradeRouter extends SimpleChannelInboundHandler<FullHttpRequest> {

    static final String HTTP = "http";
    static final String AGGREGATOR = "http-aggregator";
    static final String STREAM_PROTOCOL_HEADER = "X-Stream-Protocol-Version";
    static final int MAX_FRAME = 1024 * 1024;

    /** In the server's order of preference; the client's order decides (see RemoteCommandProtocol.negotiate). */
    static final List<String> WS_REMOTE_COMMAND = List.of("v5.channel.k8s.io", "v4.channel.k8s.io",
            "v4.base64.channel.k8s.io", "channel.k8s.io", "base64.channel.k8s.io");
    static final List<String> WS_PORT_FORWARD = List.of(WebSocketTunnel.PROTOCOL, "v4.channel.k8s.io",
            "v4.base64.channel.k8s.io");

    private static final Log LOG = Log.get("streaming");

    private enum Kind { EXEC, ATTACH, PORTFORWARD }

    private final StreamingConfig config;
    private final StreamTokens tokens;
    private final StreamBackend backend;
    private final AtomicInteger sessions;
    private boolean upgraded;

    UpgradeRouter(StreamingConfig config, StreamTokens tokens, StreamBackend backend, AtomicInteger sessions) {
        this.config = config;
        this.tokens = tokens;
        this.backend = backend;
        this.sessions = sessions;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        // A connection that never sends its request must not hold a socket until the idle timeout.
        ctx.executor().schedule(() -> {
            if (!upgraded) {
                ctx.close();
            }
        }, config.streamCreationTimeout().toMillis(), TimeUnit.MILLISECONDS);
    }

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest req) {
        if (!req.decoderResult().isSuccess()) {
            reply(ctx, HttpResponseStatus.BAD_REQUEST, "malformed HTTP request");
            return;
        }
        var query = new QueryStringDecoder(req.uri());
        String[] parts = query.path().split("/", -1);
        Kind kind = parts.length == 3 && parts[0].isEmpty() && !parts[2].isEmpty() ? switch (parts[1]) {
            case "exec" -> Kind.EXEC;
            case "attach" -> Kind.ATTACH;
            case "portforward" -> Kind.PORTFORWARD;
            default -> null;
        } : null;
        if (kind == null) {
            reply(ctx, HttpResponseStatus.NOT_FOUND, "not found: streaming URLs are /exec/<token>, /attach/<token>"
                    + " and /portforward/<token>");
            return;
        }
        String token = parts[2];
        String upgrade = req.headers().get(HttpHeaderNames.UPGRADE, "");
        boolean webSocket = upgrade.equalsIgnoreCase("websocket");
        boolean spdy = upgrade.equalsIgnoreCase("SPDY/3.1");
        if (!webSocket && !spdy) {
            reply(ctx, HttpResponseStatus.BAD_REQUEST, "this endpoint needs a connection upgrade to SPDY/3.1 or"
                    + " websocket (got Upgrade: \"" + upgrade + "\")");
            return;
        }
        List<String> offered = headerList(req, webSocket ? HttpHeaderNames.SEC_WEBSOCKET_PROTOCOL.toString()
                : STREAM_PROTOCOL_HEADER);
        List<String> accepted = kind == Kind.PORTFORWARD
                ? (webSocket ? WS_PORT_FORWARD : List.of(RemoteCommandProtocol.PORT_FORWARD))
                : (webSocket ? WS_REMOTE_COMMAND : RemoteCommandProtocol.spdyNames());
        String protocol;
        if (offered.isEmpty()) {
            protocol = "";
        } else {
            Optional<String> chosen = RemoteCommandProtocol.negotiate(offered, accepted);
            if (chosen.isEmpty()) {
                reply(ctx, HttpResponseStatus.FORBIDDEN, "unable to upgrade: unable to negotiate protocol: client"
                        + " supports " + offered + ", server accepts " + accepted);
                return;
            }
            protocol = chosen.get();
        }
        if (sessions.get() >= config.maxStreams()) {
            reply(ctx, HttpResponseStatus.SERVICE_UNAVAILABLE, "too many streaming sessions (max_streams "
                    + config.maxStreams() + ")");
            return;
        }
        Optional<StreamRequest> taken = tokens.take(token);
        StreamRequest request = taken.orElse(null);
        boolean matches = switch (kind) {
            case EXEC -> request instanceof StreamRequest.Exec;
            case ATTACH -> request instanceof StreamRequest.Attach;
            case PORTFORWARD -> request instanceof StreamRequest.PortForward;
        };
        if (!matches) {
            reply(ctx, HttpResponseStatus.NOT_FOUND, "unknown, expired or already used streaming token");
            return;
        }
        List<Integer> wsPorts = List.of();
        if (webSocket && request instanceof StreamRequest.PortForward pf && !protocol.equals(WebSocketTunnel.PROTOCOL)) {
            var ports = portsOf(query, pf);
            if (ports instanceof String problem) {
                reply(ctx, HttpResponseStatus.BAD_REQUEST, problem);
                return;
            }
            @SuppressWarnings("unchecked") var list = (List<Integer>) ports;
            wsPorts = list;
        }
        upgraded = true;
        sessions.incrementAndGet();
        ctx.channel().closeFuture().addListener(f -> sessions.decrementAndGet());
        LOG.debug("streaming session", "kind", kind, "transport", webSocket ? "websocket" : "spdy",
                "protocol", protocol);
        if (spdy) {
            upgradeSpdy(ctx, protocol, !offered.isEmpty(), request);
        } else {
            upgradeWebSocket(ctx, req, protocol, request, wsPorts);
        }
    }

    private void upgradeSpdy(ChannelHandlerContext ctx, String protocol, boolean echo, StreamRequest request) {
        var response = new DefaultFullHttpResponse(HTTP_1_1, HttpResponseStatus.SWITCHING_PROTOCOLS);
        response.headers().set(HttpHeaderNames.CONNECTION, "Upgrade").set(HttpHeaderNames.UPGRADE, "SPDY/3.1");
        if (echo) {
            response.headers().set(STREAM_PROTOCOL_HEADER, protocol);
        }
        // Encoded by the HTTP codec right here on the event loop, before the pipeline changes below.
        ctx.writeAndFlush(response);
        var p = ctx.pipeline();
        SpdySession session;
        if (request instanceof StreamRequest.PortForward pf) {
            var listener = new SpdyPortForwardSession(backend, pf, config.streamCreationTimeout());
            session = new SpdySession(true, config.maxStreams(), false, listener);
            p.addAfter(HTTP, "spdy", new SpdyFrameCodec(SpdyVersion.SPDY_3_1));
            p.addAfter("spdy", "spdy-session", session);
            listener.attach(session);
        } else {
            var version = protocol.isEmpty() ? RemoteCommandProtocol.V1
                    : RemoteCommandProtocol.byWireName(protocol).orElseThrow();
            var listener = new SpdyRemoteCommandSession(backend, request, version, config.streamCreationTimeout());
            session = new SpdySession(true, 8, false, listener);
            p.addAfter(HTTP, "spdy", new SpdyFrameCodec(SpdyVersion.SPDY_3_1));
            p.addAfter("spdy", "spdy-session", session);
            listener.attach(session);
        }
        p.remove(AGGREGATOR);
        p.remove(this);
        p.remove(HTTP);
    }

    private void upgradeWebSocket(ChannelHandlerContext ctx, FullHttpRequest req, String protocol,
                                  StreamRequest request, List<Integer> ports) {
        String url = (config.tls() ? "wss://" : "ws://") + req.headers().get(HttpHeaderNames.HOST, "localhost")
                + req.uri();
        var decoder = WebSocketDecoderConfig.newBuilder().maxFramePayloadLength(MAX_FRAME).allowExtensions(false)
                .build();
        var factory = new WebSocketServerHandshakerFactory(url, protocol.isEmpty() ? null : protocol, decoder);
        var handshaker = factory.newHandshaker(req);
        if (handshaker == null) {
            WebSocketServerHandshakerFactory.sendUnsupportedVersionResponse(ctx.channel())
                    .addListener(ChannelFutureListener.CLOSE);
            return;
        }
        var channel = ctx.channel();
        if (protocol.equals(WebSocketTunnel.PROTOCOL) && request instanceof StreamRequest.PortForward pf) {
            handshaker.handshake(channel, req).addListener(f -> {
                if (!f.isSuccess()) {
                    channel.close();
                    return;
                }
                var listener = new SpdyPortForwardSession(backend, pf, config.streamCreationTimeout());
                var session = new SpdySession(true, config.maxStreams(), false, listener);
                var p = channel.pipeline();
                p.addLast("ws-tunnel", new WebSocketTunnel());
                p.addLast("spdy", new SpdyFrameCodec(SpdyVersion.SPDY_3_1));
                p.addLast("spdy-session", session);
                listener.attach(session);
            });
            ctx.pipeline().remove(this);
            return;
        }
        boolean base64 = protocol.contains("base64");
        var grace = config.streamCreationTimeout();
        WebSocketChannels handler = request instanceof StreamRequest.PortForward pf
                ? new WebSocketPortForward(backend, pf, ports, base64, grace)
                : new WebSocketRemoteCommand(backend, request, protocol.isEmpty() ? RemoteCommandProtocol.V1
                : RemoteCommandProtocol.byWireName(protocol.replace("base64.", ""))
                .orElse(RemoteCommandProtocol.V1), base64, grace);
        handshaker.handshake(channel, req).addListener(f -> {
            if (!f.isSuccess()) {
                channel.close();
                return;
            }
            var p = channel.pipeline();
            p.addLast("ws-aggregator", new WebSocketFrameAggregator(MAX_FRAME));
            p.addLast("ws-session", handler);
        });
        ctx.pipeline().remove(this);
    }

    /** The {@code port} query parameters, or the request's ports; a String says what is wrong. */
    private static Object portsOf(QueryStringDecoder query, StreamRequest.PortForward pf) {
        var ports = new ArrayList<Integer>();
        for (String text : query.parameters().getOrDefault("port", List.of())) {
            for (String one : text.split(",")) {
                try {
                    int port = Integer.parseInt(one.strip());
                    if (port < 1 || port > 65535) {
                        return "port " + one + " is out of range 1..65535";
                    }
                    if (!pf.ports().isEmpty() && !pf.ports().contains(port)) {
                        return "port " + port + " is not among the ports of this port-forward request " + pf.ports();
                    }
                    ports.add(port);
                } catch (NumberFormatException e) {
                    return "port \"" + one + "\" is not a number";
                }
            }
        }
        if (ports.isEmpty()) {
            ports.addAll(pf.ports());
        }
        if (ports.isEmpty()) {
            return "no port to forward: give ?port=N";
        }
        return List.copyOf(ports);
    }

    /** A header that may repeat, each value possibly a comma-separated list. */
    static List<String> headerList(FullHttpRequest req, String name) {
        var values = new ArrayList<String>();
        for (String v : req.headers().getAll(name)) {
            for (String one : v.split(",")) {
                if (!one.isBlank()) {
                    values.add(one.strip());
                }
            }
        }
        return values;
    }

    private static void reply(ChannelHandlerContext ctx, HttpResponseStatus status, String message) {
        var body = Unpooled.copiedBuffer(message + "\n", StandardCharsets.UTF_8);
        var response = new DefaultFullHttpResponse(HTTP_1_1, status, body);
        response.headers().set(HttpHeaderNames.CONTENT_TYPE, "text/plain; charset=utf-8")
                .setInt(HttpHeaderNames.CONTENT_LENGTH, body.readableBytes())
                .set(HttpHeaderNames.CONNECTION, "close");
        ctx.writeAndFlush(response).addListener(ChannelFutureListener.CLOSE);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        LOG.debug("streaming request failed", "error", String.valueOf(cause.getMessage()));
        ctx.close();
    }
}
