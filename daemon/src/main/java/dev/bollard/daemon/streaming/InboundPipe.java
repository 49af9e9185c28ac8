package dev.bollard.daemon.streaming;

import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.util.ArrayDeque;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.IntConsumer;

/**
 * Bytes arriving from the network (on Netty's event loop) for a blocking reader (a virtual thread). The reader
 * reports what it consumed, so a protocol can open its flow-control window or resume reading from the socket.
 */
public final class InboundPipe extends InputStream {

    private final ReentrantLock lock = new ReentrantLock();
    private final Condition readable = lock.newCondition();
    private final ArrayDeque<byte[]> chunks = new ArrayDeque<>();
    private final IntConsumer consumed;
    private int headOffset;
    private long buffered;
    private boolean finished;
    private IOException failure;

    /** @param consumed told how many bytes the reader took, on the reader's thread */
    public InboundPipe(IntConsumer consumed) {
        this.consumed = consumed;
    }

    /** Appends data; ignored once the pipe is finished. Returns the bytes now buffered. */
    public long offer(byte[] data) {
        lock.lock();
        try {
            if (finished || failure != null || data.length == 0) {
                return buffered;
            }
            chunks.add(data);
            buffered += data.length;
            readable.signalAll();
            return buffered;
        } finally {
            lock.unlock();
        }
    }

    /** The peer will send no more: the reader sees EOF after the buffered bytes. */
    public void finish() {
        lock.lock();
        try {
            finished = true;
            readable.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** The connection broke: the reader gets this exception (after nothing: buffered bytes are dropped). */
    public void fail(IOException e) {
        lock.lock();
        try {
            if (!finished && failure == null) {
                failure = e;
                chunks.clear();
                buffered = 0;
            }
            readable.signalAll();
        } finally {
            lock.unlock();
        }
    }

    public long buffered() {
        lock.lock();
        try {
            return buffered;
        } finally {
            lock.unlock();
        }
    }

    @Override
    public int read() throws IOException {
        byte[] one = new byte[1];
        int n = read(one, 0, 1);
        return n < 0 ? -1 : one[0] & 0xff;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
        if (len == 0) {
            return 0;
        }
        int n;
        lock.lock();
        try {
            while (chunks.isEmpty()) {
                if (failure != null) {
                    throw failure;
                }
                if (finished) {
                    return -1;
                }
                try {
                    readable.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new InterruptedIOException("interrupted while reading the stream");
                }
            }
            byte[] head = chunks.peek();
            n = Math.min(len, head.length - headOffset);
            System.arraycopy(head, headOffset, b, off, n);
            headOffset += n;
            if (headOffset == head.length) {
                chunks.poll();
                headOffset = 0;
            }
            buffered -= n;
        } finally {
            lock.unlock();
        }
        consumed.accept(n);
        return n;
    }

    @Override
    public int available() {
        lock.lock();
        try {
            return (int) Math.min(Integer.MAX_VALUE, buffered);
        } finally {
            lock.unlock();
        }
    }
}
