package dev.bollard.daemon.shim.ttrpc;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import dev.bollard.daemon.testkit.Gen;
import dev.bollard.daemon.testkit.Tries;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;

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

    /** Frames sent whole, and the seed of the pieces the wire is cut in. */
    record Whole(List<Sent> frames, long cuts) {
    }

    @TestFactory
    Stream<DynamicTest> framesInAnyFragmentationComeOutAsSent() {
        Gen<Integer> octet = Gen.ints(0, 255);
        Gen<byte[]> data = Gen.bytes(LIMIT);
        Gen<Sent> one = r -> new Sent(r.nextInt(), octet.next(r), octet.next(r), data.next(r));
        Gen<List<Sent>> frames = Gen.lists(one, 8);
        return Tries.forAll(500, r -> new Whole(frames.next(r), r.nextLong()),
                w -> comeOutAsSent(w.frames(), w.cuts()));
    }

    private static void comeOutAsSent(List<Sent> frames, long cuts) {
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

    /** Any bytes, how their first length field is made plausible (0: not), and the seed of the cuts. */
    record Arbitrary(byte[] bytes, long cuts, int lengthTweak) {
    }

    @TestFactory
    Stream<DynamicTest> arbitraryBytesNeverBreakTheDecoder() {
        Gen<byte[]> bytes = Gen.bytes(3000);
        Gen<Integer> tweak = Gen.ints(0, 3);
        return Tries.forAll(1000, r -> new Arbitrary(bytes.next(r), r.nextLong(), tweak.next(r)),
                a -> neverBreak(a.bytes(), a.cuts(), a.lengthTweak()));
    }

    private static void neverBreak(byte[] bytes, long cuts, int lengthTweak) {
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
