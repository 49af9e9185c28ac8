package dev.bollard.daemon.testkit;

import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The property harness itself: same samples every run, a failure names what replays it, and the replay does. */
class TriesTest {

    record Pair(int n, byte[] bytes) {
    }

    private static final Gen<Pair> PAIRS = r -> new Pair(Gen.ints(0, 1000).next(r), Gen.bytes(40).next(r));

    @Test
    void triesDrawTheSameSamplesEveryRunAndDifferentOnesPerProperty() throws Throwable {
        assertEquals(seen("a"), seen("a"));
        assertNotEquals(seen("a"), seen("b"));
        assertEquals(50, seen("a").size());
    }

    @Test
    void aFailureNamesItsSampleAndItsSeedAndThatSeedGivesTheSameSample() {
        var failing = Tries.forAll("p", 200, PAIRS, p -> assertTrue(p.n() < 900, "too big")).toList();
        AssertionError failure = null;
        for (DynamicTest t : failing) {
            try {
                t.getExecutable().execute();
            } catch (AssertionError e) {
                failure = e;
                break;
            } catch (Throwable e) {
                throw new AssertionError(e);
            }
        }
        assertTrue(failure != null, "none of 200 tries drew n >= 900");
        String report = failure.getMessage();
        var m = Pattern.compile("replay=0x([0-9a-f]+)").matcher(report);
        assertTrue(m.find(), report);
        var replayed = Tries.sample(PAIRS, Long.parseUnsignedLong(m.group(1), 16));
        assertTrue(replayed.n() >= 900, report);
        assertTrue(report.contains("sample: Pair[n=" + replayed.n() + ", bytes=bytes[" + replayed.bytes().length + "]"),
                report);
        assertTrue(report.contains("too big"), report);
    }

    @Test
    void bytesAreShownEscapedWithLongRunsCounted() {
        byte[] b = new byte[20];
        b[0] = 'a';
        b[1] = '"';
        b[2] = '\n';
        assertEquals("bytes[20] \"a\\\"\\n\\x00{17}\"", Tries.describe(b));
    }

    @Test
    void generatorsStayInTheirBounds() {
        var r = new java.util.SplittableRandom(1);
        for (int i = 0; i < 2000; i++) {
            int n = Gen.ints(-3, 3).next(r);
            assertTrue(n >= -3 && n <= 3, Integer.toString(n));
            assertTrue(Gen.bytes(5).next(r).length <= 5);
            assertTrue(Gen.strings(7).next(r).length() <= 7);
            assertTrue(Gen.lists(Gen.booleans(), 2).next(r).size() <= 2);
        }
        assertThrows(IllegalArgumentException.class, () -> Gen.ints(2, 1));
    }

    private static List<String> seen(String property) throws Throwable {
        var out = new ArrayList<String>();
        for (DynamicTest t : Tries.forAll(property, 50, PAIRS, p -> out.add(Tries.describe(p))).toList()) {
            t.getExecutable().execute();
        }
        return out;
    }
}
