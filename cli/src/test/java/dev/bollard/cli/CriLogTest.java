package dev.bollard.cli;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

class CriLogTest {

    private Path dir;

    @BeforeEach
    void dir() throws Exception {
        dir = Files.createTempDirectory("bollard-log-");
    }

    @AfterEach
    void clean() throws Exception {
        TestFiles.deleteTree(dir);
    }

    private static CriLog.Record parse(String line) {
        byte[] b = line.getBytes(StandardCharsets.UTF_8);
        return CriLog.parse(b, 0, b.length);
    }

    @Test
    void recordsParse() {
        var r = parse("2024-01-02T03:04:05.123456789Z stderr P  two spaces kept ");
        assertEquals("2024-01-02T03:04:05.123456789Z", r.timestamp());
        assertEquals(Instant.parse("2024-01-02T03:04:05.123456789Z"), r.time());
        assertEquals(CriLog.Stream.STDERR, r.stream());
        assertEquals(true, r.partial());
        assertEquals(" two spaces kept ", new String(r.content(), StandardCharsets.UTF_8));
        assertEquals("", new String(parse("2024-01-02T03:04:05+01:00 stdout F").content(), StandardCharsets.UTF_8));
        assertEquals("x", new String(parse("2024-01-02T03:04:05Z stdout F:more x").content(), StandardCharsets.UTF_8));
        assertNull(parse("not a record"));
        assertNull(parse("2024-01-02T03:04:05Z stdin F x"));
        assertNull(parse("2024-01-02T03:04:05Z stdout X x"));
        assertNull(parse("yesterday stdout F x"));
    }

    @Test
    void partialsJoinPerStreamAndTailCountsLines() throws Exception {
        Path log = Files.writeString(dir.resolve("0.log"), """
                2024-01-02T03:04:01Z stdout P a
                2024-01-02T03:04:02Z stderr P x
                2024-01-02T03:04:03Z stdout P b
                garbage
                2024-01-02T03:04:04Z stdout F c
                2024-01-02T03:04:05Z stderr F y
                2024-01-02T03:04:06Z stdout F d
                2024-01-02T03:04:07Z stdout P unfinished""");
        var joiner = new CriLog.Joiner();
        var lines = new java.util.ArrayList<CriLog.Line>();
        long consumed = CriLog.readAll(log, new CriLog.Options(null, -1), joiner, lines::add);
        assertEquals(List.of("abc", "xy", "d"), lines.stream().map(CriLog.Line::text).toList());
        assertEquals("2024-01-02T03:04:01Z", lines.get(0).timestamp());
        assertEquals(CriLog.Stream.STDERR, lines.get(1).stream());
        assertEquals(1, joiner.malformed());
        assertEquals(Files.size(log) - "2024-01-02T03:04:07Z stdout P unfinished".length(), consumed);

        assertEquals(List.of("xy", "d"), CriLog.lines(log, new CriLog.Options(null, 2)).stream().map(CriLog.Line::text).toList());
        assertEquals(List.of(), CriLog.lines(log, new CriLog.Options(null, 0)));
        assertEquals(List.of("xy", "d"), CriLog.lines(log, new CriLog.Options(Instant.parse("2024-01-02T03:04:02Z"), -1))
                .stream().map(CriLog.Line::text).toList());
    }

    @Test
    void followReadsGrowthRotationAndTruncationUntilStopped() throws Exception {
        Path log = Files.writeString(dir.resolve("0.log"), "2024-01-02T03:04:01Z stdout F one\n2024-01-02T03:04:02Z stdout F tw");
        var joiner = new CriLog.Joiner();
        var seen = new CopyOnWriteArrayList<String>();
        long offset = CriLog.readAll(log, new CriLog.Options(null, -1), joiner, l -> seen.add(l.text()));
        var polls = new AtomicInteger();
        // Each poll is one step of a writer: finish a record, rotate, write the new file, truncate it, then stop.
        CriLog.follow(log, offset, new CriLog.Options(null, -1), joiner, l -> seen.add(l.text()), () -> {
            try {
                switch (polls.incrementAndGet()) {
                    case 1 -> append(log, "o\n2024-01-02T03:04:03Z stdout F three\n2024-01-02T03:04:04Z stdout P fo\n");
                    case 2 -> {
                        append(log, "2024-01-02T03:04:04Z stdout F ur\n");
                        Files.move(log, dir.resolve("0.log.20240102-030405"));
                        append(log, "2024-01-02T03:04:05Z stdout F five\n");
                    }
                    case 3 -> Files.writeString(log, "2024-01-02T03:04:06Z stderr F six\n", StandardOpenOption.TRUNCATE_EXISTING);
                    default -> {
                        return false;
                    }
                }
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
            return true;
        }, 1);
        assertEquals(List.of("one", "two", "three", "four", "five", "six"), seen);
    }

    private static void append(Path file, String text) throws java.io.IOException {
        Files.writeString(file, text, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
    }

    @Test
    void sinceTakesDurationsAndTimestamps() {
        Instant now = Instant.parse("2024-01-02T03:04:05Z");
        assertEquals(now.minus(Duration.ofMinutes(42)), LogsCommand.parseSince("42m", now, ZoneOffset.UTC));
        assertEquals(now.minus(Duration.ofMinutes(90)), LogsCommand.parseSince("1h30m", now, ZoneOffset.UTC));
        assertEquals(now.minus(Duration.ofMillis(1500)), LogsCommand.parseSince("1.5s", now, ZoneOffset.UTC));
        assertEquals(Instant.parse("2013-01-02T13:23:37Z"), LogsCommand.parseSince("2013-01-02T13:23:37", now, ZoneOffset.UTC));
        assertEquals(Instant.parse("2013-01-02T12:23:37Z"), LogsCommand.parseSince("2013-01-02T13:23:37+01:00", now, ZoneOffset.UTC));
        assertEquals(Instant.parse("2013-01-02T00:00:00Z"), LogsCommand.parseSince("2013-01-02", now, ZoneOffset.UTC));
        assertEquals(Instant.ofEpochSecond(1700000000, 500_000_000), LogsCommand.parseSince("1700000000.5", now, ZoneOffset.UTC));
        assertThrows(CliException.class, () -> LogsCommand.parseSince("soon", now, ZoneOffset.UTC));
        assertThrows(CliException.class, () -> LogsCommand.parseSince("5x", now, ZoneOffset.UTC));
    }

    @Test
    void previousLogIsTheEarlierAttempt() {
        assertEquals(Path.of("/var/log/pods/p/app/1.log"), LogsCommand.previousLog(Path.of("/var/log/pods/p/app/2.log"), 2, "app"));
        assertEquals("previous terminated container app not found",
                assertThrows(CliException.class, () -> LogsCommand.previousLog(Path.of("/x/0.log"), 0, "app")).getMessage());
    }
}
