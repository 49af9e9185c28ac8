package dev.bollard.daemon.container.io;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static dev.bollard.daemon.container.io.Writers.exitsZero;
import static dev.bollard.daemon.container.io.Writers.quote;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Real FIFOs, real writer processes (dash), the log read back with {@link CriLogLines}. */
@Timeout(60) // a FIFO bug shows as a hang: fail instead
class ContainerLoggerTest {

    @TempDir
    Path dir;
    private Writers writers;
    private StdioFifos fifos;
    private Path log;
    private final List<AutoCloseable> closers = new ArrayList<>();

    @BeforeEach
    void setUp() throws Exception {
        writers = new Writers(dir);
        fifos = StdioFifos.create(dir.resolve("fifo"), "c1", false, false);
        log = dir.resolve("logs/0.log");
    }

    @AfterEach
    void tearDown() throws Exception {
        writers.close();
        for (AutoCloseable c : closers.reversed()) {
            c.close();
        }
        fifos.remove();
    }

    private ContainerLogger start(Path logPath) throws Exception {
        var logger = ContainerLogger.start(fifos, logPath, ContainerLogger.DEFAULT_MAX_LINE_BYTES);
        closers.add(logger);
        return logger;
    }

    /** The script with stdout and stderr sent to the FIFOs, as the shim's copy would. */
    private Process run(String script) throws Exception {
        return writers.sh("{ " + script + "\n} >" + quote(fifos.stdout()) + " 2>" + quote(fifos.stderr()));
    }

    private static void await(ContainerLogger logger) throws Exception {
        logger.done().get(30, TimeUnit.SECONDS);
    }

    private List<CriLogLines.Line> entries(Path p) throws Exception {
        return CriLogLines.parseAll(Files.readAllBytes(p));
    }

    private static List<String> texts(List<CriLogLines.Line> lines, String stream) {
        return lines.stream().filter(l -> l.stream().equals(stream)).map(CriLogLines.Line::text).toList();
    }

    @Test
    void interleavedStreamsAreTaggedAndFull() throws Exception {
        var logger = start(log);
        var p = run("echo out1; echo err1 >&2; echo out2; echo err2 >&2; printf 'out3\\n\\n'");
        exitsZero(p);
        await(logger);

        var lines = entries(log);
        assertEquals(List.of("out1", "out2", "out3", ""), texts(lines, "stdout"));
        assertEquals(List.of("err1", "err2"), texts(lines, "stderr"));
        assertTrue(lines.stream().noneMatch(CriLogLines.Line::partial), lines.toString());
        // Every byte of the file is a well-formed entry.
        String raw = Writers.read(log);
        assertEquals(6, raw.lines().count());
        assertTrue(raw.lines().allMatch(l -> l.matches(
                "\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d(\\.\\d{1,9})?Z (stdout|stderr) F .*")), raw);
        assertThrows(IllegalStateException.class, logger::reopen);
    }

    @Test
    void aWriterThatAlsoHoldsAReadEndLikeTheShimLosesNothing() throws Exception {
        // containerd-shim-runc-v2 opens each output FIFO O_WRONLY and then O_RDONLY too, and never reads the latter.
        var logger = start(log);
        var p = writers.sh("{ exec 3<" + quote(fifos.stdout()) + " 4<" + quote(fifos.stderr())
                + "; seq 1 5000; echo e >&2; } >" + quote(fifos.stdout()) + " 2>" + quote(fifos.stderr()));
        exitsZero(p);
        await(logger);
        var lines = entries(log);
        assertEquals(java.util.stream.IntStream.rangeClosed(1, 5000).mapToObj(Integer::toString).toList(),
                texts(lines, "stdout"));
        assertEquals(List.of("e"), texts(lines, "stderr"));
    }

