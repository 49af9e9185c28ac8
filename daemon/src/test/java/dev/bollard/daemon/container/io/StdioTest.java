package dev.bollard.daemon.container.io;

import dev.bollard.daemon.linux.Syscalls;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.channels.AsynchronousCloseException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static dev.bollard.daemon.container.io.Writers.exitsZero;
import static dev.bollard.daemon.container.io.Writers.quote;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** StdioFifos and StdinWriter against real FIFOs and processes, and the fd accounting of the whole package. */
@Timeout(60) // a FIFO bug shows as a hang: fail instead
class StdioTest {

    @TempDir
    Path dir;

    private static int mode(Path p) throws IOException {
        return ((Number) Files.getAttribute(p, "unix:mode", LinkOption.NOFOLLOW_LINKS)).intValue();
    }

    @Test
    void createsFifosInAPrivateDirectory() throws Exception {
        Path fifoDir = dir.resolve("a/b");
        var all = StdioFifos.create(fifoDir, "ctr", true, false);
        assertEquals(0700, mode(fifoDir) & 07777);
        assertEquals(fifoDir.resolve("ctr-stdin"), all.stdin());
        assertEquals(fifoDir.resolve("ctr-stdout"), all.stdout());
        assertEquals(fifoDir.resolve("ctr-stderr"), all.stderr());
        for (Path p : all.paths()) {
            assertEquals(Syscalls.S_IFIFO, mode(p) & Syscalls.S_IFMT, p.toString());
        }
        var tty = StdioFifos.create(fifoDir, "tty", false, true);
        assertNull(tty.stdin());
        assertNull(tty.stderr());
        assertEquals(1, tty.paths().size());

        var e = assertThrows(Syscalls.ErrnoException.class, () -> StdioFifos.create(fifoDir, "ctr", false, false));
        assertEquals(Syscalls.EEXIST, e.errno());
        assertTrue(e.getMessage().contains("ctr-stdout"), e.getMessage());

        all.remove();
        all.remove();
        tty.remove();
        try (var left = Files.list(fifoDir)) {
            assertEquals(0, left.count());
        }
        assertThrows(IllegalArgumentException.class, () -> StdioFifos.create(fifoDir, "../x", false, false));
    }

    @Test
    void stdinReachesTheProcess() throws Exception {
        var fifos = StdioFifos.create(dir, "p", true, false);
        try (var writers = new Writers(dir); var capture = OutputCapture.start(fifos, 1 << 20)) {
            var cat = writers.sh("cat <" + quote(fifos.stdin()) + " >" + quote(fifos.stdout())
                    + " 2>" + quote(fifos.stderr()));
            byte[] big = new byte[300_000]; // beyond the pipe buffer: the writer must wait for room
            for (int i = 0; i < big.length; i++) {
                big[i] = (byte) ('a' + i % 26);
            }
            try (var in = StdinWriter.open(fifos.stdin())) {
                in.write(big, 0, big.length);
            }
            exitsZero(cat);
            var out = capture.await(Duration.ofSeconds(30));
            assertEquals(new String(big), new String(out.stdout()));
        } finally {
            fifos.remove();
        }
    }

    @Test
    void stdinWriteFailsOnceTheReaderIsGone() throws Exception {
        var fifos = StdioFifos.create(dir, "q", true, false);
        try (var writers = new Writers(dir)) {
            // The reader reads one line and exits.
            var reader = writers.sh("head -n 1 <" + quote(fifos.stdin()));
            try (var in = StdinWriter.open(fifos.stdin())) {
                in.write("one\n".getBytes(), 0, 4);
                exitsZero(reader);
                var e = assertThrows(IOException.class, () -> {
                    for (int i = 0; i < 100; i++) {
                        in.write(new byte[65536], 0, 65536);
                    }
                });
                assertTrue(e.getMessage().contains("EPIPE") && e.getMessage().contains(fifos.stdin().toString()),
                        e.getMessage());
            }
        } finally {
            fifos.remove();
        }
    }

    @Test
    void stdinOpenWithoutAReaderFailsAfterTheWait() throws Exception {
        var fifos = StdioFifos.create(dir, "r", true, false);
        try {
            var e = assertThrows(IOException.class, () -> StdinWriter.open(fifos.stdin(), Duration.ofMillis(100)));
            assertTrue(e.getMessage().contains("has no reader"), e.getMessage());
        } finally {
            fifos.remove();
        }
    }

    @Test
    void closeUnblocksAWriterOnAFullFifo() throws Exception {
        var fifos = StdioFifos.create(dir, "s", true, false);
        try (var writers = new Writers(dir)) {
            var sleeper = writers.sh("exec sleep 60 <" + quote(fifos.stdin()));
            var in = StdinWriter.open(fifos.stdin());
            var write = CompletableFuture.runAsync(() -> {
                try {
                    in.write(new byte[1 << 20], 0, 1 << 20);
                } catch (IOException e) {
                    throw new RuntimeException(e);
                }
            }, r -> Thread.ofVirtual().start(r));
            Thread.sleep(100);
            assertFalse(write.isDone());
            in.close();
            var e = assertThrows(java.util.concurrent.ExecutionException.class, () -> write.get(10, TimeUnit.SECONDS));
            assertInstanceOf(AsynchronousCloseException.class, e.getCause().getCause());
            sleeper.destroyForcibly().waitFor();
        } finally {
            fifos.remove();
        }
    }

    private static long openFds() throws IOException {
        try (var fds = Files.list(Path.of("/proc/self/fd"))) {
            return fds.count();
        }
    }

    @Test
    void nothingLeaksFileDescriptors() throws Exception {
        // The poller's epoll fd is created once per JVM: make sure it exists before counting.
        FifoPoller.shared();
        long before = openFds();
        for (int round = 0; round < 3; round++) {
            var fifos = StdioFifos.create(dir.resolve("fifos"), "leak" + round, true, false);
            Path log = dir.resolve("leak.log");
            try (var writers = new Writers(dir)) {
                var logger = ContainerLogger.start(fifos, log, 64);
                var sink = logger.addSink((s, d, o, l) -> { });
                exitsZero(writers.sh("echo out >" + quote(fifos.stdout()) + " 2>" + quote(fifos.stderr())));
                logger.done().get(30, TimeUnit.SECONDS);
                sink.close();
                logger.close();

                var exec = StdioFifos.create(dir.resolve("fifos"), "exec" + round, true, false);
                var capture = OutputCapture.start(exec, 10);
                var cat = writers.sh("cat <" + quote(exec.stdin()) + " >" + quote(exec.stdout())
                        + " 2>" + quote(exec.stderr()));
                try (var in = StdinWriter.open(exec.stdin())) {
                    in.write("x".getBytes(), 0, 1);
                }
                exitsZero(cat);
                assertEquals("x", new String(capture.await(Duration.ofSeconds(30)).stdout()));
                capture.close();

                // Closed while still running, too.
                var running = ContainerLogger.start(exec, (Path) null, 0);
                var sleeper = writers.sh("exec sleep 60 >" + quote(exec.stdout()));
                running.close();
                sleeper.destroyForcibly().waitFor();
                exec.remove();
            } finally {
                fifos.remove();
            }
        }
        assertEquals(before, openFds());
    }
}
