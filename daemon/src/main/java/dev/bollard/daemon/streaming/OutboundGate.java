package dev.bollard.daemon.streaming;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Per-stream backpressure for a blocking writer: bytes handed to Netty count as in flight until their write
 * reached the socket, and a writer waits while its stream has too much in flight. So a slow client stalls only the
 * writer of its own stream, never the event loop or other streams.
 */
public final class OutboundGate {

    public static final int DEFAULT_LIMIT = 256 * 1024;

    private final ReentrantLock lock = new ReentrantLock();
    private final Condition drained = lock.newCondition();
    private final long limit;
    private long inFlight;
    private IOException failure;

    public OutboundGate(long limit) {
        this.limit = limit;
    }

    /** Blocks until {@code n} more bytes may go out; fails once the stream is gone. */
    public void acquire(int n) throws IOException {
        lock.lock();
        try {
            while (failure == null && inFlight > 0 && inFlight + n > limit) {
                try {
                    drained.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new InterruptedIOException("interrupted while writing the stream");
                }
            }
            if (failure != null) {
                throw failure;
            }
            inFlight += n;
        } finally {
            lock.unlock();
        }
    }

    public void release(int n) {
        lock.lock();
        try {
            inFlight -= n;
            drained.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** Blocks until everything handed over has been written (or the stream failed). */
    public void awaitDrained() throws IOException {
        lock.lock();
        try {
            while (failure == null && inFlight > 0) {
                try {
                    drained.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new InterruptedIOException("interrupted while flushing the stream");
                }
            }
            if (failure != null) {
                throw failure;
            }
        } finally {
            lock.unlock();
        }
    }

    public void fail(IOException e) {
        lock.lock();
        try {
            if (failure == null) {
                failure = e;
            }
            drained.signalAll();
        } finally {
            lock.unlock();
        }
    }

    public boolean failed() {
        lock.lock();
        try {
            return failure != null;
        } finally {
            lock.unlock();
        }
    }
}
