package dev.bollard.cli;

import dev.bollard.api.cri.v1.ImageServiceGrpc;
import dev.bollard.api.cri.v1.RuntimeServiceGrpc;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.unix.DomainSocketAddress;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

/** A CRI client on a UNIX socket, as kubelet and crictl connect: plaintext gRPC over the socket. */
public final class CriClient implements AutoCloseable {

    static final int DEFAULT_TIMEOUT_SECONDS = 10;

    private final String endpoint;
    private final ManagedChannel channel;
    private final EpollEventLoopGroup group;
    private final int timeoutSeconds;

    public CriClient(String endpoint, int timeoutSeconds) {
        this.endpoint = endpoint;
        this.timeoutSeconds = timeoutSeconds;
        Path socket = socketPath(endpoint);
        if (!Files.exists(socket)) {
            throw new CliException("cannot reach the runtime at " + endpoint + ": " + socket
                    + " does not exist (is `bollard daemon` running?)");
        }
        dev.bollard.daemon.log.Log.quietNettyBootstrap();
        this.group = new EpollEventLoopGroup(1);
        this.channel = NettyChannelBuilder.forAddress(new DomainSocketAddress(socket.toString()))
                .channelType(EpollDomainSocketChannel.class)
                .eventLoopGroup(group)
                .usePlaintext()
                .maxInboundMessageSize(16 * 1024 * 1024)
                .build();
    }

    /** Accepts {@code unix:///path}, {@code unix:/path} and a bare path. */
    static Path socketPath(String endpoint) {
        String p = endpoint;
        if (p.startsWith("unix://")) {
            p = p.substring("unix://".length());
        } else if (p.startsWith("unix:")) {
            p = p.substring("unix:".length());
        } else if (p.contains("://")) {
            throw new CliException("unsupported endpoint " + endpoint + ": only unix:// sockets are supported");
        }
        if (p.isEmpty()) {
            throw new CliException("endpoint " + endpoint + " names no socket path");
        }
        return Path.of(p);
    }

    public <T> T runtime(Function<RuntimeServiceGrpc.RuntimeServiceBlockingStub, T> call) {
        return call(() -> call.apply(RuntimeServiceGrpc.newBlockingStub(channel)
                .withDeadlineAfter(timeoutSeconds, TimeUnit.SECONDS)));
    }

    /**
     * For calls whose duration is the work itself (creating a pod or a container, starting it): no deadline
     * unless the caller raised the timeout.
     */
    public <T> T runtimeLong(Function<RuntimeServiceGrpc.RuntimeServiceBlockingStub, T> call) {
        var stub = RuntimeServiceGrpc.newBlockingStub(channel);
        return call(() -> call.apply(timeoutSeconds > DEFAULT_TIMEOUT_SECONDS
                ? stub.withDeadlineAfter(timeoutSeconds, TimeUnit.SECONDS) : stub));
    }

    /**
     * For calls that may take a known time on the runtime's side (a stop's grace period, an exec's timeout):
     * the client's timeout on top of it; no deadline at all when {@code workSeconds} is 0 (no limit).
     */
    public <T> T runtimeFor(long workSeconds, Function<RuntimeServiceGrpc.RuntimeServiceBlockingStub, T> call) {
        var stub = RuntimeServiceGrpc.newBlockingStub(channel);
        return call(() -> call.apply(workSeconds > 0
                ? stub.withDeadlineAfter(timeoutSeconds + workSeconds, TimeUnit.SECONDS) : stub));
    }

    /** For calls that last as long as the caller reads (GetContainerEvents): never a deadline. */
    public <T> T runtimeUnbounded(Function<RuntimeServiceGrpc.RuntimeServiceBlockingStub, T> call) {
        return call(() -> call.apply(RuntimeServiceGrpc.newBlockingStub(channel)));
    }

    public <T> T image(Function<ImageServiceGrpc.ImageServiceBlockingStub, T> call) {
        return call(() -> call.apply(ImageServiceGrpc.newBlockingStub(channel)
                .withDeadlineAfter(timeoutSeconds, TimeUnit.SECONDS)));
    }

    /** For calls whose duration is the work itself (pulls): no deadline unless the caller raised the timeout. */
    public <T> T imageLong(Function<ImageServiceGrpc.ImageServiceBlockingStub, T> call) {
        var stub = ImageServiceGrpc.newBlockingStub(channel);
        return call(() -> call.apply(timeoutSeconds > DEFAULT_TIMEOUT_SECONDS
                ? stub.withDeadlineAfter(timeoutSeconds, TimeUnit.SECONDS) : stub));
    }

    /** Bollard's own admin services (image import/export), on the same socket. */
    public <T> T images(Function<dev.bollard.api.admin.v1.ImagesGrpc.ImagesBlockingStub, T> call) {
        var stub = dev.bollard.api.admin.v1.ImagesGrpc.newBlockingStub(channel);
        return call(() -> call.apply(timeoutSeconds > DEFAULT_TIMEOUT_SECONDS
                ? stub.withDeadlineAfter(timeoutSeconds, TimeUnit.SECONDS) : stub));
    }

    private <T> T call(java.util.function.Supplier<T> body) {
        try {
            return body.get();
        } catch (StatusRuntimeException e) {
            var status = e.getStatus();
            String detail = status.getDescription() != null ? status.getDescription()
                    : status.getCause() != null ? String.valueOf(status.getCause().getMessage()) : "";
            throw new CliException(endpoint + ": " + status.getCode() + (detail.isEmpty() ? "" : ": " + detail));
        }
    }

    @Override
    public void close() {
        channel.shutdownNow();
        try {
            channel.awaitTermination(2, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
    }
}
