package dev.bollard.cli;

import dev.bollard.api.cri.v1.ContainerEventResponse;
import dev.bollard.api.cri.v1.ContainerEventType;
import dev.bollard.api.cri.v1.CreateContainerRequest;
import dev.bollard.api.cri.v1.GetEventsRequest;
import dev.bollard.api.cri.v1.ListContainersRequest;
import dev.bollard.api.cri.v1.PodSandboxConfig;
import dev.bollard.api.cri.v1.RemoveContainerRequest;
import dev.bollard.api.cri.v1.RuntimeServiceGrpc;
import dev.bollard.api.cri.v1.VersionRequest;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import io.grpc.stub.StreamObserver;
import io.grpc.netty.NettyChannelBuilder;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.unix.DomainSocketAddress;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A GetContainerEvents subscriber whose gRPC client never asks for messages (manual flow control, a small HTTP/2
 * window) over the real socket: the daemon drops it with RESOURCE_EXHAUSTED saying why, stays healthy, and a
 * subscriber that reads keeps receiving every event.
 */
class ContainerEventsDropIntegrationTest extends PodNodeTest {

    private final EpollEventLoopGroup group = new EpollEventLoopGroup(2);
    private final List<ManagedChannel> channels = new ArrayList<>();

    @AfterAll
    void closeChannels() throws Exception {
        for (var c : channels) {
            c.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
    }

    private ManagedChannel channel(int flowControlWindow) {
        var ch = NettyChannelBuilder.forAddress(new DomainSocketAddress(node.daemon.socket.toString()))
                .channelType(EpollDomainSocketChannel.class).eventLoopGroup(group).usePlaintext()
                .flowControlWindow(flowControlWindow).maxInboundMessageSize(64 << 20).build();
        channels.add(ch);
        return ch;
    }

    /** Asks for one event (to know it is subscribed), then for nothing until told to. */
    private static final class NeverReads implements ClientResponseObserver<GetEventsRequest, ContainerEventResponse> {
        volatile ClientCallStreamObserver<GetEventsRequest> call;
        final List<ContainerEventResponse> events = new CopyOnWriteArrayList<>();
        final CompletableFuture<ContainerEventResponse> first = new CompletableFuture<>();
        final CompletableFuture<Throwable> ended = new CompletableFuture<>();

        @Override
        public void beforeStart(ClientCallStreamObserver<GetEventsRequest> requestStream) {
            call = requestStream;
            requestStream.disableAutoRequestWithInitial(1);
        }

        @Override
        public void onNext(ContainerEventResponse e) {
            events.add(e);
            first.complete(e);
        }

        @Override
        public void onError(Throwable t) {
            ended.complete(t);
        }

        @Override
        public void onCompleted() {
            ended.complete(null);
        }
    }

    @Test
    void aSubscriberThatNeverReadsIsDroppedWithResourceExhaustedAndTheOthersCarryOn() throws Exception {
        var podConfig = node.pod("drop").build();
        String pod = node.runPod(podConfig);
        var reader = new EventCollector();
        var stalled = new NeverReads();
        RuntimeServiceGrpc.newStub(channel(1 << 20)).getContainerEvents(GetEventsRequest.getDefaultInstance(), reader);
        // A 64 KiB window: the daemon's writes to this stream stop once that much waits unread.
        RuntimeServiceGrpc.newStub(channel(65_535)).getContainerEvents(GetEventsRequest.getDefaultInstance(), stalled);

        // Both are subscribed once a probe's events reach them.
        boolean subscribed = false;
        for (int i = 0; i < 10 && !subscribed; i++) {
            String probe = create(pod, podConfig, "probe-" + i, "");
            remove(probe);
            subscribed = awaitCount(reader, probe, 2) && stalled.first.isDone();
        }
        assertTrue(subscribed && stalled.first.isDone(), "both subscribers receive events");
        int logLinesBefore = drops();

        // Events of ~64 KiB each (the pod's container statuses carry a large annotation): far more than the
        // stalled stream's window and the server's send buffer.
        String big = "x".repeat(64 * 1024);
        var bulky = new ArrayList<String>();
        for (int i = 0; i < 8; i++) {
            bulky.add(create(pod, podConfig, "bulky-" + i, big));
        }
        for (String id : bulky) {
            remove(id);
        }

        // The daemon notices (10 s without the transport taking a message) and says so in its log.
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (drops() == logLinesBefore && System.nanoTime() < deadline) {
            Thread.sleep(250);
        }
        assertTrue(drops() > logLinesBefore, "the daemon dropped the stalled subscriber:\n" + node.daemon.logText());

        // Meanwhile and after: the daemon answers, and the reader got every event, in order, and stays subscribed.
        assertFalse(node.rt().version(VersionRequest.getDefaultInstance()).getRuntimeName().isEmpty());
        assertEquals(0, node.rt().listContainers(ListContainersRequest.getDefaultInstance()).getContainersList()
                .stream().filter(c -> c.getPodSandboxId().equals(pod)).count(), "every bulky container removed");
        String after = create(pod, podConfig, "after-drop", "");
        remove(after);
        for (String id : bulky) {
            assertTrue(awaitCount(reader, id, 2), "reader got both events of " + id);
            assertEquals(List.of(ContainerEventType.CONTAINER_CREATED_EVENT, ContainerEventType.CONTAINER_DELETED_EVENT),
                    reader.events.stream().filter(e -> e.getContainerId().equals(id))
                            .map(ContainerEventResponse::getContainerEventType).toList());
        }
        assertTrue(awaitCount(reader, after, 2), "events after the drop still reach the reader");
        assertFalse(reader.ended.isDone(), "the reader stays subscribed: " + reader.ended.getNow(null));

        // The stalled client, once it reads what was already in flight, finds its stream ended with the reason.
        stalled.call.request(Integer.MAX_VALUE);
        Throwable end = stalled.ended.get(30, TimeUnit.SECONDS);
        var status = Status.fromThrowable(end);
        assertEquals(Status.Code.RESOURCE_EXHAUSTED, status.getCode(), String.valueOf(end));
        assertTrue(status.getDescription().startsWith("container events subscriber dropped: ")
                && status.getDescription().contains("accepted no event for 10 s"), status.getDescription());
        assertTrue(stalled.events.stream().noneMatch(e -> e.getContainerId().equals(after)),
                "nothing published after the drop reached the dropped subscriber");
        assertTrue(stalled.events.size() < reader.events.size(), stalled.events.size() + " of " + reader.events.size());

        node.removePod(pod);
    }

    @Test
    void aShutdownEndsTheStreamsWithUnavailable() throws Exception {
        var podConfig = node.pod("shutdown").build();
        String pod = node.runPod(podConfig);
        var reader = new EventCollector();
        RuntimeServiceGrpc.newStub(channel(1 << 20)).getContainerEvents(GetEventsRequest.getDefaultInstance(), reader);
        boolean subscribed = false;
        for (int i = 0; i < 10 && !subscribed; i++) {
            String probe = create(pod, podConfig, "probe-" + i, "");
            remove(probe);
            subscribed = awaitCount(reader, probe, 2);
        }
        assertTrue(subscribed, "subscribed");

        // The daemon ends the stream itself (it never ends otherwise), so its graceful shutdown is not held up.
        node.stopDaemon();
        var status = Status.fromThrowable(reader.ended.get(30, TimeUnit.SECONDS));
        assertEquals(Status.Code.UNAVAILABLE, status.getCode(), status.toString());
        assertEquals("the runtime is shutting down", status.getDescription());

        node.startDaemon();
        node.removePod(pod);
    }

    private int drops() throws java.io.IOException {
        return node.daemon.logText().split("dropping a slow container events subscriber", -1).length - 1;
    }

    private static boolean awaitCount(EventCollector r, String id, int n) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
        while (r.count(id) < n && System.nanoTime() < deadline) {
            Thread.sleep(100);
        }
        return r.count(id) >= n;
    }

    private String create(String pod, PodSandboxConfig podConfig, String name, String annotation) {
        var config = PodTestNode.container(name, "sleep", "3600");
        if (!annotation.isEmpty()) {
            config.putAnnotations("bulk", annotation);
        }
        return node.rt().createContainer(CreateContainerRequest.newBuilder().setPodSandboxId(pod)
                .setConfig(config).setSandboxConfig(podConfig).build()).getContainerId();
    }

    private void remove(String id) {
        node.rt().removeContainer(RemoveContainerRequest.newBuilder().setContainerId(id).build());
    }
}
