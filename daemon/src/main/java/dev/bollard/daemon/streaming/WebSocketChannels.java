package dev.bollard.daemon.streaming;

import dev.bollard.daemon.log.Log;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.websocketx.BinaryWebSocketFrame;
import io.netty.handler.codec.http.websocketx.CloseWebSocketFrame;
import io.netty.handler.codec.http.websocketx.PingWebSocketFrame;
import io.netty.handler.codec.http.websocketx.PongWebSocketFrame;
import io.netty.handler.codec.http.websocketx.TextWebSocketFrame;
import io.netty.handler.codec.http.websocketx.WebSocketFrame;
import io.netty.util.ReferenceCountUtil;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Base64;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Kubernetes' channel framing over WebSocket: every message starts with its channel number (a byte; with the
 * base64 subprotocols an ASCII digit, then base64 text). Inbound channels are {@link InboundPipe}s, outbound ones
 * {@link OutputStream}s with per-channel backpressure; reading from the socket pauses while a pipe is too full.
 */
abstract class WebSocketChannels extends ChannelInboundHandlerAdapter {

    private static final Log LOG = Log.get("streaming");
    static final int CLOSE_CHANNEL = 255;
    private static final int MAX_FRAME = 32 * 1024;
    private static final long MAX_BUFFERED = 1024 * 1024;

    private final boolean base64;
    private final Map<Integer, InboundPipe> inbound = new HashMap<>();
    protected Channel channel;
    private int overfull;
    private boolean closing;

    WebSocketChannels(boolean base64) {
        this.base64 = base64;
    }

    /** Registers a channel the client writes to. */
    protected InboundPipe inbound(int channelNumber) {
        var pipe = new InboundPipe(n -> consumed());
        inbound.put(channelNumber, pipe);
        return pipe;
    }

    protected OutputStream outbound(int channelNumber) {
        return new ChannelOutput(channelNumber);
    }

    /** A frame on a channel nobody registered, or the v5 close signal. */
    protected void unknownChannel(int channelNumber, byte[] data) {
        LOG.debug("ignoring a WebSocket frame for an unknown channel", "channel", channelNumber);
    }

    /** The connection is gone. */
    protected abstract void closed();

    protected void finishInbound(int channelNumber) {
        var pipe = inbound.get(channelNumber);
        if (pipe != null) {
            pipe.finish();
        }
    }

    /** Sends a normal close; the TCP connection closes when the client answers, or after {@code grace}. */
    protected void closeGracefully(Duration grace) {
        channel.eventLoop().execute(() -> {
            if (closing) {
                return;
            }
            closing = true;
            channel.writeAndFlush(new CloseWebSocketFrame(1000, ""));
            channel.eventLoop().schedule(() -> {
                channel.close();
            }, grace.toMillis(), TimeUnit.MILLISECONDS);
        });
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        channel = ctx.channel();
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        try {
            switch (msg) {
                case BinaryWebSocketFrame f when !base64 -> dispatch(ByteBufUtil.getBytes(f.content()), false);
                case TextWebSocketFrame f when base64 -> dispatch(ByteBufUtil.getBytes(f.content()), true);
                case PingWebSocketFrame f -> ctx.writeAndFlush(new PongWebSocketFrame(f.content().retain()));
                case CloseWebSocketFrame f -> {
                    if (!closing) {
                        closing = true;
                        ctx.writeAndFlush(new CloseWebSocketFrame(1000, "")).addListener(ChannelFutureListener.CLOSE);
                    } else {
                        ctx.close();
                    }
                }
                case PongWebSocketFrame f -> {
                }
                case WebSocketFrame f -> {
                    LOG.debug("closing a WebSocket that sent the wrong frame type", "frame", f.getClass().getSimpleName());
                    ctx.writeAndFlush(new CloseWebSocketFrame(1003, "unexpected frame type"))
                            .addListener(ChannelFutureListener.CLOSE);
                }
                default -> ctx.close();
            }
        } finally {
            ReferenceCountUtil.release(msg);
        }
    }

    private void dispatch(byte[] frame, boolean text) {
        if (frame.length == 0) {
            return;
        }
        int ch = text ? frame[0] - '0' : frame[0] & 0xff;
        byte[] data = java.util.Arrays.copyOfRange(frame, 1, frame.length);
        if (text) {
            try {
                data = Base64.getDecoder().decode(new String(data, StandardCharsets.US_ASCII).strip());
            } catch (IllegalArgumentException e) {
                LOG.debug("closing a WebSocket that sent malformed base64", "channel", ch);
                channel.writeAndFlush(new CloseWebSocketFrame(1007, "malformed base64"))
                        .addListener(ChannelFutureListener.CLOSE);
                return;
            }
        }
        var pipe = inbound.get(ch);
        if (pipe == null) {
            unknownChannel(ch, data);
            return;
        }
        if (pipe.offer(data) > MAX_BUFFERED && overfull++ == 0) {
            channel.config().setAutoRead(false);
        }
    }

    private void consumed() {
        channel.eventLoop().execute(() -> {
            if (overfull > 0 && inbound.values().stream().allMatch(p -> p.buffered() <= MAX_BUFFERED / 2)) {
                overfull = 0;
                channel.config().setAutoRead(true);
            }
        });
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        var e = new IOException("the streaming connection closed");
        inbound.values().forEach(p -> p.fail(e));
        closed();
        ctx.fireChannelInactive();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        LOG.debug("WebSocket connection failed", "error", String.valueOf(cause.getMessage()));
        ctx.close();
    }

    /** Writes one frame right away (from any thread), without backpressure: for small control messages. */
    protected void sendNow(int channelNumber, byte[] data) {
        channel.writeAndFlush(frame(channelNumber, Unpooled.wrappedBuffer(data)));
    }

    private WebSocketFrame frame(int channelNumber, ByteBuf data) {
        if (!base64) {
            var buf = Unpooled.buffer(1 + data.readableBytes());
            buf.writeByte(channelNumber);
            buf.writeBytes(data);
            data.release();
            return new BinaryWebSocketFrame(buf);
        }
        String text = (char) ('0' + channelNumber) + Base64.getEncoder().encodeToString(ByteBufUtil.getBytes(data));
        data.release();
        return new TextWebSocketFrame(text);
    }

    private final class ChannelOutput extends OutputStream {
        private final int number;
        private final OutboundGate gate = new OutboundGate(OutboundGate.DEFAULT_LIMIT);

        ChannelOutput(int number) {
            this.number = number;
            channel.closeFuture().addListener(f -> gate.fail(new IOException("the streaming connection closed")));
        }

        @Override
        public void write(int b) throws IOException {
            write(new byte[]{(byte) b}, 0, 1);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            while (len > 0) {
                int n = Math.min(len, MAX_FRAME);
                gate.acquire(n);
                channel.writeAndFlush(frame(number, Unpooled.copiedBuffer(b, off, n))).addListener(f -> {
                    gate.release(n);
                    if (!f.isSuccess()) {
                        gate.fail(new IOException("writing to the client failed", f.cause()));
                    }
                });
                off += n;
                len -= n;
            }
        }

        @Override
        public void flush() throws IOException {
            gate.awaitDrained();
        }

        @Override
        public void close() throws IOException {
            // WebSocket channels have no half-close of their own; the connection's close ends them all.
            if (!gate.failed()) {
                gate.awaitDrained();
            }
        }
    }
}
