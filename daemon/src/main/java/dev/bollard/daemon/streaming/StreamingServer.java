package dev.bollard.daemon.streaming;

import dev.bollard.daemon.log.Log;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.nio.NioEventLoopGroup;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.handler.timeout.IdleStateHandler;
import io.netty.util.concurrent.DefaultThreadFactory;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The CRI streaming server: the URLs that Exec, Attach and PortForward return point here. HTTP/1.1 on Netty
 * (optionally TLS); {@code /exec/<token>}, {@code /attach/<token>} and {@code /portforward/<token>} upgrade to
 * SPDY/3.1 or WebSocket ({@link UpgradeRouter}) and hand the session to the {@link StreamBackend}.
 */
public final class StreamingServer implements AutoCloseable {

    private static final Log LOG = Log.get("streaming");

    private final StreamingConfig config;
    private final StreamTokens tokens;
    private final StreamBackend backend;
    private final AtomicInteger sessions = new AtomicInteger();
    private EventLoopGroup group;
    private Channel serverChannel;
    private URI baseUrl;

    public StreamingServer(StreamingConfig cfg, StreamTokens tokens, StreamBackend backend) {
        this.config = cfg;
        this.tokens = tokens;
        this.backend = backend;
    }

    public synchronized void start() throws IOException {
        if (serverChannel != null) {
            throw new IllegalStateException("already started");
        }
        SslContext ssl = null;
        if (config.tls()) {
            try {
                ssl = SslContextBuilder.forServer(config.tlsCertFile().orElseThrow().toFile(),
                        config.tlsKeyFile().orElseThrow().toFile()).build();
            } catch (IOException | RuntimeException e) {
                throw new IOException("streaming: cannot load tls_cert_file/tls_key_file: " + e.getMessage(), e);
            }
        }
        SslContext sslContext = ssl;
        group = new NioEventLoopGroup(2, new DefaultThreadFactory("bollard-streaming", true));
        var bootstrap = new ServerBootstrap()
                .group(group)
                .channel(NioServerSocketChannel.class)
                .option(ChannelOption.SO_REUSEADDR, true)
                .childOption(ChannelOption.TCP_NODELAY, true)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        var p = ch.pipeline();
                        if (sslContext != null) {
                            p.addLast("tls", sslContext.newHandler(ch.alloc()));
                        }
                        p.addLast("idle", new IdleStateHandler(0, 0, config.idleTimeout().toMillis(),
                                TimeUnit.MILLISECONDS));
                        p.addLast("idle-close", new IdleCloser());
                        p.addLast(UpgradeRouter.HTTP, new HttpServerCodec());
                        p.addLast(UpgradeRouter.AGGREGATOR, new HttpObjectAggregator(64 * 1024));
                        p.addLast("router", new UpgradeRouter(config, tokens, backend, sessions));
                    }
                });
        try {
            serverChannel = bootstrap.bind(new InetSocketAddress(config.address(), config.port())).sync().channel();
        } catch (Exception e) {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
            group = null;
            throw new IOException("streaming: cannot listen on " + config.address() + ":" + config.port() + ": "
                    + e.getMessage(), e);
        }
        var bound = (InetSocketAddress) serverChannel.localAddress();
        String host = bound.getAddress().isAnyLocalAddress() ? "127.0.0.1" : bound.getAddress().getHostAddress();
        if (host.contains(":")) {
            host = "[" + host + "]";
        }
        baseUrl = URI.create((config.tls() ? "https" : "http") + "://" + host + ":" + bound.getPort());
    }

    /** e.g. {@code http://127.0.0.1:PORT}; the URLs handed out are {@code <base>/exec/<token>} and so on. */
    public synchronized URI baseUrl() {
        if (baseUrl == null) {
            throw new IllegalStateException("the streaming server is not started");
        }
        return baseUrl;
    }

    /** Upgraded connections open now (exec, attach, port-forward sessions). */
    public int activeSessions() {
        return sessions.get();
    }

    @Override
    public synchronized void close() {
        if (group == null) {
            return;
        }
        serverChannel.close().syncUninterruptibly();
        // Closing the loops closes every session, which aborts their commands and forwards.
        group.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
        group = null;
    }

    /** The idle timeout: no traffic either way for that long ends the connection. */
    private static final class IdleCloser extends ChannelDuplexHandler {
        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
            if (evt instanceof IdleStateEvent) {
                LOG.info("closing an idle streaming connection", "remote", String.valueOf(ctx.channel().remoteAddress()));
                ctx.close();
                return;
            }
            super.userEventTriggered(ctx, evt);
        }
    }
}
