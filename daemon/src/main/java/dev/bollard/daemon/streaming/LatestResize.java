package dev.bollard.daemon.streaming;

import java.util.Optional;

/**
 * The resizes of one session between the stream's reader and the backend: only the latest size matters (the
 * terminal is set to it), so a size not yet taken is replaced by a newer one instead of queued. A client that
 * floods the resize stream while the backend is not reading therefore costs one slot, not memory without bound.
 * Once {@link #end()} was called, {@link #take()} hands out the size still pending, then empty for ever.
 */
final class LatestResize {

    private TerminalSize pending;
    private boolean ended;
    private long coalesced;

    /** A new size from the client; replaces one not yet taken. Ignored after {@link #end()}. */
    synchronized void offer(TerminalSize size) {
        if (ended) {
            return;
        }
        if (pending != null) {
            coalesced++;
        }
        pending = size;
        notifyAll();
    }

    /** No more sizes come (the stream ended or the client went away). */
    synchronized void end() {
        ended = true;
        notifyAll();
    }

    /** Waits for the latest size not yet taken; empty once the sizes ended and the last one was taken. */
    synchronized Optional<TerminalSize> take() throws InterruptedException {
        while (pending == null && !ended) {
            wait();
        }
        TerminalSize size = pending;
        pending = null;
        return Optional.ofNullable(size);
    }

    /** How many sizes were replaced before being taken (for tests and debugging). */
    synchronized long coalesced() {
        return coalesced;
    }
}
