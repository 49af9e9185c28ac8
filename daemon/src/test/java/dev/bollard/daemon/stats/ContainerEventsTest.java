package dev.bollard.daemon.stats;

import dev.bollard.api.cri.v1.ContainerEventResponse;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The fan-out's rules with a stand-in for the gRPC call whose readiness the test controls. */
class ContainerEventsTest {

    static final class FakeCall extends ServerCallStreamObserver<ContainerEventResponse> {
        volatile boolean ready = true;
        final List<String> received = new CopyOnWriteArrayList<>();
        final CompletableFuture<Throwable> error = new CompletableFuture<>();

        @Override public boolean isCancelled() { return false; }
        @Override public void setOnCancelHandler(Runnable r) { }
        @Override public void setCompression(String c) { }
        @Override public boolean isReady() { return ready; }
        @Override public void setOnReadyHandler(Runnable r) { }
        @Override public void request(int n) { }
        @Override public void setMessageCompression(boolean e) { }
        @Override public void disableAutoInboundFlowControl() { }
        @Override public void onNext(ContainerEventResponse v) { received.add(v.getContainerId()); }
        @Override public void onError(Throwable t) { error.complete(t); }
        @Override public void onCompleted() { }
    }

    private static ContainerEventResponse event(String id) {
        return ContainerEventResponse.newBuilder().setContainerId(id).build();
    }

    @Test
    void everySubscriberGetsEveryEventInOrder() throws Exception {
        var events = new ContainerEvents(100, Duration.ofSeconds(10));
        var a = new FakeCall();
        var b = new FakeCall();
        events.subscribe(a);
        events.subscribe(b);
        for (int i = 0; i < 50; i++) {
            events.publish(event("c" + i));
        }
        var expected = java.util.stream.IntStream.range(0, 50).mapToObj(i -> "c" + i).toList();
        for (var call : List.of(a, b)) {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            while (call.received.size() < 50 && System.nanoTime() < deadline) {
                Thread.sleep(10);
            }
            assertEquals(expected, call.received);
        }
    }

    @Test
    void anOverflowingSubscriberIsDroppedAndTheOthersGoOn() throws Exception {
        var events = new ContainerEvents(10, Duration.ofMinutes(5));
        var slow = new FakeCall();
        slow.ready = false; // its transport never drains
        var fast = new FakeCall();
        events.subscribe(slow);
        events.subscribe(fast);
        for (int i = 0; i < 30; i++) {
            events.publish(event("c" + i)); // never blocks, whatever the slow one does
            Thread.sleep(5); // the fast one keeps up at this pace
        }
        var status = Status.fromThrowable(slow.error.get(5, TimeUnit.SECONDS));
        assertEquals(Status.Code.RESOURCE_EXHAUSTED, status.getCode());
        assertTrue(status.getDescription().contains("more than 10 container events waiting"), status.getDescription());
        assertTrue(slow.received.isEmpty());
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (events.subscriberCount() > 1 && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        assertEquals(1, events.subscriberCount(), "the dropped subscriber is gone");
        events.publish(event("after"));
        deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (!fast.received.contains("after") && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        assertTrue(fast.received.contains("after"), "the fast subscriber still receives: " + fast.received);
        assertTrue(fast.error.getNow(null) == null);
    }

    @Test
    void aStalledSubscriberIsDroppedAfterTheStallLimit() throws Exception {
        var events = new ContainerEvents(1000, Duration.ofMillis(300));
        var stalled = new FakeCall();
        stalled.ready = false;
        events.subscribe(stalled);
        events.publish(event("c1"));
        var status = Status.fromThrowable(stalled.error.get(5, TimeUnit.SECONDS));
        assertEquals(Status.Code.RESOURCE_EXHAUSTED, status.getCode());
        assertTrue(status.getDescription().contains("accepted no event"), status.getDescription());
    }

    @Test
    void closingEndsEveryStreamWithUnavailableAndRefusesNewOnes() throws Exception {
        var events = new ContainerEvents(100, Duration.ofMinutes(5));
        var reading = new FakeCall();
        var stuck = new FakeCall();
        stuck.ready = false;
        events.subscribe(reading);
        events.subscribe(stuck);
        events.publish(event("c1"));
        events.close();
        for (var call : List.of(reading, stuck)) {
            var status = Status.fromThrowable(call.error.get(5, TimeUnit.SECONDS));
            assertEquals(Status.Code.UNAVAILABLE, status.getCode());
            assertEquals("the runtime is shutting down", status.getDescription());
        }
        assertEquals(0, events.subscriberCount(), "close waits for the pumps to end");
        var late = new FakeCall();
        events.subscribe(late);
        assertEquals(Status.Code.UNAVAILABLE, Status.fromThrowable(late.error.get(1, TimeUnit.SECONDS)).getCode());
    }
}
