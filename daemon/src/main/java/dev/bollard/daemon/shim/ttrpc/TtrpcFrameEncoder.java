package dev.bollard.daemon.shim.ttrpc;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.CompositeByteBuf;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.EncoderException;
import io.netty.handler.codec.MessageToMessageEncoder;

import java.util.List;

/**
 * {@link TtrpcFrame} → bytes: the 10-byte header followed by the payload, as one composite buffer (the payload is
 * not copied). The frame is released after encoding; the payload's reference moves into the output.
 *
 * <p>A payload over {@link TtrpcFrame#MAX_DATA_LENGTH} fails the write (its promise) with an
 * {@link EncoderException}; callers check the size first to report a clean RESOURCE_EXHAUSTED.
 */
@ChannelHandler.Sharable
public final class TtrpcFrameEncoder extends MessageToMessageEncoder<TtrpcFrame> {

    public static final TtrpcFrameEncoder INSTANCE = new TtrpcFrameEncoder();

    public TtrpcFrameEncoder() {
        super(TtrpcFrame.class);
    }

    @Override
    protected void encode(ChannelHandlerContext ctx, TtrpcFrame frame, List<Object> out) {
        ByteBuf payload = frame.payload();
        int length = payload.readableBytes();
        if (length > TtrpcFrame.MAX_DATA_LENGTH) {
            throw new EncoderException("ttrpc frame data of " + length + " bytes exceeds the maximum of "
                    + TtrpcFrame.MAX_DATA_LENGTH + " (stream " + Integer.toUnsignedString(frame.streamId()) + ")");
        }
        ByteBuf header = ctx.alloc().buffer(TtrpcFrame.HEADER_LENGTH);
        header.writeInt(length);
        header.writeInt(frame.streamId());
        header.writeByte(frame.type());
        header.writeByte(frame.flags());
        if (length == 0) {
            out.add(header);
            return;
        }
        CompositeByteBuf whole = ctx.alloc().compositeBuffer(2);
        whole.addComponents(true, header, payload.retain());
        out.add(whole);
    }
}
