package dev.bollard.daemon.registry;

import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Flow;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * A response body read chunk by chunk with a deadline per chunk. The JDK's InputStream body blocks forever on a
 * stalled connection; this one lets the reader give up after the progress timeout and cancel the exchange.
 * It asks the connection for one chunk list at a time, so a slow consumer holds back the socket instead of
 * buffering the blob in memory.
 */
final class StreamingBody implements HttpResponse.BodySubscriber<StreamingBody> {

    /** Thrown by {@link #next} when no bytes arrived within the timeout. */
    static final class StalledException extends IOException {
        StalledException(Duration d) {
            super("no data received for " + d.toMillis() + " ms");
        }
    }

    private static final Object END = new Object();

    private final BlockingQueue<Object> queue = new LinkedBlockingQueue<>();
    private volatile Flow.Subscription subscription;
    private Iterator<ByteBuffer> current = List.<ByteBuffer>of().iterator();
    private boolean done;

    static HttpResponse.BodyHandler<StreamingBody> handler() {
        return info -> new StreamingBody();
    }

    @Override
    public void onSubscribe(Flow.Subscription s) {
        subscription = s;
        s.request(1);
    }

    @Override
    public void onNext(List<ByteBuffer> item) {
        queue.add(item);
    }

    @Override
    public void onError(Throwable t) {
        queue.add(t);
    }

    @Override
    public void onComplete() {
        queue.add(END);
    }

    @Override
    public CompletionStage<StreamingBody> getBody() {
        return CompletableFuture.completedFuture(this);
    }

    /** The next non-empty chunk, or null at the end of the body. */
    ByteBuffer next(Duration timeout) throws IOException, InterruptedException {
        while (true) {
            while (current.hasNext()) {
                ByteBuffer b = current.next();
                if (b.hasRemaining()) {
                    return b;
                }
            }
            if (done) {
                return null;
            }
            Object o = queue.poll(timeout.toNanos(), TimeUnit.NANOSECONDS);
            if (o == null) {
                close();
                throw new StalledException(timeout);
            }
            if (o == END) {
                done = true;
                return null;
            }
            if (o instanceof Throwable t) {
                done = true;
                throw t instanceof IOException io ? io : new IOException(t);
            }
            @SuppressWarnings("unchecked")
            List<ByteBuffer> list = (List<ByteBuffer>) o;
            current = list.iterator();
            subscription.request(1);
        }
    }

    /** Reads the rest, at most {@code limit} bytes; more is cut (error bodies, small JSON). */
    byte[] readAtMost(int limit, Duration timeout) throws IOException, InterruptedException {
        var out = new java.io.ByteArrayOutputStream();
        ByteBuffer b;
        while ((b = next(timeout)) != null) {
            int n = Math.min(b.remaining(), limit - out.size());
            byte[] chunk = new byte[n];
            b.get(chunk);
            out.write(chunk);
            if (out.size() >= limit) {
                close();
                break;
            }
        }
        return out.toByteArray();
    }

    /** Gives up on the rest of the body, which releases (closes) the connection. */
    void close() {
        Flow.Subscription s = subscription;
        if (s != null && !done) {
            done = true;
            s.cancel();
        }
    }
}
