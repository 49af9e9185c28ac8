package dev.bollard.vm;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class AgentFrameTest {

    @Test
    void aRequestIsAHeaderAndNulTerminatedFields() {
        byte[] bytes = AgentFrame.request(0x01020304, List.of("start", "7")).encode();
        assertArrayEquals(new byte[] {0, 0, 0, 8, 1, 1, 2, 3, 4, 's', 't', 'a', 'r', 't', 0, '7', 0}, bytes);
    }

    @Test
    void framesRoundTripThroughAStream() throws IOException {
        var stdout = new AgentFrame(AgentFrame.STDOUT, 9, new byte[] {1, 2, 0, 3});
        var exit = new AgentFrame(AgentFrame.EXIT, 9, AgentFrame.encodeFields(List.of("137")));
        byte[] both = concat(stdout.encode(), exit.encode());
        var in = new ByteArrayInputStream(both);
        AgentFrame first = AgentFrame.read(in);
        assertEquals(AgentFrame.STDOUT, first.type());
        assertEquals(9, first.id());
        assertArrayEquals(new byte[] {1, 2, 0, 3}, first.payload());
        assertEquals(List.of("137"), AgentFrame.read(in).fields());
        assertThrows(EOFException.class, () -> AgentFrame.read(in));
    }

    @Test
    void anUnterminatedLastFieldIsStillRead() {
        var frame = new AgentFrame(AgentFrame.RESPONSE, 1, new byte[] {'o', 'k', 0, '4', '2'});
        assertEquals(List.of("ok", "42"), frame.fields());
    }

    @Test
    void aFrameCutShortIsAnEof() {
        byte[] whole = new AgentFrame(AgentFrame.STDERR, 1, new byte[] {1, 2, 3}).encode();
        var in = new ByteArrayInputStream(Arrays.copyOf(whole, whole.length - 1));
        var e = assertThrows(EOFException.class, () -> AgentFrame.read(in));
        assertEquals("agent channel closed inside a frame", e.getMessage());
    }

    @Test
    void anOversizedLengthIsRefusedBeforeReadingIt() {
        byte[] header = ByteBuffer.allocate(9).putInt(AgentFrame.MAX_PAYLOAD + 1).put((byte) 4).putInt(1).array();
        var e = assertThrows(IOException.class, () -> AgentFrame.read(new ByteArrayInputStream(header)));
        assertEquals("agent frame of 1048577 bytes is over the limit", e.getMessage());
        assertThrows(IllegalArgumentException.class,
                () -> new AgentFrame(AgentFrame.STDIN, 1, new byte[AgentFrame.MAX_PAYLOAD + 1]));
    }

    @Test
    void aFieldWithANulIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> AgentFrame.encodeFields(List.of("a\0b")));
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
