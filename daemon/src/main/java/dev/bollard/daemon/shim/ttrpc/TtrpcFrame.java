package dev.bollard.daemon.shim.ttrpc;

import io.netty.buffer.ByteBuf;
import io.netty.util.ReferenceCounted;

import java.util.Objects;

/**
 * One ttrpc message frame: the 10-byte header (data length, stream id, message type, flags) and its data.
 *
 * <pre>
 *  0               4               8       9       10
 *  +---------------+---------------+-------+-------+----------------+
 *  | length (u32)  | stream id(u32)| type  | flags | data (length)  |
 *  +---------------+---------------+-------+-------+----------------+   big-endian
 * </pre>
 *
 * <p><b>Ownership.</b> A frame owns one reference to {@link #payload()} and is itself {@link ReferenceCounted} by
 * delegating to it, so Netty's usual rules apply: whoever receives a frame (a handler reading it, the encoder writing
 * it) releases it exactly once, or passes it on. {@link TtrpcFrameDecoder} emits frames whose payload is a retained
 * slice of its input; {@link TtrpcFrameEncoder} releases the frame after writing.
 *
 * <p>Stream id, type and flags are unsigned on the wire; they are held in {@code int}s (type and flags 0..255,
 * stream id as the raw 32 bits, see {@link #streamIdUnsigned()}). Unknown types and flags are kept, not rejected:
 * the protocol asks receivers to ignore what they do not understand.
 */
public record TtrpcFrame(int streamId, int type, int flags, ByteBuf payload) implements ReferenceCounted {

    /** Size of the fixed header. */
    public static final int HEADER_LENGTH = 10;
    /** Largest data length the protocol allows (4 MiB); anything larger is rejected. */
    public static final int MAX_DATA_LENGTH = 4 << 20;

    /** Initiates a stream; data is a marshalled {@code ttrpc.Request}. */
    public static final int TYPE_REQUEST = 0x1;
    /** Final message of a stream; data is a marshalled {@code ttrpc.Response}. */
    public static final int TYPE_RESPONSE = 0x2;
    /** Stream data on an open (non-unary) stream; data is the marshalled stream message itself. */
    public static final int TYPE_DATA = 0x3;

    /** Request / data: the sender sends no more data on this stream (non-unary). */
    public static final int FLAG_REMOTE_CLOSED = 0x1;
    /** Request: non-unary, the sender is still sending data. */
    public static final int FLAG_REMOTE_OPEN = 0x2;
    /** Data: the frame carries no data (a pure close). */
    public static final int FLAG_NO_DATA = 0x4;

    public TtrpcFrame {
        Objects.requireNonNull(payload, "payload");
        if ((type & ~0xff) != 0 || (flags & ~0xff) != 0) {
            throw new IllegalArgumentException("type and flags are single bytes: type=" + type + " flags=" + flags);
        }
    }

    /** The stream id as the unsigned 32-bit number on the wire. */
    public long streamIdUnsigned() {
        return Integer.toUnsignedLong(streamId);
    }

    public boolean hasFlag(int flag) {
        return (flags & flag) == flag;
    }

    public static String typeName(int type) {
        return switch (type) {
            case TYPE_REQUEST -> "request";
            case TYPE_RESPONSE -> "response";
            case TYPE_DATA -> "data";
            default -> "unknown(0x" + Integer.toHexString(type) + ")";
        };
    }

    @Override
    public String toString() {
        return "TtrpcFrame[stream=" + Integer.toUnsignedString(streamId) + ", type=" + typeName(type)
                + ", flags=0x" + Integer.toHexString(flags) + ", length=" + payload.readableBytes() + "]";
    }

    @Override
    public int refCnt() {
        return payload.refCnt();
    }

    @Override
    public TtrpcFrame retain() {
        payload.retain();
        return this;
    }

    @Override
    public TtrpcFrame retain(int increment) {
        payload.retain(increment);
        return this;
    }

    @Override
    public TtrpcFrame touch() {
        payload.touch();
        return this;
    }

    @Override
    public TtrpcFrame touch(Object hint) {
        payload.touch(hint);
        return this;
    }

    @Override
    public boolean release() {
        return payload.release();
    }

    @Override
    public boolean release(int decrement) {
        return payload.release(decrement);
    }
}
