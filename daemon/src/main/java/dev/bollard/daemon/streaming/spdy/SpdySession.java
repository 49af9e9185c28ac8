package dev.bollard.daemon.streaming.spdy;

import dev.bollard.daemon.log.Log;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.spdy.DefaultSpdyDataFrame;
import io.netty.handler.codec.spdy.DefaultSpdyGoAwayFrame;
import io.netty.handler.codec.spdy.DefaultSpdyPingFrame;
import io.netty.handler.codec.spdy.DefaultSpdyRstStreamFrame;
import io.netty.handler.codec.spdy.DefaultSpdySettingsFrame;
import io.netty.handler.codec.spdy.DefaultSpdySynReplyFrame;
import io.netty.handler.codec.spdy.DefaultSpdySynStreamFrame;
import io.netty.handler.codec.spdy.DefaultSpdyWindowUpdateFrame;
import io.netty.handler.codec.spdy.SpdyDataFrame;
import io.netty.handler.codec.spdy.SpdyGoAwayFrame;
import io.netty.handler.codec.spdy.SpdyHeadersFrame;
import io.netty.handler.codec.spdy.SpdyPingFrame;
import io.netty.handler.codec.spdy.SpdyRstStreamFrame;
import io.netty.handler.codec.spdy.SpdySettingsFrame;
import io.netty.handler.codec.spdy.SpdyStreamStatus;
import io.netty.handler.codec.spdy.SpdySynReplyFrame;
import io.netty.handler.codec.spdy.SpdySynStreamFrame;
import io.netty.handler.codec.spdy.SpdyWindowUpdateFrame;
import io.netty.util.ReferenceCountUtil;

import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

/**
 * A SPDY/3.1 session over Netty's {@code SpdyFrameCodec}, for either end (the server and Bollard's own client).
 *
 * <p>Flow control: we announce nothing and send WINDOW_UPDATE (stream and session) as the reader consumes, as the
 * draft asks. Go's spdystream, which kubectl and kubelet use, neither sends WINDOW_UPDATE nor respects windows, so
 * our sends honour the peer's window only once the peer shows it does flow control (a SETTINGS initial window or a
 * WINDOW_UPDATE); a peer that overruns our window is tolerated, and the socket read pauses instead while a stream
 * holds more than {@link #MAX_BUFFERED} unread bytes.
 */
public final class SpdySession extends ChannelInboundHandlerAdapter {

    public static final int DEFAULT_WINDOW = 64 * 1024;
    static final int MAX_DATA_FRAME = 16 * 1024;
    static final long MAX_BUFFERED = 1024 * 1024;

    private static final Log LOG = Log.get("streaming");

    /** What the owner of the session hears, on the event loop. */
    public interface Listener {
        /** The peer opened a stream; reply() or reset() it. */
        void streamOpened(SpdyStream stream);

        /** The peer reset a stream or both sides finished it. */
        default void streamClosed(SpdyStream stream) {
        }

        /** The connection is gone; every stream has failed. */
        void sessionClosed();
    }

    private final boolean server;
    private final int maxStreams;
    private final boolean announceFlowControl;
    private Listener listener;
    private Channel channel;
    private final Map<Integer, SpdyStream> streams = new LinkedHashMap<>();
    private int lastRemoteStreamId;
    private int nextLocalStreamId;
    private int peerInitialWindow = DEFAULT_WINDOW;
    private long sessionSendWindow = DEFAULT_WINDOW;
    private boolean peerFlowControls;
    private int sessionUnacked;
    private int overfullStreams;
    private boolean goingAway;
    private boolean closed;

    /**
     * @param announceFlowControl send SETTINGS with our initial window first, so a peer like ours knows we honour
     *                            windows (the client does; kubelet-compatible servers stay silent)
     */
    public SpdySession(boolean server, int maxStreams, boolean announceFlowControl, Listener listener) {
        this.server = server;
        this.maxStreams = maxStreams;
        this.announceFlowControl = announceFlowControl;
        this.listener = listener;
        this.nextLocalStreamId = server ? 2 : 1;
    }

    public void listener(Listener listener) {
        this.listener = listener;
    }

    public Channel channel() {
        return channel;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        channel = ctx.channel();
        if (announceFlowControl) {
            var settings = new DefaultSpdySettingsFrame();
            settings.setValue(SpdySettingsFrame.SETTINGS_INITIAL_WINDOW_SIZE, DEFAULT_WINDOW);
            channel.writeAndFlush(settings);
        }
        channel.closeFuture().addListener(f -> channel.eventLoop().execute(this::connectionClosed));
    }

