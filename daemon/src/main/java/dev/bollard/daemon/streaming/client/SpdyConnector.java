package dev.bollard.daemon.streaming.client;

import dev.bollard.daemon.streaming.spdy.SpdySession;
import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.spdy.SpdyFrameCodec;
import io.netty.handler.codec.spdy.SpdyVersion;
import io.netty.handler.ssl.SslContext;

import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/** Opens a SPDY/3.1 session the way client-go does: a POST with {@code Upgrade: SPDY/3.1}, then SPDY frames. */
final class SpdyConnector {

    /** A connected session and the subprotocol the server chose (empty when it echoed none). */
    record Connected(SpdySession session, String protocol) {
    }

    private SpdyConnector() {
    }

    static Connected connect(EventLoopGroup group, SslContext ssl, URI url, List<String> protocols,
                             SpdySession.Listener listener) throws IOException, InterruptedException {
        var session = new SpdySession(false, 10_000, true, listener);
        var upgraded = new CompletableFuture<String>();
        int port = url.getPort() > 0 ? url.getPort() : "https".equals(url.getScheme()) ? 443 : 80;
        var bootstrap = new Bootstrap().group(group).channel(NioSocketChannel.class)
                .option(ChannelOption.TCP_NODELAY, true)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, 30_000)
                .handler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        var p = ch.pipeline();
                        if (ssl != null) {
                            p.addLast("tls", ssl.newHandler(ch.alloc(), url.getHost(), port));
                        }
                        p.addLast("http", new HttpClientCodec());
                        p.addLast("http-aggregator", new HttpObjectAggregator(64 * 1024));
                        p.addLast("upgrade", new SimpleChannelInboundHandler<FullHttpResponse>() {
                            @Override
                            protected void channelRead0(ChannelHandlerContext ctx, FullHttpResponse r) {
                                if (r.status().code() != 101) {
                                    upgraded.completeExceptionally(new StreamClientException(r.status().code(),
                                            r.status() + ": " + r.content().toString(StandardCharsets.UTF_8).strip()));
                                    ctx.close();
                                    return;
                                }
                                var pipeline = ctx.pipeline();
                                pipeline.addAfter("http", "spdy", new SpdyFrameCodec(SpdyVersion.SPDY_3_1));
                                pipeline.addAfter("spdy", "spdy-session", session);
                                pipeline.remove("http-aggregator");
                                pipeline.remove(this);
                                pipeline.remove("http");
                                upgraded.complete(r.headers().get("X-Stream-Protocol-Version", ""));
                            }

                            @Override
                            public void channelInactive(ChannelHandlerContext ctx) {
                                upgraded.completeExceptionally(new IOException("the streaming server closed the"
                                        + " connection before answering the upgrade"));
                                ctx.fireChannelInactive();
                            }

                            @Override
                            public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                                upgraded.completeExceptionally(cause);
                                ctx.close();
                            }
                        });
                    }
                });
        Channel channel;
        try {
            channel = bootstrap.connect(url.getHost(), port).sync().channel();
        } catch (Exception e) {
            throw new IOException("cannot connect to the streaming server " + url.getHost() + ":" + port + ": "
                    + e.getMessage(), e);
        }
        String path = url.getRawPath() + (url.getRawQuery() == null ? "" : "?" + url.getRawQuery());
        var request = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.POST, path);
        request.headers().set(HttpHeaderNames.HOST, url.getHost() + ":" + port)
                .set(HttpHeaderNames.CONNECTION, "Upgrade")
                .set(HttpHeaderNames.UPGRADE, "SPDY/3.1")
                .set(HttpHeaderNames.CONTENT_LENGTH, 0);
        for (String p : protocols) {
            request.headers().add("X-Stream-Protocol-Version", p);
        }
        channel.writeAndFlush(request);
        try {
            return new Connected(session, upgraded.get(60, TimeUnit.SECONDS));
        } catch (ExecutionException e) {
            channel.close();
            if (e.getCause() instanceof IOException io) {
                throw io;
            }
            throw new IOException("SPDY upgrade failed: " + e.getCause(), e.getCause());
        } catch (TimeoutException e) {
            channel.close();
            throw new IOException("the streaming server did not answer the upgrade");
        }
    }
}
