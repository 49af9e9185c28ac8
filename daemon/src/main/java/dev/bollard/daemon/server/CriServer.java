package dev.bollard.daemon.server;

import dev.bollard.daemon.cri.CallLogInterceptor;
import dev.bollard.daemon.linux.UnixSockets;
import io.grpc.BindableService;
import io.grpc.Server;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.netty.NettyServerBuilder;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.netty.channel.unix.DomainSocketAddress;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * The CRI gRPC server on a UNIX socket. The socket is bound under a temporary name, given mode 0660 and then
 * renamed into place, so that the path appears only once the server answers, and never with a looser mode.
 */
public final class CriServer implements AutoCloseable {

    /** containerd and CRI-O accept CRI messages up to 16 MiB (ListContainers on a busy node gets large). */
    private static final int MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

    private final Path socket;
    private final Server server;
    private final EpollEventLoopGroup boss;
    private final EpollEventLoopGroup workers;
    private final ExecutorService executor;

    private CriServer(Path socket, Server server, EpollEventLoopGroup boss, EpollEventLoopGroup workers,
                      ExecutorService executor) {
        this.socket = socket;
        this.server = server;
        this.boss = boss;
        this.workers = workers;
        this.executor = executor;
    }

    /** Binds and starts; on failure nothing is left behind (no socket file, no threads). */
    public static CriServer start(Path socket, List<BindableService> services) throws IOException {
        return start(socket, services, List.of());
    }

    /** @param interceptors run inside the call log (so they see every call), e.g. the operator metrics' timer */
    public static CriServer start(Path socket, List<BindableService> services, List<ServerInterceptor> interceptors)
            throws IOException {
        return start(socket, services, interceptors, method -> false);
    }

    /**
     * @param onEventLoop asked as each call starts, with its full method name: whether the rest of the call (the
     *                    handler and the reply) runs on the connection's event loop instead of hopping to a virtual
     *                    thread. Only for calls that never block (answers from memory); the call's start (method
     *                    lookup, interceptors) still runs on a virtual thread.
     */
    public static CriServer start(Path socket, List<BindableService> services, List<ServerInterceptor> interceptors,
                                  java.util.function.Predicate<String> onEventLoop) throws IOException {
        if (!Epoll.isAvailable()) {
            throw new IOException("Netty epoll transport unavailable: " + Epoll.unavailabilityCause());
        }
        Path tmp = socket.resolveSibling(".bollard-" + ProcessHandle.current().pid() + ".sock");
        Path bindPath = UnixSockets.pathBytes(tmp) <= UnixSockets.MAX_PATH_BYTES ? tmp : socket;
        var boss = new EpollEventLoopGroup(1);
        var workers = new EpollEventLoopGroup(Math.max(2, Runtime.getRuntime().availableProcessors()));
        // Handlers block (files, processes, shims): each call runs on its own virtual thread.
        ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor();
        var interceptor = new CallLogInterceptor();
        var builder = NettyServerBuilder.forAddress(new DomainSocketAddress(bindPath.toString()))
                .channelType(EpollServerDomainSocketChannel.class)
                .bossEventLoopGroup(boss)
                .workerEventLoopGroup(workers)
                .executor(executor)
                .callExecutor(onEventLoop(onEventLoop))
                .maxInboundMessageSize(MAX_MESSAGE_BYTES);
        for (var service : services) {
            var all = new java.util.ArrayList<ServerInterceptor>(interceptors);
            all.add(interceptor); // the last one given runs first: the log sees the whole call
            builder.addService(ServerInterceptors.intercept(service, all));
        }
        Server server = builder.build();
        try {
            server.start();
            Files.setPosixFilePermissions(bindPath, PosixFilePermissions.fromString("rw-rw----"));
            if (!bindPath.equals(socket)) {
                Files.move(bindPath, socket, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (IOException | RuntimeException e) {
            server.shutdownNow();
            shutdownGroups(boss, workers, executor);
            Files.deleteIfExists(bindPath);
            throw e instanceof IOException io ? io : new IOException(e.getMessage(), e);
        }
        return new CriServer(socket, server, boss, workers, executor);
    }

    /**
     * The calls' executor: the calling thread (the event loop that delivers the call's messages) for a method
     * {@code onEventLoop} names, else null (the default: a virtual thread). gRPC switches executors after the call's
     * start, so a request whose message was already queued behind it still runs on the virtual thread.
     */
    static io.grpc.ServerCallExecutorSupplier onEventLoop(java.util.function.Predicate<String> onEventLoop) {
        return new io.grpc.ServerCallExecutorSupplier() {
            @Override
            public <Q, A> java.util.concurrent.Executor getExecutor(io.grpc.ServerCall<Q, A> call,
                                                                    io.grpc.Metadata headers) {
                return onEventLoop.test(call.getMethodDescriptor().getFullMethodName()) ? Runnable::run : null;
            }
        };
    }

    public Path socket() {
        return socket;
    }

    public void awaitTermination() throws InterruptedException {
        server.awaitTermination();
    }

    /** Stops accepting, lets calls in flight finish for a moment, then removes the socket. */
    @Override
    public void close() {
        server.shutdown();
        try {
            if (!server.awaitTermination(5, TimeUnit.SECONDS)) {
                server.shutdownNow();
                server.awaitTermination(2, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            server.shutdownNow();
            Thread.currentThread().interrupt();
        }
        shutdownGroups(boss, workers, executor);
        try {
            Files.deleteIfExists(socket);
        } catch (IOException ignored) {
            // The daemon is going away; a socket that cannot be removed is replaced as stale at the next start.
        }
    }

    private static void shutdownGroups(EpollEventLoopGroup boss, EpollEventLoopGroup workers, ExecutorService executor) {
        boss.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
        workers.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
        executor.shutdownNow();
    }
}
