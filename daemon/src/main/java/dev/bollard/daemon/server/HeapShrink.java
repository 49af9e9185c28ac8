package dev.bollard.daemon.server;

import dev.bollard.daemon.log.Log;
import io.grpc.ForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.LongSupplier;

/**
 * Gives the heap a burst grew back once the daemon is quiet. The serial collector shrinks the heap (to
 * {@code MaxHeapFreeRatio}) only at a full collection, and an idle daemon makes none: after a burst of calls (a
 * relist storm, 100 pods started) the committed heap stayed at its peak. So when no CRI call is running, none started
 * for {@link #QUIET}, and the committed heap is {@link #GROWTH} above where it was after the last shrink, this runs
 * one full collection ({@code System.gc()}, with {@code -XX:-ShrinkHeapInSteps} in bin/bollard so one is enough),
 * then {@code malloc_trim(0)} for what the collection freed in native memory. Checked every {@link #PERIOD}.
 */
public final class HeapShrink implements AutoCloseable {

    private static final Log LOG = Log.get("daemon");

    static final long GROWTH = 8L << 20;
    static final Duration QUIET = Duration.ofMillis(500);
    static final Duration PERIOD = Duration.ofMillis(500);

    private final LongSupplier committedHeap;
    private final Runnable fullGc;
    private final LongSupplier nanoClock;
    private final AtomicInteger running = new AtomicInteger();
    private volatile long lastCallNanos;
    /** Committed heap after the last shrink (or at start): growth is measured from here. */
    private long baseline;
    private Thread checker;

    /**
     * @param committedHeap the committed heap in bytes now
     * @param fullGc        one full collection (and whatever gives memory back after it)
     * @param nanoClock     {@link System#nanoTime()} or a test's
     */
    HeapShrink(LongSupplier committedHeap, Runnable fullGc, LongSupplier nanoClock) {
        this.committedHeap = committedHeap;
        this.fullGc = fullGc;
        this.nanoClock = nanoClock;
        this.lastCallNanos = nanoClock.getAsLong();
        this.baseline = committedHeap.getAsLong();
    }

    /** The daemon's: its JVM's heap, {@code System.gc()} then {@code malloc_trim(0)}, real time. */
    public static HeapShrink forThisJvm() {
        var runtime = Runtime.getRuntime(); // totalMemory is the committed heap, without loading JMX at start
        return new HeapShrink(runtime::totalMemory, () -> {
            System.gc();
            MallocTrim.HANDLE.ifPresent(HeapShrink::trim);
        }, System::nanoTime);
    }

    /**
     * Counts the unary CRI calls running, and notes when the last call started. Streams (GetContainerEvents stays open
     * for as long as kubelet runs) only count as a call starting.
     */
    public ServerInterceptor interceptor() {
        return new ServerInterceptor() {
            @Override
            public <Q, A> ServerCall.Listener<Q> interceptCall(ServerCall<Q, A> call, Metadata headers,
                                                              ServerCallHandler<Q, A> next) {
                if (call.getMethodDescriptor().getType() != io.grpc.MethodDescriptor.MethodType.UNARY) {
                    lastCallNanos = nanoClock.getAsLong();
                    return next.startCall(call, headers);
                }
                callStarted();
                ServerCall.Listener<Q> listener;
                try {
                    listener = next.startCall(call, headers);
                } catch (RuntimeException e) {
                    callEnded();
                    throw e;
                }
                return new ForwardingServerCallListener.SimpleForwardingServerCallListener<>(listener) {
                    @Override
                    public void onComplete() {
                        callEnded();
                        super.onComplete();
                    }

                    @Override
                    public void onCancel() {
                        callEnded();
                        super.onCancel();
                    }
                };
            }
        };
    }

    void callStarted() {
        running.incrementAndGet();
        lastCallNanos = nanoClock.getAsLong();
    }

    void callEnded() {
        running.decrementAndGet();
    }

    /**
     * One check: the full collection when the daemon is quiet and the heap grew by {@link #GROWTH} since the last
     * one. @return whether it ran
     */
    synchronized boolean check() {
        long committed = committedHeap.getAsLong();
        if (committed < baseline) {
            baseline = committed; // shrunk by itself (a full collection of its own): measure from there
        }
        boolean quiet = running.get() == 0 && nanoClock.getAsLong() - lastCallNanos >= QUIET.toNanos();
        if (!quiet || committed - baseline < GROWTH) {
            return false;
        }
        fullGc.run();
        baseline = committedHeap.getAsLong();
        LOG.debug("heap given back after a burst", "committedBeforeMB", committed >> 20, "committedAfterMB",
                baseline >> 20);
        return true;
    }

    /** Checks every {@link #PERIOD} on a virtual thread until closed. */
    public synchronized void start() {
        checker = Thread.ofVirtual().name("heap-shrink").start(() -> {
            try {
                while (!Thread.currentThread().isInterrupted()) {
                    Thread.sleep(PERIOD);
                    check();
                }
            } catch (InterruptedException e) {
                // closed
            }
        });
    }

    @Override
    public synchronized void close() {
        if (checker != null) {
            checker.interrupt();
        }
    }

    /** Linked at the first shrink, not at start (a downcall handle costs class generation). */
    private static final class MallocTrim {
        static final Optional<MethodHandle> HANDLE = mallocTrim();
    }

    private static Optional<MethodHandle> mallocTrim() {
        var linker = Linker.nativeLinker();
        return linker.defaultLookup().find("malloc_trim").map(symbol -> linker.downcallHandle(symbol,
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG)));
    }

    private static void trim(MethodHandle mallocTrim) {
        try {
            int ignored = (int) mallocTrim.invokeExact(0L);
        } catch (Throwable e) {
            LOG.debug("malloc_trim failed", "error", String.valueOf(e.getMessage()));
        }
    }
}