    /** Client side: opens a stream with these headers (names lower-cased); completes when the peer replied. */
    public CompletableFuture<SpdyStream> open(Map<String, String> headers) {
        var result = new CompletableFuture<SpdyStream>();
        channel.eventLoop().execute(() -> {
            if (closed || goingAway) {
                result.completeExceptionally(new IOException("SPDY connection is closed"));
                return;
            }
            int id = nextLocalStreamId;
            nextLocalStreamId += 2;
            var lower = new LinkedHashMap<String, String>();
            headers.forEach((k, v) -> lower.put(k.toLowerCase(Locale.ROOT), v));
            var stream = new SpdyStream(this, id, lower, peerInitialWindow);
            streams.put(id, stream);
            var frame = new DefaultSpdySynStreamFrame(id, 0, (byte) 0);
            lower.forEach((k, v) -> frame.headers().set(k, v));
            channel.writeAndFlush(frame).addListener(f -> {
                if (!f.isSuccess()) {
                    result.completeExceptionally(new IOException("sending SYN_STREAM failed", f.cause()));
                }
            });
            stream.replied.whenComplete((s, e) -> {
                if (e != null) {
                    result.completeExceptionally(e);
                } else {
                    result.complete(s);
                }
            });
        });
        return result;
    }

    /** Sends GOAWAY and closes the connection once what is queued has been written. */
    public void close() {
        channel.eventLoop().execute(() -> {
            if (closed) {
                return;
            }
            goingAway = true;
            flushPending();
            channel.writeAndFlush(new DefaultSpdyGoAwayFrame(lastRemoteStreamId))
                    .addListener(ChannelFutureListener.CLOSE);
        });
    }

