package dev.bollard.daemon.stats;

import dev.bollard.api.cri.v1.ContainerEventResponse;
import dev.bollard.daemon.log.Log;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * GetContainerEvents' fan-out: every subscriber sees every event, in publication order, through a bounded queue
 * of its own drained by its own virtual thread, so a subscriber never slows the runtime. A subscriber whose queue
 * overflows, or who has not accepted a message for {@code stallLimit} while events wait, is dropped: its stream
 * ends with RESOURCE_EXHAUSTED saying why.
 */
public final class ContainerEvents implements AutoCloseable {

    public static final int DEFAULT_BUFFER = 1000;
    public static final Duration DEFAULT_STALL_LIMIT = Duration.ofSeconds(10);
    private static final Log LOG = Log.get("events");

    private final int buffer;
    private final Duration stallLimit;
    private final ReentrantLock publishing = new ReentrantLock();
    private final List<Subscriber> subscribers = new CopyOnWriteArrayList<>();
    private volatile boolean closed;

    public ContainerEvents(int buffer, Duration stallLimit) {
        this.buffer = buffer;
        this.stallLimit = stallLimit;
    }

    /** Hands the event to every subscriber's queue; never blocks on a subscriber. */
    public void publish(ContainerEventResponse event) {
        publishing.lock(); // one order for all subscribers
        try {
            for (var s : subscribers) {
                if (!s.queue.offer(event)) {
                    s.drop(slow("more than " + buffer + " container events waiting for this subscriber"));
                }
            }
        } finally {
            publishing.unlock();
        }
    }

    public int subscriberCount() {
        return subscribers.size();
    }

    private static Status slow(String why) {
        return Status.RESOURCE_EXHAUSTED.withDescription("container events subscriber dropped: " + why);
    }

    /**
     * The daemon is shutting down: every stream ends now with UNAVAILABLE (kubelet then reconnects to the next
     * daemon), so the gRPC server's graceful shutdown need not wait for streams that never end by themselves.
     * Later subscriptions are refused the same way.
     */
    @Override
    public void close() {
        closed = true;
        publishing.lock();
        try {
            for (var s : subscribers) {
                s.drop(shuttingDown());
            }
        } finally {
            publishing.unlock();
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(2);
        while (!subscribers.isEmpty() && System.nanoTime() < deadline) {
            try {
                Thread.sleep(10); // the pumps send their last message and end
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    private static Status shuttingDown() {
        return Status.UNAVAILABLE.withDescription("the runtime is shutting down");
    }

    /**
     * Serves one GetContainerEvents call until the client goes away or is dropped. Returns at once: the events
     * go out from a virtual thread of the subscriber's own.
     */
    public void subscribe(StreamObserver<ContainerEventResponse> observer) {
        var call = (ServerCallStreamObserver<ContainerEventResponse>) observer;
        if (closed) {
            call.onError(shuttingDown().asRuntimeException());
            return;
        }
        var s = new Subscriber(call);
        call.setOnCancelHandler(s::cancelled);
        call.setOnReadyHandler(s::ready);
        subscribers.add(s);
        Thread.ofVirtual().name("events-subscriber").start(() -> {
            try {
                s.pump();
            } finally {
                subscribers.remove(s);
            }
        });
    }

    private final class Subscriber {
        final ArrayBlockingQueue<ContainerEventResponse> queue = new ArrayBlockingQueue<>(buffer);
        final ServerCallStreamObserver<ContainerEventResponse> call;
        final ReentrantLock lock = new ReentrantLock();
        final Condition readiness = lock.newCondition();
        final CompletableFuture<Status> dropped = new CompletableFuture<>();
        volatile boolean cancelled;

        Subscriber(ServerCallStreamObserver<ContainerEventResponse> call) {
            this.call = call;
        }

        void drop(Status why) {
            dropped.complete(why);
            ready(); // wakes the pump
        }

        void cancelled() {
            cancelled = true;
            ready();
        }

        void ready() {
            lock.lock();
            try {
                readiness.signalAll();
            } finally {
                lock.unlock();
            }
        }

        /** Sends queued events as the transport accepts them; all calls on the observer happen on this thread. */
        void pump() {
            try {
                while (!cancelled) {
                    if (dropped.isDone()) {
                        end(dropped.join());
                        return;
                    }
                    var event = queue.poll(200, TimeUnit.MILLISECONDS);
                    if (event == null) {
                        continue;
                    }
                    if (!awaitReady()) {
                        if (!cancelled) {
                            end(dropped.isDone() ? dropped.join() : slow("the subscriber accepted no event for "
                                    + stallLimit.toSeconds() + " s while events were waiting"));
                        }
                        return;
                    }
                    call.onNext(event);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } catch (RuntimeException e) {
                // the call ended under us (cancelled by the client): nothing left to tell it
                LOG.debug("container events subscriber ended", "error", String.valueOf(e.getMessage()));
            }
        }

        private boolean awaitReady() throws InterruptedException {
            long deadline = System.nanoTime() + stallLimit.toNanos();
            lock.lock();
            try {
                while (!call.isReady()) {
                    long left = deadline - System.nanoTime();
                    if (cancelled || dropped.isDone() || left <= 0) {
                        return false;
                    }
                    readiness.awaitNanos(Math.min(left, TimeUnit.MILLISECONDS.toNanos(200)));
                }
                return true;
            } finally {
                lock.unlock();
            }
        }

        private void end(Status why) {
            if (why.getCode() == Status.Code.RESOURCE_EXHAUSTED) {
                LOG.warn("dropping a slow container events subscriber", "reason", why.getDescription());
            }
            call.onError(why.asRuntimeException());
        }
    }
}
