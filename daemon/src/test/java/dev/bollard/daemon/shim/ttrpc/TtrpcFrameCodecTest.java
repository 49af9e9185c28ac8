package dev.bollard.daemon.shim.ttrpc;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.EncoderException;
import org.junit.jupiter.api.Test;

import java.util.HexFormat;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The frame codec against byte sequences written out by hand from PROTOCOL.md: a 10-byte header of data length
 * (u32 big-endian), stream id (u32 big-endian), message type (u8) and flags (u8), then the data.
 */
class TtrpcFrameCodecTest {

    /**
     * A unary request on stream 1: ttrpc.Request{service "s", method "m", payload 0x2a} marshalled by hand
     * (0a 01 73 | 12 01 6d | 1a 01 2a = 9 bytes), type 0x01, flags 0.
     */
    private static final String REQUEST_DATA = "0a0173 12016d 1a012a";
    private static final String REQUEST_FRAME = "00000009 00000001 01 00 " + REQUEST_DATA;
    /** The answer on stream 1: ttrpc.Response{status {code 5 "x"}, payload 0x07}; type 0x02, flags 0. */
    private static final String RESPONSE_DATA = "0a05 0805 120178 120107";
    private static final String RESPONSE_FRAME = "0000000a 00000001 02 00 " + RESPONSE_DATA;

    private static byte[] hex(String s) {
        return HexFormat.of().parseHex(s.replace(" ", ""));
    }

    private static EmbeddedChannel decoderChannel() {
        return new EmbeddedChannel(new TtrpcFrameDecoder());
    }

    @Test
    void encodesARequestFrameExactly() {
        var ch = new EmbeddedChannel(new TtrpcFrameEncoder());
        ByteBuf payload = Unpooled.wrappedBuffer(hex(REQUEST_DATA));
        assertTrue(ch.writeOutbound(new TtrpcFrame(1, TtrpcFrame.TYPE_REQUEST, 0, payload)));
        ByteBuf out = ch.readOutbound();
        assertArrayEquals(hex(REQUEST_FRAME), ByteBufUtil.getBytes(out));
        out.release();
        assertEquals(0, payload.refCnt(), "the encoder released the frame once its bytes were written");
        assertNull(ch.readOutbound());
        ch.finishAndReleaseAll();
    }

    @Test
    void encodesHighStreamIdsAndFlagsUnsigned() {
        var ch = new EmbeddedChannel(new TtrpcFrameEncoder());
        // stream 0xfffffffd (odd, > 2^31), data frame, remote closed | no data, empty data
        ch.writeOutbound(new TtrpcFrame(0xfffffffd, TtrpcFrame.TYPE_DATA,
                TtrpcFrame.FLAG_REMOTE_CLOSED | TtrpcFrame.FLAG_NO_DATA, Unpooled.EMPTY_BUFFER));
        ByteBuf out = ch.readOutbound();
        assertArrayEquals(hex("00000000 fffffffd 03 05"), ByteBufUtil.getBytes(out));
        out.release();
        ch.finishAndReleaseAll();
    }

    @Test
    void decodesAResponseFrame() {
        var ch = decoderChannel();
        ByteBuf in = Unpooled.wrappedBuffer(hex(RESPONSE_FRAME));
        assertTrue(ch.writeInbound(in));
        TtrpcFrame frame = ch.readInbound();
        assertEquals(1, frame.streamId());
        assertEquals(TtrpcFrame.TYPE_RESPONSE, frame.type());
        assertEquals(0, frame.flags());
        assertArrayEquals(hex(RESPONSE_DATA), ByteBufUtil.getBytes(frame.payload()));
        assertTrue(frame.release());
        assertEquals(0, in.refCnt(), "input fully released once the frame is");
        assertNull(ch.readInbound());
        assertTrue(!ch.finish());
    }

    @Test
    void decodesHeaderFieldsAsUnsigned() {
        var ch = decoderChannel();
        ch.writeInbound(Unpooled.wrappedBuffer(hex("00000001 80000001 ff 87 99")));
        TtrpcFrame frame = ch.readInbound();
        assertEquals(0x80000001L, frame.streamIdUnsigned());
        assertEquals(0xff, frame.type(), "an unknown type is passed on, for the handler to ignore");
        assertEquals(0x87, frame.flags());
        assertEquals(1, frame.payload().readableBytes());
        frame.release();
        ch.finishAndReleaseAll();
    }

    @Test
    void decodesInputArrivingOneByteAtATime() {
        var ch = decoderChannel();
        byte[] bytes = hex(REQUEST_FRAME);
        for (int i = 0; i < bytes.length - 1; i++) {
            ch.writeInbound(Unpooled.wrappedBuffer(new byte[] {bytes[i]}));
            assertNull(ch.readInbound(), "nothing before the last byte (" + i + ")");
        }
        ch.writeInbound(Unpooled.wrappedBuffer(new byte[] {bytes[bytes.length - 1]}));
        TtrpcFrame frame = ch.readInbound();
        assertEquals(1, frame.streamId());
        assertEquals(TtrpcFrame.TYPE_REQUEST, frame.type());
        assertArrayEquals(hex(REQUEST_DATA), ByteBufUtil.getBytes(frame.payload()));
        frame.release();
        assertNull(ch.readInbound());
        assertTrue(!ch.finish());
    }

