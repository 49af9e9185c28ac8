package dev.bollard.daemon.container.io;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ExecOutputLimitTest {

    private static byte[] bytes(int n, char c) {
        byte[] b = new byte[n];
        Arrays.fill(b, (byte) c);
        return b;
    }

    @Test
    void outputWithinTheBudgetIsUntouched() {
        byte[] out = bytes(600, 'o');
        byte[] err = bytes(400, 'e');
        var f = ExecOutputLimit.fit(out, err, 1000);
        assertArrayEquals(out, f.stdout());
        assertArrayEquals(err, f.stderr());
    }

    @Test
    void twoBigStreamsShareTheBudgetEachCutWithAMarker() {
        var f = ExecOutputLimit.fit(bytes(5000, 'o'), bytes(5000, 'e'), 1000);
        assertEquals(1000, f.stdout().length + f.stderr().length);
        assertEquals(500, f.stdout().length);
        String out = new String(f.stdout(), StandardCharsets.UTF_8);
        assertTrue(out.startsWith("ooo") && out.endsWith(ExecOutputLimit.marker(5000)), out);
        assertTrue(new String(f.stderr(), StandardCharsets.UTF_8).endsWith(ExecOutputLimit.marker(5000)));
    }

    @Test
    void aSmallStreamKeepsAllAndTheOtherGetsTheRest() {
        byte[] err = bytes(100, 'e');
        var f = ExecOutputLimit.fit(bytes(5000, 'o'), err, 1000);
        assertArrayEquals(err, f.stderr(), "stderr fits in its half: kept whole");
        assertEquals(900, f.stdout().length);
        assertTrue(new String(f.stdout(), StandardCharsets.UTF_8).endsWith(ExecOutputLimit.marker(5000)));
    }

    @Test
    void theRealBudgetLeavesRoomForFraming() {
        int cap = 16 << 20;
        var f = ExecOutputLimit.fit(bytes(cap, 'o'), bytes(cap, 'e'));
        assertTrue(f.stdout().length + f.stderr().length <= ExecOutputLimit.KUBELET_MAX_MESSAGE_BYTES - 1024);
    }
}
