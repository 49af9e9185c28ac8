package dev.bollard.vm;

import dev.bollard.daemon.linux.Syscalls;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

class ProcessStdioTest {

    /** What the agent would get: the bytes, and whether (and after which bytes) the stdin was closed. */
    private static final class Recorder implements ProcessStdio.StdinTarget {
        private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        final CompletableFuture<String> closed = new CompletableFuture<>();
        volatile boolean sentInterrupted;

        @Override
        public synchronized void stdin(byte[] data, int length) {
            // a socket channel written from an interrupted thread is closed: the agent's, for the whole VM
            sentInterrupted |= Thread.currentThread().isInterrupted();
            if (length == 0) {
                closed.complete(text());
            } else {
                bytes.write(data, 0, length);
            }
        }

        synchronized String text() {
            return bytes.toString(StandardCharsets.UTF_8);
        }

        void awaitText(String expected) throws InterruptedException {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (!text().equals(expected) && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            assertEquals(expected, text());
        }
    }

    /** Opens the FIFO for writing on a thread of its own (an open with no reader would block the test). */
    private static void write(Path fifo, String text) throws Exception {
        var done = new CompletableFuture<Void>();
        Thread.ofPlatform().daemon().start(() -> {
            try (var out = new FileOutputStream(fifo.toFile())) {
                out.write(text.getBytes(StandardCharsets.UTF_8));
                done.complete(null);
            } catch (IOException e) {
                done.completeExceptionally(e);
            }
        });
        done.get(60, TimeUnit.SECONDS);
    }

    @Test
    void stdinOutlivesAClientsWriterUntilCloseIo(@TempDir Path dir) throws Exception {
        Path fifo = dir.resolve("stdin");
        Syscalls.mkfifo(fifo, 0600);
        var stdio = new ProcessStdio("c1", "", "");
        var agent = new Recorder();
        try {
            stdio.holdStdin(fifo.toString());
            stdio.startStdin(agent, "c1");
            write(fifo, "first attach\n");
            agent.awaitText("first attach\n");
            // The first client's writer is closed; the process's stdin must still be open for the next one.
            write(fifo, "second attach\n");
            agent.awaitText("first attach\nsecond attach\n");
            assertFalse(agent.closed.isDone(), "stdin closed before CloseIO");

            stdio.closeStdin();
            assertEquals("first attach\nsecond attach\n", agent.closed.get(60, TimeUnit.SECONDS));
        } finally {
            stdio.close();
        }
    }

    @Test
    void afterCloseIoStdinEndsWhenTheLastWriterClosesWithEverythingWritten(@TempDir Path dir) throws Exception {
        Path fifo = dir.resolve("stdin");
        Syscalls.mkfifo(fifo, 0600);
        var stdio = new ProcessStdio("c2", "", "");
        var agent = new Recorder();
        try {
            stdio.holdStdin(fifo.toString());
            stdio.startStdin(agent, "c2");
            try (var client = new FileOutputStream(fifo.toFile())) { // a reader is there: does not block
                client.write("before ".getBytes(StandardCharsets.UTF_8));
                client.flush();
                stdio.closeStdin();
                client.write("after CloseIO".getBytes(StandardCharsets.UTF_8));
            }
            assertEquals("before after CloseIO", agent.closed.get(60, TimeUnit.SECONDS));
        } finally {
            stdio.close();
        }
    }

    @Test
    void closingSendsTheEndFromAThreadThatWasNotInterrupted(@TempDir Path dir) throws Exception {
        Path fifo = dir.resolve("stdin");
        Syscalls.mkfifo(fifo, 0600);
        var stdio = new ProcessStdio("c3", "", "");
        var agent = new Recorder();
        stdio.holdStdin(fifo.toString());
        stdio.startStdin(agent, "c3");
        write(fifo, "x");
        agent.awaitText("x");
        stdio.close(); // the process was deleted: the copy ends (no writer is left)
        assertEquals("x", agent.closed.get(60, TimeUnit.SECONDS));
        assertFalse(agent.sentInterrupted, "the stdin copy wrote to the agent from an interrupted thread");
    }
}
