package dev.bollard.daemon.streaming;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPromise;
import io.netty.handler.codec.http.websocketx.BinaryWebSocketFrame;
import io.netty.handler.codec.http.websocketx.CloseWebSocketFrame;
import io.netty.handler.codec.http.websocketx.PingWebSocketFrame;
import io.netty.handler.codec.http.websocketx.PongWebSocketFrame;
import io.netty.handler.codec.http.websocketx.WebSocketFrame;
import io.netty.util.ReferenceCountUtil;

/**
 * A byte stream carried in WebSocket binary messages, for SPDY tunnelled over WebSocket
 * ({@code SPDY/3.1+portforward.k8s.io}, what kubectl 1.31+ tries first for port-forward): message boundaries mean
 * nothing, so inbound messages become plain bytes and every outbound buffer one message.
 */
final class WebSocketTunnel extends ChannelDuplexHandler {

    static final String PROTOCOL = "SPDY/3.1+portforward.k8s.io";

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        switch (msg) {
            case BinaryWebSocketFrame f -> ctx.fireChannelRead(f.content());
            case PingWebSocketFrame f -> ctx.writeAndFlush(new PongWebSocketFrame(f.content()));
            case CloseWebSocketFrame f -> {
                f.release();
                ctx.writeAndFlush(new CloseWebSocketFrame(1000, "")).addListener(ChannelFutureListener.CLOSE);
            }
            case WebSocketFrame f -> {
                f.release();
                ctx.writeAndFlush(new CloseWebSocketFrame(1003, "binary messages only"))
                        .addListener(ChannelFutureListener.CLOSE);
            }
            default -> {
                ReferenceCountUtil.release(msg);
                ctx.close();
            }
        }
    }

    @Override
    public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
        if (msg instanceof ByteBuf buf) {
            if (!buf.isReadable()) {
                buf.release();
                ctx.write(io.netty.buffer.Unpooled.EMPTY_BUFFER, promise);
                return;
            }
            ctx.write(new BinaryWebSocketFrame(buf), promise);
            return;
        }
        ctx.write(msg, promise);
    }
}