    @Test
    void longLinesAreCutIntoPartialChunks() throws Exception {
        var logger = start(log);
        // 40 KiB line ended by a newline on stdout; 40 KiB with no newline at all on stderr.
        var p = run("head -c 40960 /dev/zero | tr '\\0' a; echo; head -c 40960 /dev/zero | tr '\\0' b >&2");
        exitsZero(p);
        await(logger);

        var lines = entries(log);
        var out = lines.stream().filter(l -> l.stream().equals("stdout")).toList();
        assertEquals(List.of(true, true, false), out.stream().map(CriLogLines.Line::partial).toList());
        assertEquals(List.of(16384, 16384, 8192), out.stream().map(l -> l.content().length).toList());
        // containerd marks the end of output without a newline P: the line never completed.
        var err = lines.stream().filter(l -> l.stream().equals("stderr")).toList();
        assertEquals(List.of(true, true, true), err.stream().map(CriLogLines.Line::partial).toList());
        assertEquals(List.of(16384, 16384, 8192), err.stream().map(l -> l.content().length).toList());

        var joined = CriLogLines.joinPartials(lines);
        assertEquals("a".repeat(40960), texts(joined, "stdout").getFirst());
        assertEquals("b".repeat(40960), texts(joined, "stderr").getFirst());
    }

    @Test
    void aPartialLastLineIsWrittenAtEof() throws Exception {
        var logger = start(log);
        exitsZero(run("printf 'whole\\nhalf'"));
        await(logger);
        var out = entries(log);
        assertEquals(2, out.size());
        assertEquals("whole", out.get(0).text());
        assertFalse(out.get(0).partial());
        assertEquals("half", out.get(1).text());
        assertTrue(out.get(1).partial());
    }

    @Test
    void doneWaitsForAChildThatKeepsStdoutOpen() throws Exception {
        var logger = start(log);
        Path control = dir.resolve("control");
        dev.bollard.daemon.linux.Syscalls.mkfifo(control, 0600);
        // The child inherits stdout and blocks until the test writes to the control FIFO.
        var parent = run("( read x <" + quote(control) + "; echo child-$x ) & echo parent");
        exitsZero(parent);
        try (var go = StdinWriter.open(control)) {
            // The child is provably still blocked in read: the logger cannot be done.
            Thread.sleep(200);
            assertFalse(logger.done().isDone(), "done before the child closed stdout");
            go.write("released\n".getBytes(), 0, 9);
        }
        await(logger);
        assertEquals(List.of("parent", "child-released"), texts(entries(log), "stdout"));
    }

    @Test
    void reopenAfterRotationLosesAndDuplicatesNothing() throws Exception {
        var logger = start(log);
        Path stop = dir.resolve("stop");
        var p = run("i=0; while [ ! -e " + quote(stop) + " ]; do echo line-$i; i=$((i+1)); done");
        waitForSize(log, 20_000);
        Path rotated = dir.resolve("logs/0.log.20240101-000000");
        Files.move(log, rotated);
        logger.reopen();
        waitForSize(log, 20_000);
        Files.createFile(stop);
        exitsZero(p);
        await(logger);

        var old = entries(rotated);
        var fresh = entries(log);
        assertFalse(old.isEmpty());
        assertFalse(fresh.isEmpty());
        var all = new ArrayList<>(old);
        all.addAll(fresh);
        for (int i = 0; i < all.size(); i++) {
            assertEquals("line-" + i, all.get(i).text(), "entry " + i + " across the rotation");
            assertFalse(all.get(i).partial());
        }
        // Every byte of both files is a whole entry (nothing split at the rotation).
        assertTrue(Writers.read(rotated).endsWith("\n"));
        assertEquals(old.size(), Writers.read(rotated).lines().count());
        assertEquals(fresh.size(), Writers.read(log).lines().count());
    }

