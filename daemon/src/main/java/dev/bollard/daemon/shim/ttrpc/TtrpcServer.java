package dev.bollard.daemon.shim.ttrpc;

import com.google.protobuf.ByteString;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.rpc.Status;
import dev.bollard.api.ttrpc.Request;
import dev.bollard.api.ttrpc.Response;
import dev.bollard.daemon.linux.UnixSockets;
import dev.bollard.daemon.log.Log;
import io.grpc.Status.Code;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.channel.unix.DomainSocketAddress;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.GlobalEventExecutor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;

/**
 * A ttrpc server on a UNIX socket: dispatches each Request by service and method to a {@link TtrpcHandler}, each
 * call on a virtual thread of its own, and answers with one Response on the request's stream. Bollard serves
 * containerd's events API to shims with it ({@code containerd.services.events.ttrpc.v1.Events} / {@code Forward}).
 *
 * <p>Like the reference implementation it answers, on the offending stream, without closing the connection:
 * UNIMPLEMENTED "service X" / "method Y" for an unknown name; INVALID_ARGUMENT for an even stream id, a stream id
 * not above the previous one, or an unparsable Request; RESOURCE_EXHAUSTED for a frame over 4 MiB (its data is
 * skipped) or a response that would be over 4 MiB.
 *
 * <p>The socket is bound under a temporary name, given mode 0660 and renamed into place, so the path appears only
 * once the server answers (as {@code CriServer} does).
 *
 * <p>TODO(streaming): streaming methods (Data frames) are not served; a Data frame on a stream that is not active
 * answers INVALID_ARGUMENT as in the reference implementation, one on an active (unary) stream is ignored.
 */
public final class TtrpcServer implements AutoCloseable {

    private static final Log LOG = Log.get("ttrpc");
    private static final ScopedValue<TtrpcServerCall> CURRENT = ScopedValue.newInstance();

    private final Path socket;
    private final Map<String, Map<String, TtrpcHandler>> services;
    private final EpollEventLoopGroup group;
    private final ExecutorService executor;
    private final ChannelGroup channels = new DefaultChannelGroup("ttrpc", GlobalEventExecutor.INSTANCE);
    private volatile Channel serverChannel;

    private TtrpcServer(Path socket, Map<String, Map<String, TtrpcHandler>> services) {
        this.socket = socket;
        this.services = services;
        this.group = new EpollEventLoopGroup(1);
        this.executor = Executors.newThreadPerTaskExecutor(Thread.ofVirtual().name("ttrpc-call-", 0).factory());
    }

    /**
     * Binds and starts serving {@code services} (service name → method name → handler). On failure nothing is left
     * behind: no socket file, no threads.
     */
    public static TtrpcServer start(Path socket, Map<String, Map<String, TtrpcHandler>> services) throws IOException {
        if (!Epoll.isAvailable()) {
            throw new IOException("Netty epoll transport unavailable: " + Epoll.unavailabilityCause());
        }
        var copy = new LinkedHashMap<String, Map<String, TtrpcHandler>>();
        services.forEach((service, methods) -> copy.put(service, Map.copyOf(methods)));
        var server = new TtrpcServer(socket, Map.copyOf(copy));
        server.bind();
        return server;
    }

