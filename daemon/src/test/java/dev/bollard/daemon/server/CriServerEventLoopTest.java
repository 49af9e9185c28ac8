package dev.bollard.daemon.server;

import dev.bollard.api.cri.v1.ListPodSandboxRequest;
import dev.bollard.api.cri.v1.ListPodSandboxResponse;
import dev.bollard.api.cri.v1.PodSandbox;
import dev.bollard.api.cri.v1.RuntimeServiceGrpc;
import dev.bollard.api.cri.v1.VersionRequest;
import dev.bollard.api.cri.v1.VersionResponse;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.StreamObserver;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.unix.DomainSocketAddress;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Calls the daemon names run on the connection's event loop; every other call on a virtual thread. */
class CriServerEventLoopTest {

    @TempDir
    Path dir;

    private CriServer server;
    private EpollEventLoopGroup group;
    private ManagedChannel channel;

    @AfterEach
    void close() {
        if (channel != null) {
            channel.shutdownNow();
        }
        if (group != null) {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
        }
        if (server != null) {
            server.close();
        }
    }

    @Test
    void aNamedCallRunsOnTheEventLoopOnlyWhileAllowed() throws Exception {
        var listThread = new AtomicReference<Thread>();
        var versionThread = new AtomicReference<Thread>();
        var service = new RuntimeServiceGrpc.RuntimeServiceImplBase() {
            @Override
            public void version(VersionRequest request, StreamObserver<VersionResponse> observer) {
                versionThread.set(Thread.currentThread());
                observer.onNext(VersionResponse.newBuilder().setRuntimeName("test").build());
                observer.onCompleted();
            }

            @Override
            public void listPodSandbox(ListPodSandboxRequest request, StreamObserver<ListPodSandboxResponse> observer) {
                listThread.set(Thread.currentThread());
                observer.onNext(ListPodSandboxResponse.newBuilder().addItems(PodSandbox.newBuilder().setId("p")).build());
                observer.onCompleted();
            }
        };
        var allowed = new AtomicBoolean(false);
        Path socket = dir.resolve("cri.sock");
        server = CriServer.start(socket, List.of(service), List.of(),
                method -> allowed.get() && method.equals("runtime.v1.RuntimeService/ListPodSandbox"));
        group = new EpollEventLoopGroup(1);
        channel = NettyChannelBuilder.forAddress(new DomainSocketAddress(socket.toString()))
                .channelType(EpollDomainSocketChannel.class).eventLoopGroup(group).usePlaintext().build();
        var stub = RuntimeServiceGrpc.newBlockingStub(channel);

        assertEquals("p", stub.listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItems(0).getId());
        assertTrue(listThread.get().isVirtual(), "not allowed yet (recovery running): a virtual thread");

        allowed.set(true);
        assertEquals("p", stub.listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItems(0).getId());
        assertFalse(listThread.get().isVirtual(), "allowed: the event loop");
        assertTrue(listThread.get() instanceof io.netty.util.concurrent.FastThreadLocalThread,
                "a Netty event loop thread, not " + listThread.get());

        assertEquals("test", stub.version(VersionRequest.getDefaultInstance()).getRuntimeName());
        assertTrue(versionThread.get().isVirtual(), "a call not named: a virtual thread");
    }
}
