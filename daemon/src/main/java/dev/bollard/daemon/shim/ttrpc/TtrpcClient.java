package dev.bollard.daemon.shim.ttrpc;

import com.google.protobuf.ByteString;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.MessageLite;
import com.google.protobuf.Parser;
import dev.bollard.api.ttrpc.KeyValue;
import dev.bollard.api.ttrpc.Request;
import dev.bollard.api.ttrpc.Response;
import dev.bollard.daemon.log.Log;
import io.grpc.Status.Code;
import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.unix.DomainSocketAddress;
import io.netty.util.ReferenceCountUtil;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * A ttrpc client on one UNIX socket connection, e.g. to a containerd shim v2. Thread-safe: any number of calls may be
 * in flight at once on the one connection, each on its own stream.
 *
 * <p>Stream ids are odd, start at 1 and grow by 2. They are allocated and written on the connection's event loop,
 * so they reach the server strictly increasing, as it requires. Calls are unary: one Request frame (flags 0), one
 * Response frame back. Each call's future completes on a virtual thread, never on the I/O thread, so dependent
 * stages may block.
 *
 * <p>Failures are {@link TtrpcException}s (the future completes exceptionally with one; {@link #invoke} throws it):
 * the server's non-OK status as sent; DEADLINE_EXCEEDED after the per-call timeout (also sent to the server as
 * {@code timeout_nano}); UNAVAILABLE when the connection is lost or {@link #close() closed} with the call pending.
 *
 * <p>TODO(streaming): streaming calls (Request with the remote-open / remote-closed flags, Data frames) are not
 * supported; shim v2's Task API is all unary. A Data frame received on a stream fails that call with INTERNAL.
 */
public final class TtrpcClient implements AutoCloseable {

    private static final Log LOG = Log.get("ttrpc");
    private static final long MAX_STREAM_ID = 0xFFFF_FFFFL;

    private final Path socket;
    private final Channel channel;
    private final EventLoopGroup ownedGroup;
    private final Connection connection;
    private final CompletableFuture<Void> closeFuture = new CompletableFuture<>();
    /** Completes the callers' futures off the event loop. */
    private final Executor completions = task -> Thread.ofVirtual().name("ttrpc-client-completion").start(task);

    private TtrpcClient(Path socket, Channel channel, EventLoopGroup ownedGroup, Connection connection) {
        this.socket = socket;
        this.channel = channel;
        this.ownedGroup = ownedGroup;
        this.connection = connection;
    }

    /** Connects with an event loop of its own (one thread), shut down by {@link #close()}. */
    public static TtrpcClient connect(Path socket, Duration connectTimeout) throws IOException {
        requireEpoll();
        var group = new EpollEventLoopGroup(1);
        try {
            return connect(socket, group, group, connectTimeout);
        } catch (IOException | RuntimeException e) {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
            throw e;
        }
    }

    /**
     * Connects on a shared event loop group (e.g. one for all shims), which {@link #close()} leaves running. It must
     * be an epoll group ({@code EpollEventLoopGroup}).
     */
    public static TtrpcClient connect(Path socket, EventLoopGroup group, Duration connectTimeout) throws IOException {
        requireEpoll();
        return connect(socket, group, null, connectTimeout);
    }

    private static TtrpcClient connect(Path socket, EventLoopGroup group, EventLoopGroup owned, Duration connectTimeout)
            throws IOException {
        var connection = new Connection(socket);
        var bootstrap = new Bootstrap()
                .group(group)
                .channel(EpollDomainSocketChannel.class)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) Math.min(Integer.MAX_VALUE, connectTimeout.toMillis()))
                .handler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ch.pipeline().addLast("frame-decoder", new TtrpcFrameDecoder());
                        ch.pipeline().addLast("frame-encoder", TtrpcFrameEncoder.INSTANCE);
                        ch.pipeline().addLast("client", connection);
                    }
                });
        ChannelFuture connected = bootstrap.connect(new DomainSocketAddress(socket.toString()));
        connected.awaitUninterruptibly();
        if (!connected.isSuccess()) {
            connected.channel().close();
            Throwable cause = connected.cause();
            throw new IOException("cannot connect to ttrpc socket " + socket + ": " + cause.getMessage(), cause);
        }
        var client = new TtrpcClient(socket, connected.channel(), owned, connection);
        connected.channel().closeFuture().addListener(
                f -> client.completions.execute(() -> client.closeFuture.complete(null)));
        return client;
    }

    /**
     * The socket path of a shim address as shims print it ({@code unix:///run/containerd/s/<sha256>}), or of a bare
     * path. Other schemes (vsock and the like, used by VM shims) are refused: this client speaks UNIX sockets only.
     */
    public static Path socketPath(String address) {
        String path = address;
        int scheme = address.indexOf("://");
        if (scheme >= 0) {
            if (!address.startsWith("unix://")) {
                throw new IllegalArgumentException("unsupported ttrpc address " + address + ": only unix:// is supported");
            }
            path = address.substring("unix://".length());
        }
        if (path.isEmpty() || path.startsWith("@") || path.indexOf('\0') >= 0) {
            throw new IllegalArgumentException("unsupported ttrpc address " + address
                    + ": a socket file path is needed (abstract sockets are not supported)");
        }
        return Path.of(path);
    }

    private static void requireEpoll() throws IOException {
        if (!Epoll.isAvailable()) {
            throw new IOException("Netty epoll transport unavailable: " + Epoll.unavailabilityCause());
        }
    }

    public Path socket() {
        return socket;
    }

    /** Whether the connection is still up (a shim that exits closes it). */
    public boolean isOpen() {
        return channel.isActive();
    }

    /** Completes (on a virtual thread) once the connection is gone, whoever closed it: how a shim's exit shows. */
    public CompletableFuture<Void> closeFuture() {
        return closeFuture.copy();
    }

    /**
     * Sends {@code service/method} with an already marshalled request; completes with the marshalled response.
     *
     * @param timeout {@code null} or zero for none; otherwise the call fails with DEADLINE_EXCEEDED when it passes,
     *                and the server is told the same through {@code timeout_nano}
     */
    public CompletableFuture<byte[]> call(String service, String method, byte[] payload, Duration timeout) {
        return call(service, method, payload, timeout, List.of());
    }

    /** As {@link #call(String, String, byte[], Duration)}, with request metadata (repeatable keys). */
    public CompletableFuture<byte[]> call(String service, String method, byte[] payload, Duration timeout,
                                          List<KeyValue> metadata) {
        var sent = send(service, method, ByteString.copyFrom(payload), timeout, metadata);
        return cancelsUpstream(sent.thenApply(ByteString::toByteArray), sent);
    }

    /** Typed unary call: marshals {@code request} and parses the response with {@code parser}. */
    public <T> CompletableFuture<T> call(String service, String method, MessageLite request, Parser<T> parser,
                                         Duration timeout) {
        return call(service, method, request, parser, timeout, List.of());
    }

    public <T> CompletableFuture<T> call(String service, String method, MessageLite request, Parser<T> parser,
                                         Duration timeout, List<KeyValue> metadata) {
        var sent = send(service, method, request.toByteString(), timeout, metadata);
        return cancelsUpstream(sent.thenCompose(bytes -> {
            try {
                return CompletableFuture.completedFuture(parser.parseFrom(bytes));
            } catch (InvalidProtocolBufferException e) {
                return CompletableFuture.failedFuture(new TtrpcException(Code.INTERNAL,
                        "cannot parse the response of " + service + "/" + method + ": " + e.getMessage(), e));
            }
        }), sent);
    }

    /** Cancelling what the caller holds abandons the call itself (CompletableFuture does not do that upstream). */
    private static <T> CompletableFuture<T> cancelsUpstream(CompletableFuture<T> derived, CompletableFuture<?> source) {
        derived.whenComplete((v, e) -> {
            if (derived.isCancelled()) {
                source.cancel(false);
            }
        });
        return derived;
    }

    /**
     * Blocking typed call, for code on virtual threads. An interrupt abandons the call (a late response is dropped)
     * and is rethrown.
     */
    public <T> T invoke(String service, String method, MessageLite request, Parser<T> parser, Duration timeout)
            throws TtrpcException, InterruptedException {
        return invoke(service, method, request, parser, timeout, List.of());
    }

    /** As {@link #invoke(String, String, MessageLite, Parser, Duration)}, with request metadata (repeatable keys). */
    public <T> T invoke(String service, String method, MessageLite request, Parser<T> parser, Duration timeout,
                        List<KeyValue> metadata) throws TtrpcException, InterruptedException {
        var future = call(service, method, request, parser, timeout, metadata);
        try {
            return future.get();
        } catch (InterruptedException e) {
            future.cancel(false);
            throw e;
        } catch (ExecutionException e) {
            if (e.getCause() instanceof TtrpcException te) {
                throw te;
            }
            throw new TtrpcException(Code.INTERNAL, String.valueOf(e.getCause()), e.getCause());
        }
    }

    private CompletableFuture<ByteString> send(String service, String method, ByteString payload, Duration timeout,
                                               List<KeyValue> metadata) {
        var result = new CompletableFuture<ByteString>();
        long timeoutNanos = timeout == null ? 0 : timeout.toNanos();
        if (timeoutNanos < 0) {
            return CompletableFuture.failedFuture(new IllegalArgumentException("negative timeout " + timeout));
        }
        byte[] request = Request.newBuilder()
                .setService(service)
                .setMethod(method)
                .setPayload(payload)
                .setTimeoutNano(timeoutNanos)
                .addAllMetadata(metadata)
                .build()
                .toByteArray();
        if (request.length > TtrpcFrame.MAX_DATA_LENGTH) {
            return CompletableFuture.failedFuture(new TtrpcException(Code.RESOURCE_EXHAUSTED,
                    "message length " + request.length + " exceed maximum message size of " + TtrpcFrame.MAX_DATA_LENGTH));
        }
        var call = new PendingCall(service + "/" + method, request, timeoutNanos, result);
        try {
            channel.eventLoop().execute(() -> connection.start(call));
        } catch (RejectedExecutionException e) {
            return CompletableFuture.failedFuture(new TtrpcException(Code.UNAVAILABLE,
                    "ttrpc client for " + socket + " is closed", e));
        }
        // Hand results over on a virtual thread so that callers' dependent stages never run on the event loop.
        var handedOver = new CompletableFuture<ByteString>();
        result.whenComplete((value, error) -> completions.execute(() -> {
            if (error != null) {
                handedOver.completeExceptionally(error);
            } else {
                handedOver.complete(value);
            }
        }));
        handedOver.whenComplete((value, error) -> {
            if (error instanceof CancellationException) {
                result.cancel(false);
            }
        });
        return handedOver;
    }

    /** Calls awaiting their response (for tests and diagnostics); 0 once the event loop is gone. */
    int pendingCalls() {
        try {
            return channel.eventLoop().submit(() -> connection.pending.size()).get();
        } catch (RejectedExecutionException | ExecutionException e) {
            return 0;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return -1;
        }
    }

    /** Closes the connection; calls still pending fail with UNAVAILABLE. Idempotent. */
    @Override
    public void close() {
        connection.closedLocally = true;
        channel.close().awaitUninterruptibly();
        if (ownedGroup != null) {
            ownedGroup.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
        }
    }

    @Override
    public String toString() {
        return "TtrpcClient[" + socket + (isOpen() ? "" : ", closed") + "]";
    }

    private static final class PendingCall {
        final String fullMethod;
        final byte[] request;
        final long timeoutNanos;
        final CompletableFuture<ByteString> future;
        int streamId;
        ScheduledFuture<?> timer;

        PendingCall(String fullMethod, byte[] request, long timeoutNanos, CompletableFuture<ByteString> future) {
            this.fullMethod = fullMethod;
            this.request = request;
            this.timeoutNanos = timeoutNanos;
            this.future = future;
        }
    }

    /** The last handler of the pipeline; all its state is touched on the channel's event loop only. */
    private static final class Connection extends ChannelInboundHandlerAdapter {
        private final Path socket;
        private final Map<Integer, PendingCall> pending = new HashMap<>();
        private long nextStreamId = 1;
        private Throwable failure;
        private TtrpcException closed;
        private Channel channel;
        volatile boolean closedLocally;

        Connection(Path socket) {
            this.socket = socket;
        }

        @Override
        public void handlerAdded(ChannelHandlerContext ctx) {
            channel = ctx.channel();
        }

        /** On the event loop: allocate the stream id, arm the timer, write the Request frame. */
        void start(PendingCall call) {
            if (call.future.isDone()) {
                return; // cancelled before it left
            }
            if (closed != null || channel == null || !channel.isActive()) {
                call.future.completeExceptionally(closed != null ? closed : connectionLost());
                return;
            }
            if (nextStreamId > MAX_STREAM_ID) {
                call.future.completeExceptionally(new TtrpcException(Code.RESOURCE_EXHAUSTED,
                        "ttrpc stream ids exhausted on " + socket + "; reconnect"));
                return;
            }
            int id = (int) nextStreamId;
            nextStreamId += 2;
            call.streamId = id;
            pending.put(id, call);
            EventLoop loop = channel.eventLoop();
            if (call.timeoutNanos > 0) {
                call.timer = loop.schedule(() -> fail(id, new TtrpcException(Code.DEADLINE_EXCEEDED,
                        "ttrpc call " + call.fullMethod + " on " + socket + " timed out after "
                                + Duration.ofNanos(call.timeoutNanos))), call.timeoutNanos, TimeUnit.NANOSECONDS);
            }
            call.future.whenComplete((v, e) -> {
                if (call.future.isCancelled()) {
                    loop.execute(() -> remove(id));
                }
            });
            channel.writeAndFlush(new TtrpcFrame(id, TtrpcFrame.TYPE_REQUEST, 0, Unpooled.wrappedBuffer(call.request)))
                    .addListener(f -> {
                        if (!f.isSuccess()) {
                            fail(id, new TtrpcException(Code.UNAVAILABLE, "ttrpc call " + call.fullMethod
                                    + ": cannot send to " + socket + ": " + f.cause().getMessage(), f.cause()));
                        }
                    });
        }

        private PendingCall remove(int id) {
            PendingCall call = pending.remove(id);
            if (call != null && call.timer != null) {
                call.timer.cancel(false);
            }
            return call;
        }

        private void fail(int id, TtrpcException error) {
            PendingCall call = remove(id);
            if (call != null) {
                call.future.completeExceptionally(error);
            }
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            try {
                if (msg instanceof TtrpcFrame frame) {
                    onFrame(frame);
                } else if (msg instanceof TtrpcOversizedFrame oversized) {
                    LOG.warn("oversized ttrpc frame discarded", "socket", socket,
                            "stream", Integer.toUnsignedString(oversized.streamId()), "length", oversized.length());
                    fail(oversized.streamId(), new TtrpcException(Code.RESOURCE_EXHAUSTED, oversized.message()));
                }
            } finally {
                ReferenceCountUtil.release(msg);
            }
        }

        private void onFrame(TtrpcFrame frame) {
            switch (frame.type()) {
                case TtrpcFrame.TYPE_RESPONSE -> {
                    PendingCall call = remove(frame.streamId());
                    if (call == null) {
                        // Timed out or cancelled already: the late answer is dropped.
                        LOG.debug("ttrpc response for no pending call", "socket", socket,
                                "stream", Integer.toUnsignedString(frame.streamId()));
                        return;
                    }
                    Response response;
                    try {
                        response = Response.parseFrom(frame.payload().nioBuffer());
                    } catch (InvalidProtocolBufferException e) {
                        call.future.completeExceptionally(new TtrpcException(Code.INTERNAL,
                                "ttrpc call " + call.fullMethod + ": malformed response: " + e.getMessage(), e));
                        return;
                    }
                    // A missing status reads as code 0: OK, as in the reference client.
                    if (response.getStatus().getCode() != Code.OK.value()) {
                        call.future.completeExceptionally(new TtrpcException(response.getStatus()));
                    } else {
                        call.future.complete(response.getPayload());
                    }
                }
                case TtrpcFrame.TYPE_DATA -> fail(frame.streamId(), new TtrpcException(Code.INTERNAL,
                        "ttrpc: unexpected data frame on unary stream " + Integer.toUnsignedString(frame.streamId())));
                default -> LOG.debug("ttrpc client ignores frame", "socket", socket, "frame", frame);
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            if (failure == null) {
                failure = cause;
            }
            LOG.warn("ttrpc connection failed", "socket", socket, "error", String.valueOf(cause.getMessage()));
            ctx.close();
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) throws Exception {
            closed = connectionLost();
            for (int id : new ArrayList<>(pending.keySet())) {
                fail(id, connectionLost());
            }
            super.channelInactive(ctx);
        }

        private TtrpcException connectionLost() {
            String why = closedLocally ? "closed by this client"
                    : "lost" + (failure != null ? ": " + failure.getMessage() : " (closed by the peer)");
            return new TtrpcException(Code.UNAVAILABLE, "ttrpc connection to " + socket + " " + why, failure);
        }
    }
}