    /**
     * Tells the peer no more streams are accepted and closes the connection once every stream is finished, or after
     * {@code grace} at the latest (clients usually close first, once they have read everything).
     */
    public void goAway(java.time.Duration grace) {
        channel.eventLoop().execute(() -> {
            if (closed || goingAway) {
                return;
            }
            goingAway = true;
            flushPending();
            channel.writeAndFlush(new DefaultSpdyGoAwayFrame(lastRemoteStreamId));
            if (streams.isEmpty()) {
                closeAfterFlush();
            } else {
                channel.eventLoop().schedule(() -> {
                    channel.close();
                }, grace.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
            }
        });
    }

    /** True when every stream has been finished or reset (event loop). */
    boolean idle() {
        return streams.isEmpty();
    }

    public int openStreams() {
        return streams.size();
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        try {
            switch (msg) {
                case SpdySynStreamFrame f -> onSynStream(f);
                case SpdySynReplyFrame f -> onSynReply(f);
                case SpdyDataFrame f -> onData(f);
                case SpdyRstStreamFrame f -> onReset(f.streamId());
                case SpdySettingsFrame f -> onSettings(f);
                case SpdyWindowUpdateFrame f -> onWindowUpdate(f);
                case SpdyPingFrame f -> onPing(f);
                case SpdyGoAwayFrame f -> onGoAway();
                case SpdyHeadersFrame f -> {
                    if (f.isLast()) {
                        remoteFinished(streams.get(f.streamId()));
                    }
                }
                default -> LOG.debug("ignoring a SPDY frame", "frame", msg.getClass().getSimpleName());
            }
        } finally {
            ReferenceCountUtil.release(msg);
        }
    }

    private void onSynStream(SpdySynStreamFrame f) {
        int id = f.streamId();
        boolean peerParity = server ? (id & 1) == 1 : (id & 1) == 0;
        if (!peerParity || id <= lastRemoteStreamId || f.isInvalid()) {
            channel.writeAndFlush(new DefaultSpdyRstStreamFrame(id, SpdyStreamStatus.PROTOCOL_ERROR));
            return;
        }
        lastRemoteStreamId = id;
        if (goingAway || streams.size() >= maxStreams) {
            channel.writeAndFlush(new DefaultSpdyRstStreamFrame(id, SpdyStreamStatus.REFUSED_STREAM));
            return;
        }
        var headers = new LinkedHashMap<String, String>();
        for (var e : f.headers()) {
            headers.put(e.getKey().toString().toLowerCase(Locale.ROOT), e.getValue().toString());
        }
        var stream = new SpdyStream(this, id, headers, peerInitialWindow);
        streams.put(id, stream);
        if (f.isLast()) {
            stream.remoteFinished = true;
            stream.pipe().finish();
        }
        listener.streamOpened(stream);
    }

    private void onSynReply(SpdySynReplyFrame f) {
        var stream = streams.get(f.streamId());
        if (stream == null) {
            return;
        }
        stream.replied.complete(stream);
        if (f.isLast()) {
            remoteFinished(stream);
        }
    }

    private void onData(SpdyDataFrame f) {
        var stream = streams.get(f.streamId());
        if (stream == null || stream.remoteFinished) {
            // Late frames for a stream we reset are normal; nothing to deliver.
            return;
        }
        ByteBuf content = f.content();
        if (content.isReadable()) {
            long buffered = stream.pipe().offer(ByteBufUtil.getBytes(content));
            if (!stream.overfull && buffered > MAX_BUFFERED) {
                stream.overfull = true;
                if (overfullStreams++ == 0) {
                    channel.config().setAutoRead(false);
                }
            }
        }
        if (f.isLast()) {
            remoteFinished(stream);
        }
    }

    private void remoteFinished(SpdyStream stream) {
        if (stream == null || stream.remoteFinished) {
            return;
        }
        stream.remoteFinished = true;
        stream.pipe().finish();
        maybeRemove(stream);
    }

    private void onReset(int id) {
        var stream = streams.get(id);
        if (stream == null) {
            return;
        }
        stream.replied.completeExceptionally(new IOException("the peer refused stream " + id));
        fail(stream, new IOException("stream " + id + " was reset by the peer"));
        remove(stream);
    }

    private void onSettings(SpdySettingsFrame f) {
        if (f.isSet(SpdySettingsFrame.SETTINGS_INITIAL_WINDOW_SIZE)) {
            int window = f.getValue(SpdySettingsFrame.SETTINGS_INITIAL_WINDOW_SIZE);
            int delta = window - peerInitialWindow;
            peerInitialWindow = window;
            peerFlowControls = true;
            for (var stream : streams.values()) {
                stream.sendWindow += delta;
            }
            flushPending();
        }
    }

    private void onWindowUpdate(SpdyWindowUpdateFrame f) {
        peerFlowControls = true;
        if (f.streamId() == 0) {
            sessionSendWindow += f.deltaWindowSize();
        } else {
            var stream = streams.get(f.streamId());
            if (stream == null) {
                return;
            }
            stream.sendWindow += f.deltaWindowSize();
        }
        flushPending();
    }

    private void onPing(SpdyPingFrame f) {
        boolean fromPeer = server ? (f.id() & 1) == 1 : (f.id() & 1) == 0;
        if (fromPeer) {
            channel.writeAndFlush(new DefaultSpdyPingFrame(f.id()));
        }
    }

    private void onGoAway() {
        goingAway = true;
        if (streams.isEmpty()) {
            closeAfterFlush();
        }
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        flushPending();
        ctx.fireChannelWritabilityChanged();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        LOG.debug("SPDY connection failed", "error", String.valueOf(cause.getMessage()));
        ctx.close();
    }

    // --- called by streams, from any thread ---

    void reply(SpdyStream stream) {
        channel.eventLoop().execute(() -> {
            if (!stream.removed) {
                // Netty encodes an empty header list as no header block at all, which Go's SPDY framer cannot
                // parse (it stops reading the connection); one header gives a real, compressed block.
                var frame = new DefaultSpdySynReplyFrame(stream.id());
                frame.headers().set(":status", "200");
                channel.writeAndFlush(frame);
            }
        });
    }

    void reset(SpdyStream stream) {
        channel.eventLoop().execute(() -> {
            if (stream.removed) {
                return;
            }
            channel.writeAndFlush(new DefaultSpdyRstStreamFrame(stream.id(), SpdyStreamStatus.CANCEL));
            fail(stream, new IOException("stream " + stream.id() + " was reset"));
            remove(stream);
        });
    }

    void enqueue(SpdyStream stream, ByteBuf data) {
        channel.eventLoop().execute(() -> {
            if (stream.removed || stream.finQueued) {
                stream.gate().release(data.readableBytes());
                data.release();
                return;
            }
            stream.pending.add(data);
            flushPending();
        });
    }

    void finish(SpdyStream stream) {
        channel.eventLoop().execute(() -> {
            if (stream.removed || stream.finQueued) {
                return;
            }
            stream.finQueued = true;
            flushPending();
        });
    }

    void consumed(SpdyStream stream, int n) {
        channel.eventLoop().execute(() -> {
            if (stream.overfull && stream.pipe().buffered() <= MAX_BUFFERED / 2) {
                stream.overfull = false;
                if (--overfullStreams == 0) {
                    channel.config().setAutoRead(true);
                }
            }
            if (closed) {
                return;
            }
            boolean wrote = false;
            if (!stream.removed && !stream.remoteFinished) {
                stream.unackedReceived += n;
                if (stream.unackedReceived >= DEFAULT_WINDOW / 2) {
                    channel.write(new DefaultSpdyWindowUpdateFrame(stream.id(), stream.unackedReceived));
                    stream.unackedReceived = 0;
                    wrote = true;
                }
            }
            sessionUnacked += n;
            if (sessionUnacked >= DEFAULT_WINDOW / 2) {
                channel.write(new DefaultSpdyWindowUpdateFrame(0, sessionUnacked));
                sessionUnacked = 0;
                wrote = true;
            }
            if (wrote) {
                channel.flush();
            }
        });
    }

    // --- event loop internals ---

    /** Writes queued data round-robin, one frame per stream per pass, within windows and socket writability. */
    private void flushPending() {
        if (closed) {
            return;
        }
        boolean wrote = false;
        boolean progress = true;
        while (progress && channel.isWritable()) {
            progress = false;
            for (var stream : new ArrayList<>(streams.values())) {
                if (stream.finSent) {
                    continue;
                }
                if (stream.pending.isEmpty()) {
                    if (stream.finQueued) {
                        stream.finSent = true;
                        channel.write(new DefaultSpdyDataFrame(stream.id()).setLast(true));
                        wrote = true;
                        maybeRemove(stream);
                    }
                    continue;
                }
                long window = peerFlowControls ? Math.min(stream.sendWindow, sessionSendWindow) : Long.MAX_VALUE;
                if (window <= 0) {
                    continue;
                }
                ByteBuf head = stream.pending.peek();
                int n = (int) Math.min(Math.min(head.readableBytes(), MAX_DATA_FRAME), window);
                ByteBuf slice = head.readRetainedSlice(n);
                if (!head.isReadable()) {
                    stream.pending.poll().release();
                }
                stream.sendWindow -= n;
                sessionSendWindow -= n;
                boolean last = stream.pending.isEmpty() && stream.finQueued;
                var frame = new DefaultSpdyDataFrame(stream.id(), slice).setLast(last);
                channel.write(frame).addListener(f -> {
                    stream.gate().release(n);
                    if (!f.isSuccess()) {
                        stream.gate().fail(new IOException("writing to the client failed", f.cause()));
                    }
                });
                wrote = true;
                progress = true;
                if (last) {
                    stream.finSent = true;
                    maybeRemove(stream);
                }
            }
        }
        if (wrote) {
            channel.flush();
        }
    }

    private void maybeRemove(SpdyStream stream) {
        if (stream.finSent && stream.remoteFinished && !stream.removed) {
            remove(stream);
        }
    }

    private void remove(SpdyStream stream) {
        if (stream.removed) {
            return;
        }
        stream.removed = true;
        streams.remove(stream.id());
        for (ByteBuf b; (b = stream.pending.poll()) != null; ) {
            stream.gate().release(b.readableBytes());
            b.release();
        }
        if (stream.overfull) {
            stream.overfull = false;
            if (--overfullStreams == 0) {
                channel.config().setAutoRead(true);
            }
        }
        listener.streamClosed(stream);
        if (goingAway && streams.isEmpty() && !closed) {
            closeAfterFlush();
        }
    }

    /** A plain close() would drop frames still queued for the socket. */
    private void closeAfterFlush() {
        channel.writeAndFlush(io.netty.buffer.Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
    }

    private void fail(SpdyStream stream, IOException e) {
        stream.pipe().fail(e);
        stream.gate().fail(e);
    }

    private void connectionClosed() {
        if (closed) {
            return;
        }
        closed = true;
        var e = new IOException("the streaming connection closed");
        for (var stream : new ArrayList<>(streams.values())) {
            stream.replied.completeExceptionally(e);
            if (stream.remoteFinished) {
                stream.gate().fail(e);
            } else {
                fail(stream, e);
            }
            remove(stream);
        }
        listener.sessionClosed();
    }
}
