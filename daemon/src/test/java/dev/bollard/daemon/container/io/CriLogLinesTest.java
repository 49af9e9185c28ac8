package dev.bollard.daemon.container.io;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CriLogLinesTest {

    private static final Instant T = Instant.parse("2016-10-06T00:17:09.669794202Z");

    @Test
    void timestampsAreGoRfc3339Nano() {
        assertEquals("2016-10-06T00:17:09.669794202Z", CriLogLines.formatTimestamp(T));
        assertEquals("2016-10-06T00:17:09.6697942Z",
                CriLogLines.formatTimestamp(Instant.parse("2016-10-06T00:17:09.669794200Z")));
        assertEquals("2016-10-06T00:17:09.5Z", CriLogLines.formatTimestamp(Instant.parse("2016-10-06T00:17:09.5Z")));
        assertEquals("2016-10-06T00:17:09.000000001Z",
                CriLogLines.formatTimestamp(Instant.parse("2016-10-06T00:17:09.000000001Z")));
        assertEquals("2016-10-06T00:17:09Z", CriLogLines.formatTimestamp(Instant.parse("2016-10-06T00:17:09Z")));
        assertEquals("0001-01-01T00:00:00Z", CriLogLines.formatTimestamp(Instant.parse("0001-01-01T00:00:00Z")));
    }

    @Test
    void parsesEntries() {
        var l = CriLogLines.parse("2016-10-06T00:17:09.669794202Z stdout F hello world\n".getBytes()).orElseThrow();
        assertEquals(T, l.time());
        assertEquals("stdout", l.stream());
        assertFalse(l.partial());
        assertEquals("hello world", l.text());

        var p = CriLogLines.parse("2016-10-06T02:17:09.5+02:00 stderr P:x  two spaces".getBytes()).orElseThrow();
        assertEquals(Instant.parse("2016-10-06T00:17:09.5Z"), p.time());
        assertTrue(p.partial());
        assertEquals(" two spaces", p.text());

        var empty = CriLogLines.parse("2016-10-06T00:17:09Z stdout F \n".getBytes()).orElseThrow();
        assertEquals(0, empty.content().length);
        var noContent = CriLogLines.parse("2016-10-06T00:17:09Z stdout F".getBytes()).orElseThrow();
        assertEquals(0, noContent.content().length);

        for (String bad : List.of("", "garbage", "2016-10-06T00:17:09Z stdin F x", "yesterday stdout F x",
                "2016-10-06T00:17:09Z stdout X x", "2016-10-06T00:17:09Z stdout")) {
            assertTrue(CriLogLines.parse(bad.getBytes()).isEmpty(), bad);
        }
    }

    @Test
    void joinsPartialChunksPerStream() {
        byte[] log = ("""
                2016-10-06T00:17:09Z stdout P ab
                2016-10-06T00:17:10Z stderr F e1
                2016-10-06T00:17:11Z stdout P cd
                2016-10-06T00:17:12Z stdout F ef
                2016-10-06T00:17:13Z stderr P tail
                not a log line
                """).getBytes();
        var joined = CriLogLines.joinPartials(CriLogLines.parseAll(log));
        assertEquals(3, joined.size());
        assertEquals("e1", joined.get(0).text());
        assertEquals("abcdef", joined.get(1).text());
        assertEquals(Instant.parse("2016-10-06T00:17:09Z"), joined.get(1).time());
        assertFalse(joined.get(1).partial());
        assertEquals("tail", joined.get(2).text());
        assertTrue(joined.get(2).partial());
    }

    private static List<CriLogLines.Line> split(int max, String... chunks) {
        var s = new CriLineSplitter("stdout", max);
        var out = new ByteArrayOutputStream();
        for (String c : chunks) {
            byte[] b = c.getBytes(StandardCharsets.UTF_8);
            s.feed(b, 0, b.length, T, out);
        }
        s.finish(T, out);
        return CriLogLines.parseAll(out.toByteArray());
    }

    private static String render(List<CriLogLines.Line> lines) {
        var sb = new StringBuilder();
        for (var l : lines) {
            sb.append(l.partial() ? 'P' : 'F').append('[').append(l.text()).append(']');
        }
        return sb.toString();
    }

    @Test
    void splitterCutsLikeContainerd() {
        assertEquals("F[abc]F[]F[de]", render(split(4, "abc\n\nde\n")));
        // Exactly the limit is one F entry; one more byte makes a P chunk.
        assertEquals("F[abcd]P[abcd]F[e]", render(split(4, "abcd\nabcde\n")));
        // A line arriving in pieces is one entry.
        assertEquals("F[abc]", render(split(0, "a", "b", "c\n")));
        assertEquals("P[abcd]P[ef]", render(split(4, "ab", "cdef")));
        // CRLF endings lose the CR, also when the CR ends a full chunk; a lone CR stays.
        assertEquals("F[ab]F[abc]F[a\rb]", render(split(4, "ab\r\nabc\r", "\na\rb\n")));
        assertEquals("F[abcd]", render(split(4, "abcd\r\n")));
        assertEquals("F[abcd]", render(split(4, "abcd\r", "\n")));
        assertEquals("P[abcd]F[\rx]P[abcd]P[\r]", render(split(4, "abcd\rx\nabcd\r")));
        // Unlimited lines are never cut.
        assertEquals(100_000, split(0, "x".repeat(100_000) + "\n").getFirst().content().length);
        assertEquals("", render(split(4)));
    }

    @Test
    void entriesHaveTheExactCriLayout() {
        var s = new CriLineSplitter("stderr", 16);
        var out = new ByteArrayOutputStream();
        byte[] b = "hi\n".getBytes();
        s.feed(b, 0, b.length, T, out);
        assertArrayEquals("2016-10-06T00:17:09.669794202Z stderr F hi\n".getBytes(), out.toByteArray());
    }
}
