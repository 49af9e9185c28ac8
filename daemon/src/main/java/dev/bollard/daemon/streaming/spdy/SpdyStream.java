package dev.bollard.daemon.streaming.spdy;

import dev.bollard.daemon.streaming.InboundPipe;
import dev.bollard.daemon.streaming.OutboundGate;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.ArrayDeque;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

/**
 * One SPDY stream: an input (the peer's DATA frames, EOF on its FIN) and an output (blocking writes become DATA
 * frames sent within the peer's window; close sends FIN). Fields without a lock are touched on the event loop only.
 */
public final class SpdyStream {

    static final int MAX_WRITE_CHUNK = 32 * 1024;

    private final SpdySession session;
    private final int id;
    private final Map<String, String> headers;
    private final InboundPipe input;
    private final OutboundGate gate = new OutboundGate(OutboundGate.DEFAULT_LIMIT);
    private final Output output = new Output();
    final CompletableFuture<SpdyStream> replied = new CompletableFuture<>();

    // event loop state
    final ArrayDeque<ByteBuf> pending = new ArrayDeque<>();
    long sendWindow;
    int unackedReceived;
    boolean finQueued;
    boolean finSent;
    boolean remoteFinished;
    boolean overfull;
    boolean removed;

    SpdyStream(SpdySession session, int id, Map<String, String> headers, long sendWindow) {
        this.session = session;
        this.id = id;
        this.headers = Map.copyOf(headers);
        this.sendWindow = sendWindow;
        this.input = new InboundPipe(n -> session.consumed(this, n));
    }

    public int id() {
        return id;
    }

    /** A header of the SYN_STREAM (names are lower case in SPDY/3); null when absent. */
    public String header(String name) {
        return headers.get(name);
    }

    public Map<String, String> headers() {
        return headers;
    }

    public InputStream input() {
        return input;
    }

    public OutputStream output() {
        return output;
    }

    /** Server side: accept the peer's stream (SYN_REPLY). */
    public void reply() {
        session.reply(this);
    }

    /** Tears the stream down both ways (RST_STREAM CANCEL). */
    public void reset() {
        session.reset(this);
    }

    /** Half-closes our side after what was written (FIN); idempotent. */
    public void closeOutput() {
        output.close();
    }

    /** Completes when the peer answered our SYN_STREAM. */
    public CompletableFuture<SpdyStream> replied() {
        return replied;
    }

    InboundPipe pipe() {
        return input;
    }

    OutboundGate gate() {
        return gate;
    }

    private final class Output extends OutputStream {
        private boolean closed;

        @Override
        public void write(int b) throws IOException {
            write(new byte[]{(byte) b}, 0, 1);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            synchronized (this) {
                if (closed) {
                    throw new IOException("stream " + id + " is closed for writing");
                }
            }
            while (len > 0) {
                int n = Math.min(len, MAX_WRITE_CHUNK);
                gate.acquire(n);
                session.enqueue(SpdyStream.this, Unpooled.copiedBuffer(b, off, n));
                off += n;
                len -= n;
            }
        }

        @Override
        public void flush() throws IOException {
            // Written frames are flushed by the event loop; waiting here gives callers a real barrier.
            gate.awaitDrained();
        }

        @Override
        public void close() {
            synchronized (this) {
                if (closed) {
                    return;
                }
                closed = true;
            }
            session.finish(SpdyStream.this);
        }
    }
}