    private static void waitForSize(Path p, long size) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!Files.exists(p) || Files.size(p) < size) {
            assertTrue(System.nanoTime() < deadline, p + " did not reach " + size + " bytes");
            Thread.sleep(10);
        }
    }

    @Test
    void withoutALogPathOutputIsDrained() throws Exception {
        var logger = start(null);
        exitsZero(run("head -c 10000000 /dev/zero; head -c 10000000 /dev/zero >&2"));
        await(logger);
        assertThrows(IllegalStateException.class, logger::reopen);
        try (var files = Files.list(dir)) {
            assertTrue(files.noneMatch(f -> f.getFileName().toString().equals("logs")));
        }
    }

    @Test
    void aBlockedSinkDoesNotStallTheLog() throws Exception {
        var logger = start(log);
        var release = new CountDownLatch(1);
        var entered = new CountDownLatch(1);
        var blocked = logger.addSink((stream, data, off, len) -> {
            entered.countDown();
            try {
                release.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        var seen = new ByteArrayOutputStream();
        var fast = logger.addSink((stream, data, off, len) -> {
            if (stream.equals("stdout")) {
                synchronized (seen) {
                    seen.write(data, off, len);
                }
            }
        });
        // 10 MB of 100-byte lines: far beyond the sink's buffer and the pipe's.
        var p = run("yes " + "x".repeat(99) + " | head -n 100000");
        exitsZero(p);
        await(logger);
        assertTrue(entered.await(10, TimeUnit.SECONDS));
        var lines = entries(log);
        assertEquals(100_000, lines.size());
        assertTrue(lines.stream().allMatch(l -> l.text().equals("x".repeat(99))));
        release.countDown();
        blocked.close();
        // The sink that keeps up got the raw bytes.
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (true) {
            synchronized (seen) {
                if (seen.size() >= 10_000_000 || System.nanoTime() > deadline) {
                    assertEquals(10_000_000, seen.size());
                    break;
                }
            }
            Thread.sleep(10);
        }
        fast.close();
    }

    @Test
    void aSinkThatFallsBehindIsDroppedWholeWhenAsked() throws Exception {
        var logger = start(log);
        var release = new CountDownLatch(1);
        var sink = logger.addSink((stream, data, off, len) -> {
            try {
                release.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, ContainerLogger.Overflow.DROP_SINK);
        // 10 MB: far beyond the sink's 4 MiB buffer.
        exitsZero(run("yes " + "x".repeat(99) + " | head -n 100000"));
        await(logger);
        sink.ended().get(10, TimeUnit.SECONDS);
        assertTrue(sink.overflowed());
        assertEquals(100_000, entries(log).size(), "the log lost nothing");
        release.countDown();
        sink.close();
    }

    @Test
    void aSinkGetsTheLastOutputEvenWhenTheLoggerIsClosed() throws Exception {
        var logger = start(log);
        var seen = new ByteArrayOutputStream();
        var sink = logger.addSink((stream, data, off, len) -> {
            synchronized (seen) {
                seen.write(data, off, len);
            }
        }, ContainerLogger.Overflow.DROP_SINK);
        exitsZero(run("echo last words"));
        await(logger);
        logger.close();
        sink.ended().get(10, TimeUnit.SECONDS);
        assertFalse(sink.overflowed());
        synchronized (seen) {
            assertEquals("last words\n", seen.toString());
        }
    }

    @Test
    void aThrowingSinkIsDroppedAndTheLogGoesOn() throws Exception {
        var logger = start(log);
        var calls = new java.util.concurrent.atomic.AtomicInteger();
        logger.addSink((stream, data, off, len) -> {
            calls.incrementAndGet();
            throw new IllegalStateException("sink broke");
        });
        exitsZero(run("echo one; sleep 0.1; echo two; sleep 0.1; echo three"));
        await(logger);
        assertEquals(List.of("one", "two", "three"), texts(entries(log), "stdout"));
        assertEquals(1, calls.get());
    }

    @Test
    void criLogLinesRoundTripsTheOutput() throws Exception {
        var rnd = new Random(42);
        var expected = new ArrayList<String>();
        var input = new StringBuilder();
        for (int i = 0; i < 300; i++) {
            int len = rnd.nextInt(10) == 0 ? rnd.nextInt(50_000) : rnd.nextInt(200);
            var sb = new StringBuilder(len);
            for (int j = 0; j < len; j++) {
                sb.append((char) ('!' + rnd.nextInt(90)));
            }
            if (i % 7 == 0) {
                sb.append(" ü ∑ \t tab");
            }
            expected.add(sb.toString());
            input.append(sb).append('\n');
        }
        Path file = dir.resolve("input");
        Files.writeString(file, input, StandardCharsets.UTF_8);
        var logger = start(log);
        exitsZero(run("cat " + quote(file) + "; cat " + quote(file) + " >&2"));
        await(logger);
        var joined = CriLogLines.joinPartials(entries(log));
        assertEquals(expected, texts(joined, "stdout"));
        assertEquals(expected, texts(joined, "stderr"));
        assertTrue(joined.stream().noneMatch(CriLogLines.Line::partial));
    }

    @Test
    void closeWhileTheWriterRunsStopsAndCancelsDone() throws Exception {
        var logger = start(log);
        var p = run("echo started; exec sleep 60");
        waitForSize(log, 1);
        logger.close();
        assertThrows(CancellationException.class, () -> logger.done().get(10, TimeUnit.SECONDS));
        assertTrue(logger.done().isCompletedExceptionally());
        assertEquals(List.of("started"), texts(entries(log), "stdout"));
        assertThrows(IllegalStateException.class, logger::reopen);
        p.destroyForcibly().waitFor();
    }

    @Test
    void terminalOutputIsOneStdoutStream() throws Exception {
        fifos.remove();
        fifos = StdioFifos.create(dir.resolve("fifo"), "tty", false, true);
        var logger = start(log);
        exitsZero(writers.sh("{ echo one; echo two >&2; } >" + quote(fifos.stdout()) + " 2>&1"));
        await(logger);
        var lines = entries(log);
        assertEquals(List.of("one", "two"), texts(lines, "stdout"));
        assertEquals(2, lines.size());
    }

    @Test
    void startFailsClearlyOnAMissingFifo() throws Exception {
        var missing = new StdioFifos(null, dir.resolve("nope"), null);
        var e = assertThrows(java.io.IOException.class, () -> ContainerLogger.start(missing, log, 100));
        assertTrue(e.getMessage().contains(dir.resolve("nope").toString()), e.getMessage());
        Path regular = Files.createFile(dir.resolve("regular"));
        var e2 = assertThrows(java.io.IOException.class,
                () -> ContainerLogger.start(new StdioFifos(null, regular, null), (Path) null, 100));
        assertEquals(regular + " is not a FIFO", e2.getMessage());
        assertArrayEquals(new byte[0], Files.readAllBytes(regular));
    }

    // ---- the log path is the pod's: whatever sits there, the daemon only ever appends to a regular file ----

    @Test
    void aSymlinkAtTheLogPathIsRefusedAndItsTargetUntouched() throws Exception {
        Path target = Files.writeString(dir.resolve("elsewhere"), "precious\n");
        Files.createDirectories(log.getParent());
        Files.createSymbolicLink(log, target);
        var e = assertThrows(IllegalArgumentException.class, () -> start(log));
        assertTrue(e.getMessage().contains("log_path") && e.getMessage().contains(log.toString())
                && e.getMessage().contains("symbolic link"), e.getMessage());
        assertEquals("precious\n", Files.readString(target));
        var dangling = dir.resolve("logs/1.log");
        Files.createSymbolicLink(dangling, dir.resolve("would-be-created"));
        assertThrows(IllegalArgumentException.class, () -> start(dangling));
        assertFalse(Files.exists(dir.resolve("would-be-created")), "a dangling link is not followed to create");
    }

    /** A symlink at a directory between log_directory and the file: the log would be written wherever it points. */
    @Test
    void aSymlinkAtADirectoryBelowTheLogDirectoryIsRefusedAndNothingWrittenOutside() throws Exception {
        Path logDir = Files.createDirectories(dir.resolve("pod-logs"));
        Path outside = Files.createDirectories(dir.resolve("outside"));
        Files.createSymbolicLink(logDir.resolve("ctr"), outside);
        var e = assertThrows(IllegalArgumentException.class, () -> startIn(logDir, "ctr/0.log"));
        assertTrue(e.getMessage().contains("log_path") && e.getMessage().contains(logDir.resolve("ctr").toString())
                && e.getMessage().contains("symbolic link"), e.getMessage());
        assertFalse(Files.exists(outside.resolve("0.log")), "the log was created through the link");

        // deeper: the link two levels up, the directory it points to already holding the next component
        Files.createDirectories(outside.resolve("b"));
        Files.createSymbolicLink(logDir.resolve("a"), outside);
        assertThrows(IllegalArgumentException.class, () -> startIn(logDir, "a/b/0.log"));
        assertFalse(Files.exists(outside.resolve("b/0.log")), "the log was created through the link");

        // a link to a file one level up is refused as well, the file untouched
        Path precious = Files.writeString(dir.resolve("precious"), "precious\n");
        Files.createDirectories(logDir.resolve("c"));
        Files.createSymbolicLink(logDir.resolve("c/0.log"), precious);
        assertThrows(IllegalArgumentException.class, () -> startIn(logDir, "c/0.log"));
        assertEquals("precious\n", Files.readString(precious));
    }

    @Test
    void missingDirectoriesBelowTheLogDirectoryAreMadeAndTheLogWritten() throws Exception {
        Path logDir = dir.resolve("pod-logs"); // not even there yet: kubelet's, made as given
        var logger = startIn(logDir, "ctr/sub/0.log");
        var p = run("echo one");
        exitsZero(p);
        await(logger);
        assertEquals(List.of("one"), texts(entries(logDir.resolve("ctr/sub/0.log")), "stdout"));
        assertEquals("rwxr-xr-x", java.nio.file.attribute.PosixFilePermissions.toString(
                Files.getPosixFilePermissions(logDir.resolve("ctr/sub"))));
    }

    @Test
    void aRecordsLogLocationIsItsLogDirectoryAndLogPath() {
        assertEquals(new LogLocation(Path.of("/var/log/pods/ns_p_1"), Path.of("ctr/0.log")),
                LogLocation.of("/var/log/pods/ns_p_1/ctr/0.log", "ctr/0.log"));
        // a record whose parts do not fit: the file's own directory is the boundary
        assertEquals(new LogLocation(Path.of("/var/log/x"), Path.of("0.log")), LogLocation.of("/var/log/x/0.log", "y/0.log"));
    }

    private ContainerLogger startIn(Path logDirectory, String logPath) throws Exception {
        var logger = ContainerLogger.start(fifos, new LogLocation(logDirectory, Path.of(logPath)),
                ContainerLogger.DEFAULT_MAX_LINE_BYTES);
        closers.add(logger);
        return logger;
    }

    @Test
    void aFifoAtTheLogPathIsRefusedWithoutBlocking() throws Exception {
        Files.createDirectories(log.getParent());
        var mkfifo = new ProcessBuilder("mkfifo", log.toString()).start();
        assertEquals(0, mkfifo.waitFor());
        var e = assertThrows(IllegalArgumentException.class, () -> start(log)); // the @Timeout catches a hang
        assertTrue(e.getMessage().contains("log_path") && e.getMessage().contains("FIFO"), e.getMessage());
    }

    @Test
    void aDirectoryAtTheLogPathIsRefused() throws Exception {
        Files.createDirectories(log);
        var e = assertThrows(IllegalArgumentException.class, () -> start(log));
        assertTrue(e.getMessage().contains("log_path") && e.getMessage().contains("directory"), e.getMessage());
    }

    @Test
    void aNewLogIsCreatedOwnerWritableGroupReadableAndAnExistingOneAppendedTo() throws Exception {
        var logger = start(log);
        var p = run("echo one");
        exitsZero(p);
        await(logger);
        assertEquals("rw-r-----", java.nio.file.attribute.PosixFilePermissions.toString(
                Files.getPosixFilePermissions(log)));
        assertEquals(List.of("one"), texts(entries(log), "stdout"));
        logger.close();

        fifos.remove();
        fifos = StdioFifos.create(dir.resolve("fifo"), "c1", false, false);
        var again = start(log);
        exitsZero(run("echo two"));
        await(again);
        assertEquals(List.of("one", "two"), texts(entries(log), "stdout"));
    }
}
