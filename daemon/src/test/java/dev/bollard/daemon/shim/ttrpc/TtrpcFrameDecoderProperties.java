package dev.bollard.daemon.shim.ttrpc;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * ttrpc frames come from a shim process: whatever bytes arrive, in whatever pieces, the decoder emits frames within
 * the limit or oversize notices, never throws, and frames sent whole come out exactly as sent.
 */
class TtrpcFrameDecoderProperties {

    private static final int LIMIT = 1024;

    record Sent(int streamId, int type, int flags, byte[] data) {
    }

    @Provide
    Arbitrary<List<Sent>> frames() {
        var one = Combinators.combine(Arbitraries.integers(), Arbitraries.integers().between(0, 255),
                Arbitraries.integers().between(0, 255), Arbitraries.bytes().array(byte[].class).ofMaxSize(LIMIT))
                .as(Sent::new);
        return one.list().ofMaxSize(8);
    }

    @Property(tries = 500)
    void framesInAnyFragmentationComeOutAsSent(@ForAll("frames") List<Sent> frames, @ForAll long cuts) {
        var wire = new ByteArrayOutputStream();
        for (Sent s : frames) {
            var h = ByteBuffer.allocate(TtrpcFrame.HEADER_LENGTH).putInt(s.data().length).putInt(s.streamId())
                    .put((byte) s.type()).put((byte) s.flags());
            wire.writeBytes(h.array());
            wire.writeBytes(s.data());
        }
        var out = feed(wire.toByteArray(), cuts);
        assertEquals(frames.size(), out.size());
        for (int i = 0; i < frames.size(); i++) {
            var f = assertInstanceOf(TtrpcFrame.class, out.get(i));
            try {
                assertEquals(frames.get(i).streamId(), f.streamId());
                assertEquals(frames.get(i).type(), f.type());
                assertEquals(frames.get(i).flags(), f.flags());
                byte[] data = new byte[f.payload().readableBytes()];
                f.payload().getBytes(f.payload().readerIndex(), data);
                assertArrayEquals(frames.get(i).data(), data);
            } finally {
                f.release();
            }
        }
    }

    @Property(tries = 1000)
    void arbitraryBytesNeverBreakTheDecoder(@ForAll @Size(max = 3000) byte[] bytes, @ForAll long cuts,
                                            @ForAll @IntRange(min = 0, max = 3) int lengthTweak) {
        byte[] wire = bytes.clone();
        if (wire.length >= 4 && lengthTweak > 0) {
            // mostly plausible lengths, so that frames are also completed, not only left waiting
            int len = lengthTweak == 1 ? wire.length - TtrpcFrame.HEADER_LENGTH : lengthTweak == 2 ? 0 : -1;
            ByteBuffer.wrap(wire).putInt(Math.max(len, lengthTweak == 3 ? -1 : 0));
        }
        for (Object o : feed(wire, cuts)) {
            if (o instanceof TtrpcFrame f) {
                try {
                    assertTrue(f.payload().readableBytes() <= LIMIT);
                } finally {
                    f.release();
                }
            } else {
                var big = assertInstanceOf(TtrpcOversizedFrame.class, o);
                assertTrue(big.length() > LIMIT, big.toString());
            }
        }
    }

    /** Writes {@code wire} in random pieces into a channel with the decoder; what it emitted. */
    private static List<Object> feed(byte[] wire, long cuts) {
        var ch = new EmbeddedChannel(new TtrpcFrameDecoder(LIMIT));
        var r = new Random(cuts);
        int at = 0;
        while (at < wire.length) {
            int n = Math.min(wire.length - at, 1 + r.nextInt(64));
            ByteBuf piece = Unpooled.wrappedBuffer(Arrays.copyOfRange(wire, at, at + n));
            ch.writeInbound(piece);
            at += n;
        }
        var out = new ArrayList<Object>();
        for (Object o; (o = ch.readInbound()) != null; ) {
            out.add(o);
        }
        ch.finishAndReleaseAll();
        return out;
    }
}
