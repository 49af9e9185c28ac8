package dev.bollard.daemon.shim.ttrpc;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.ByteToMessageDecoder;

import java.util.List;

/**
 * Bytes → {@link TtrpcFrame}. Waits for a whole header and then for the whole data before emitting, so input may
 * arrive in any fragmentation; several frames in one read come out as several messages.
 *
 * <p>The emitted frame's payload is a retained slice of the cumulation buffer (no copy); the next handler owns it
 * and must release it.
 *
 * <p>A header announcing more than {@link TtrpcFrame#MAX_DATA_LENGTH} bytes yields a {@link TtrpcOversizedFrame}
 * instead, after which the announced number of bytes is skipped as it arrives; decoding resumes with the next
 * header. This mirrors the reference implementation, which discards the data and reports RESOURCE_EXHAUSTED for
 * that one stream rather than dropping the connection.
 */
public final class TtrpcFrameDecoder extends ByteToMessageDecoder {

    private final int maxDataLength;
    /** Bytes of an oversized frame still to skip. */
    private long discarding;

    public TtrpcFrameDecoder() {
        this(TtrpcFrame.MAX_DATA_LENGTH);
    }

    /** A smaller limit is allowed (tests, or a peer known to send only small messages); never a larger one. */
    public TtrpcFrameDecoder(int maxDataLength) {
        if (maxDataLength < 0 || maxDataLength > TtrpcFrame.MAX_DATA_LENGTH) {
            throw new IllegalArgumentException("maxDataLength must be within 0.." + TtrpcFrame.MAX_DATA_LENGTH);
        }
        this.maxDataLength = maxDataLength;
    }

    @Override
    protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
        if (discarding > 0) {
            int skip = (int) Math.min(discarding, in.readableBytes());
            in.skipBytes(skip);
            discarding -= skip;
            if (discarding > 0) {
                return;
            }
        }
        if (in.readableBytes() < TtrpcFrame.HEADER_LENGTH) {
            return;
        }
        int start = in.readerIndex();
        long length = in.getUnsignedInt(start);
        int streamId = in.getInt(start + 4);
        int type = in.getUnsignedByte(start + 8);
        int flags = in.getUnsignedByte(start + 9);
        if (length > maxDataLength) {
            in.skipBytes(TtrpcFrame.HEADER_LENGTH);
            discarding = length;
            out.add(new TtrpcOversizedFrame(streamId, type, flags, length));
            return;
        }
        if (in.readableBytes() < TtrpcFrame.HEADER_LENGTH + length) {
            return;
        }
        in.skipBytes(TtrpcFrame.HEADER_LENGTH);
        out.add(new TtrpcFrame(streamId, type, flags, in.readRetainedSlice((int) length)));
    }
}