    @Test
    void decodesTwoFramesFromOneBufferAndAThirdSplitAcrossReads() {
        var ch = decoderChannel();
        String third = "00000002 00000005 01 02 abcd"; // stream 5, request, remote open
        byte[] thirdBytes = hex(third);
        ByteBuf in = Unpooled.buffer();
        in.writeBytes(hex(REQUEST_FRAME));
        in.writeBytes(hex("00000000 00000003 01 00")); // stream 3, empty request
        in.writeBytes(thirdBytes, 0, 4);
        ch.writeInbound(in);
        TtrpcFrame first = ch.readInbound();
        TtrpcFrame second = ch.readInbound();
        assertNull(ch.readInbound());
        assertEquals(1, first.streamId());
        assertEquals(9, first.payload().readableBytes());
        assertEquals(3, second.streamId());
        assertEquals(0, second.payload().readableBytes());
        ch.writeInbound(Unpooled.wrappedBuffer(thirdBytes, 4, thirdBytes.length - 4));
        TtrpcFrame last = ch.readInbound();
        assertEquals(5, last.streamId());
        assertTrue(last.hasFlag(TtrpcFrame.FLAG_REMOTE_OPEN));
        assertArrayEquals(hex("abcd"), ByteBufUtil.getBytes(last.payload()));
        first.release();
        second.release();
        last.release();
        assertEquals(0, in.refCnt());
        assertTrue(!ch.finish());
    }

    @Test
    void acceptsExactlyTheMaximumDataLength() {
        var ch = decoderChannel();
        ByteBuf in = Unpooled.buffer(TtrpcFrame.HEADER_LENGTH + TtrpcFrame.MAX_DATA_LENGTH);
        in.writeBytes(hex("00400000 00000007 02 00")); // 4 MiB
        in.writeZero(TtrpcFrame.MAX_DATA_LENGTH);
        ch.writeInbound(in);
        TtrpcFrame frame = ch.readInbound();
        assertEquals(TtrpcFrame.MAX_DATA_LENGTH, frame.payload().readableBytes());
        frame.release();
        ch.finishAndReleaseAll();
    }

    @Test
    void oversizedFrameIsReportedAndSkippedThenDecodingResumes() {
        var ch = decoderChannel();
        int length = TtrpcFrame.MAX_DATA_LENGTH + 1;
        ch.writeInbound(Unpooled.wrappedBuffer(hex("00400001 00000009 01 00")));
        var oversized = assertInstanceOf(TtrpcOversizedFrame.class, ch.readInbound());
        assertEquals(new TtrpcOversizedFrame(9, TtrpcFrame.TYPE_REQUEST, 0, length), oversized);
        assertEquals("message length 4194305 exceed maximum message size of 4194304", oversized.message());
        // The data streams in and is dropped chunk by chunk, never accumulated.
        int chunk = 64 * 1024;
        int sent = 0;
        while (sent < length - 5) {
            int n = Math.min(chunk, length - 5 - sent);
            ch.writeInbound(Unpooled.wrappedBuffer(new byte[n]));
            sent += n;
            assertNull(ch.readInbound());
        }
        // The last 5 bytes of the oversized data share a read with the next frame.
        ByteBuf tail = Unpooled.buffer();
        tail.writeZero(5);
        tail.writeBytes(hex(REQUEST_FRAME.replace("00000001 01", "0000000b 01")));
        ch.writeInbound(tail);
        TtrpcFrame next = ch.readInbound();
        assertEquals(11, next.streamId());
        assertArrayEquals(hex(REQUEST_DATA), ByteBufUtil.getBytes(next.payload()));
        next.release();
        assertTrue(!ch.finish());
    }

    @Test
    void aHugeAnnouncedLengthIsOversizedToo() {
        var ch = decoderChannel();
        ch.writeInbound(Unpooled.wrappedBuffer(hex("ffffffff 00000001 02 00")));
        var oversized = assertInstanceOf(TtrpcOversizedFrame.class, ch.readInbound());
        assertEquals(0xffffffffL, oversized.length());
        ch.finishAndReleaseAll();
    }

    @Test
    void encoderRefusesOversizedDataAndReleasesIt() {
        var ch = new EmbeddedChannel(new TtrpcFrameEncoder());
        ByteBuf payload = Unpooled.buffer(TtrpcFrame.MAX_DATA_LENGTH + 1).writeZero(TtrpcFrame.MAX_DATA_LENGTH + 1);
        var e = assertThrows(EncoderException.class,
                () -> ch.writeOutbound(new TtrpcFrame(1, TtrpcFrame.TYPE_REQUEST, 0, payload)));
        assertTrue(e.getMessage().contains("4194305"), e.getMessage());
        assertEquals(0, payload.refCnt());
        assertNull(ch.readOutbound());
        ch.finishAndReleaseAll();
    }

    @Test
    void roundTripsThroughEncoderAndDecoder() {
        var ch = new EmbeddedChannel(new TtrpcFrameDecoder(), new TtrpcFrameEncoder());
        ch.writeOutbound(new TtrpcFrame(3, TtrpcFrame.TYPE_DATA, TtrpcFrame.FLAG_REMOTE_CLOSED,
                Unpooled.wrappedBuffer(hex("0102"))));
        ByteBuf wire = ch.readOutbound();
        ch.writeInbound(wire);
        TtrpcFrame frame = ch.readInbound();
        assertEquals("TtrpcFrame[stream=3, type=data, flags=0x1, length=2]", frame.toString());
        frame.release();
        assertTrue(!ch.finish());
    }
}
