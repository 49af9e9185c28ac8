package dev.bollard.daemon.server;

import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The full collection after a burst: only once quiet, only after the heap grew by 8 MB, once per growth. */
class HeapShrinkTest {

    private static final long MB = 1 << 20;

    private final AtomicLong now = new AtomicLong(1_000_000_000L);
    private final AtomicLong committed = new AtomicLong(10 * MB);
    private final AtomicInteger collections = new AtomicInteger();
    /** What the fake collection leaves committed. */
    private final AtomicLong afterCollection = new AtomicLong(11 * MB);
    private final HeapShrink shrink = new HeapShrink(committed::get, () -> {
        collections.incrementAndGet();
        committed.set(afterCollection.get());
    }, now::get);

    private void advance(long millis) {
        now.addAndGet(millis * 1_000_000L);
    }

    @Test
    void aQuietDaemonWhoseHeapGrewCollectsOnce() {
        shrink.callStarted();
        committed.set(40 * MB); // the burst
        shrink.callEnded();
        assertFalse(shrink.check(), "a call started just now: not quiet yet");
        advance(HeapShrink.QUIET.toMillis());
        assertTrue(shrink.check());
        assertEquals(1, collections.get());
        assertEquals(11 * MB, committed.get());
        advance(10_000);
        assertFalse(shrink.check(), "nothing grew since: no second collection");
        assertEquals(1, collections.get());
    }

    @Test
    void neverWhileACallRuns() {
        committed.set(40 * MB);
        shrink.callStarted();
        advance(60_000);
        assertFalse(shrink.check(), "a call still running (a pull) is not quiet, however long ago it started");
        shrink.callEnded();
        assertTrue(shrink.check());
    }

    @Test
    void growthBelowTheThresholdIsLeft() {
        committed.set(10 * MB + HeapShrink.GROWTH - 1);
        advance(60_000);
        assertFalse(shrink.check());
        committed.set(10 * MB + HeapShrink.GROWTH);
        assertTrue(shrink.check());
    }

    @Test
    void growthIsMeasuredFromWhereTheLastShrinkLeftTheHeap() {
        committed.set(40 * MB);
        advance(1_000);
        assertTrue(shrink.check()); // down to 11 MB
        committed.set(11 * MB + HeapShrink.GROWTH - 1);
        advance(1_000);
        assertFalse(shrink.check());
        committed.set(11 * MB + HeapShrink.GROWTH);
        assertTrue(shrink.check());
        assertEquals(2, collections.get());
    }

    @Test
    void aHeapThatShrankByItselfIsTheNewBaseline() {
        committed.set(5 * MB); // a full collection of the JVM's own
        advance(1_000);
        assertFalse(shrink.check());
        committed.set(5 * MB + HeapShrink.GROWTH);
        assertTrue(shrink.check());
    }
}