    private void bind() throws IOException {
        Path tmp = socket.resolveSibling(".ttrpc-" + ProcessHandle.current().pid() + "-"
                + Long.toHexString(System.nanoTime()) + ".sock");
        Path bindPath = UnixSockets.pathBytes(tmp) <= UnixSockets.MAX_PATH_BYTES ? tmp : socket;
        try {
            serverChannel = new ServerBootstrap()
                    .group(group)
                    .channel(EpollServerDomainSocketChannel.class)
                    .childHandler(new ChannelInitializer<Channel>() {
                        @Override
                        protected void initChannel(Channel ch) {
                            channels.add(ch);
                            ch.pipeline().addLast("frame-decoder", new TtrpcFrameDecoder());
                            ch.pipeline().addLast("frame-encoder", TtrpcFrameEncoder.INSTANCE);
                            ch.pipeline().addLast("server", new Connection());
                        }
                    })
                    .bind(new DomainSocketAddress(bindPath.toString()))
                    .sync()
                    .channel();
            Files.setPosixFilePermissions(bindPath, PosixFilePermissions.fromString("rw-rw----"));
            if (!bindPath.equals(socket)) {
                Files.move(bindPath, socket, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (Exception e) {
            stop();
            Files.deleteIfExists(bindPath);
            throw new IOException("cannot serve ttrpc on " + socket + ": " + e.getMessage(), e);
        }
    }

    public Path socket() {
        return socket;
    }

    /** Inside a handler: the call being served. Empty elsewhere. */
    public static Optional<TtrpcServerCall> currentCall() {
        return CURRENT.isBound() ? Optional.of(CURRENT.get()) : Optional.empty();
    }

    /**
     * Stops accepting, closes every connection (clients' pending calls fail), gives running handlers a moment and
     * then interrupts them, and removes the socket. Idempotent.
     */
    @Override
    public void close() {
        stop();
        try {
            Files.deleteIfExists(socket);
        } catch (IOException e) {
            LOG.warn("cannot remove ttrpc socket", "socket", socket, "error", e.getMessage());
        }
    }

    private void stop() {
        if (serverChannel != null) {
            serverChannel.close().awaitUninterruptibly();
        }
        channels.close().awaitUninterruptibly();
        // Handlers finish (or are interrupted) while the event loop still runs, so their late answers fail
        // quietly on the closed connections instead of racing a terminated loop.
        executor.shutdown();
        try {
            if (!executor.awaitTermination(1, TimeUnit.SECONDS)) {
                executor.shutdownNow();
                executor.awaitTermination(1, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            executor.shutdownNow();
            Thread.currentThread().interrupt();
        }
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }

    private static Status status(Code code, String message) {
        return Status.newBuilder().setCode(code.value()).setMessage(message).build();
    }

    /** Per-connection state; reads happen on the event loop, responses are written from handler threads. */
    private final class Connection extends ChannelInboundHandlerAdapter {
        /** Highest request stream id seen (unsigned); a new request must be above it. */
        private long lastStreamId;
        private final Set<Integer> active = ConcurrentHashMap.newKeySet();
        private Channel channel;

        @Override
        public void handlerAdded(ChannelHandlerContext ctx) {
            channel = ctx.channel();
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            try {
                if (msg instanceof TtrpcFrame frame) {
                    onFrame(frame);
                } else if (msg instanceof TtrpcOversizedFrame oversized) {
                    LOG.warn("oversized ttrpc frame discarded", "socket", socket,
                            "stream", Integer.toUnsignedString(oversized.streamId()), "length", oversized.length());
                    respond(oversized.streamId(), status(Code.RESOURCE_EXHAUSTED, oversized.message()), ByteString.EMPTY);
                }
            } finally {
                ReferenceCountUtil.release(msg);
            }
        }

        private void onFrame(TtrpcFrame frame) {
            int id = frame.streamId();
            if ((id & 1) != 1) {
                respond(id, status(Code.INVALID_ARGUMENT, "StreamID must be odd for client initiated streams"),
                        ByteString.EMPTY);
                return;
            }
            switch (frame.type()) {
                case TtrpcFrame.TYPE_REQUEST -> onRequest(id, frame);
                case TtrpcFrame.TYPE_DATA -> {
                    if (!active.contains(id)) {
                        respond(id, status(Code.INVALID_ARGUMENT, "StreamID is no longer active"), ByteString.EMPTY);
                    } else {
                        LOG.debug("ttrpc data frame on a unary stream ignored", "stream", Integer.toUnsignedString(id));
                    }
                }
                // Other types are ignored for forward compatibility, as the protocol asks.
                default -> LOG.debug("ttrpc server ignores frame", "frame", frame);
            }
        }

        private void onRequest(int id, TtrpcFrame frame) {
            long unsignedId = Integer.toUnsignedLong(id);
            if (unsignedId <= lastStreamId) {
                respond(id, status(Code.INVALID_ARGUMENT, "StreamID cannot be re-used and must increment"),
                        ByteString.EMPTY);
                return;
            }
            lastStreamId = unsignedId;
            Request request;
            try {
                request = Request.parseFrom(frame.payload().nioBuffer());
            } catch (InvalidProtocolBufferException e) {
                respond(id, status(Code.INVALID_ARGUMENT, "unmarshal request error: " + e.getMessage()), ByteString.EMPTY);
                return;
            }
            Map<String, TtrpcHandler> methods = services.get(request.getService());
            if (methods == null) {
                respond(id, status(Code.UNIMPLEMENTED, "service " + request.getService()), ByteString.EMPTY);
                return;
            }
            TtrpcHandler handler = methods.get(request.getMethod());
            if (handler == null) {
                respond(id, status(Code.UNIMPLEMENTED, "method " + request.getMethod()), ByteString.EMPTY);
                return;
            }
            var call = new TtrpcServerCall(request.getService(), request.getMethod(), id, request.getMetadataList(),
                    System.nanoTime(), Math.max(0, request.getTimeoutNano()));
            active.add(id);
            try {
                executor.execute(() -> serve(call, handler, request.getPayload().toByteArray()));
            } catch (RejectedExecutionException e) {
                respond(id, status(Code.UNAVAILABLE, "ttrpc server is shutting down"), ByteString.EMPTY);
            }
        }

        private void serve(TtrpcServerCall call, TtrpcHandler handler, byte[] payload) {
            // Whatever happens, the stream gets its one Response (an Error still propagates after it).
            Status status = status(Code.UNKNOWN, "ttrpc: handler failed");
            ByteString result = ByteString.EMPTY;
            try {
                byte[] response = ScopedValue.where(CURRENT, call).call(() -> handler.handle(payload));
                result = response == null ? ByteString.EMPTY : ByteString.copyFrom(response);
                status = status(Code.OK, "");
            } catch (TtrpcException e) {
                status = e.status();
            } catch (RuntimeException e) {
                LOG.error("ttrpc handler failed", e, "method", call.service() + "/" + call.method());
                status = status(Code.UNKNOWN, e.getMessage() != null ? e.getMessage() : e.toString());
            } finally {
                respond(call.streamId(), status, result);
            }
        }

        /** Writes the Response frame; safe from any thread. */
        private void respond(int id, Status status, ByteString payload) {
            byte[] response = Response.newBuilder().setStatus(status).setPayload(payload).build().toByteArray();
            if (response.length > TtrpcFrame.MAX_DATA_LENGTH) {
                response = Response.newBuilder()
                        .setStatus(status(Code.RESOURCE_EXHAUSTED, "message length " + response.length
                                + " exceed maximum message size of " + TtrpcFrame.MAX_DATA_LENGTH))
                        .build().toByteArray();
            }
            if (!channel.isActive()) {
                active.remove(id);
                LOG.debug("ttrpc response dropped: connection closed", "socket", socket,
                        "stream", Integer.toUnsignedString(id));
                return;
            }
            channel.writeAndFlush(new TtrpcFrame(id, TtrpcFrame.TYPE_RESPONSE, 0, Unpooled.wrappedBuffer(response)))
                    .addListener(f -> {
                        active.remove(id);
                        if (!f.isSuccess()) {
                            LOG.debug("ttrpc response not sent", "socket", socket, "stream", Integer.toUnsignedString(id),
                                    "error", String.valueOf(f.cause()));
                        }
                    });
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            LOG.warn("ttrpc server connection failed", "socket", socket,
                    "error", String.valueOf(cause.getMessage()));
            ctx.close();
        }
    }
}
