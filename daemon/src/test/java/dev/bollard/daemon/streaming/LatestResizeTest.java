package dev.bollard.daemon.streaming;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LatestResizeTest {

    @Test
    void aSizeNotYetTakenIsReplacedByTheNewerOne() throws InterruptedException {
        var r = new LatestResize();
        for (int i = 1; i <= 10_000; i++) {
            r.offer(new TerminalSize(i, i + 1));
        }
        assertEquals(Optional.of(new TerminalSize(10_000, 10_001)), r.take());
        assertEquals(9_999, r.coalesced());
        r.offer(new TerminalSize(80, 24));
        assertEquals(Optional.of(new TerminalSize(80, 24)), r.take());
    }

    @Test
    void afterTheEndThePendingSizeComesThenEmptyForEver() throws InterruptedException {
        var r = new LatestResize();
        r.offer(new TerminalSize(80, 24));
        r.end();
        r.offer(new TerminalSize(1, 1)); // after the end: ignored
        assertEquals(Optional.of(new TerminalSize(80, 24)), r.take());
        assertEquals(Optional.empty(), r.take());
        assertEquals(Optional.empty(), r.take());
    }

    @Test
    void takeWaitsForASizeAndIsInterruptible() throws Exception {
        var r = new LatestResize();
        var got = new ArrayList<Optional<TerminalSize>>();
        Thread t = Thread.ofVirtual().start(() -> {
            try {
                got.add(r.take());
                got.add(r.take());
            } catch (InterruptedException e) {
                got.add(null);
            }
        });
        Thread.sleep(50);
        assertTrue(t.isAlive(), "take returned without a size");
        r.offer(new TerminalSize(120, 40));
        Thread.sleep(50);
        t.interrupt();
        t.join(5000);
        assertFalse(t.isAlive());
        assertEquals(new TerminalSize(120, 40), got.get(0).orElseThrow());
        assertEquals(null, got.get(1), "the second take was not interrupted");
    }

    /**
     * A client flooding the resize stream while the command does not read sizes: the runner keeps the latest
     * only (before, every size was queued: 200 000 of them here, without bound for a client that never stops).
     */
    @Test
    void theRunnerHandsTheCommandOnlyTheLatestOfAFlood() throws Exception {
        int n = 200_000;
        var json = new StringBuilder();
        for (int i = 1; i <= n; i++) {
            json.append("{\"Width\":").append(i % 1000).append(",\"Height\":").append(i % 500).append('}');
        }
        var drained = new CountDownLatch(1);
        InputStream resize = new FilterInputStream(new ByteArrayInputStream(json.toString().getBytes(StandardCharsets.UTF_8))) {
            @Override
            public int read(byte[] b, int off, int len) throws IOException {
                int k = super.read(b, off, len);
                if (k < 0) {
                    drained.countDown();
                }
                return k;
            }
        };
        var taken = new ArrayList<TerminalSize>();
        var backend = new StreamBackend() {
            @Override
            public int exec(StreamRequest.Exec r, RemoteCommandStreams io) throws InterruptedException {
                // the command is busy while the client floods; it reads sizes only afterwards
                assertTrue(drained.await(30, TimeUnit.SECONDS), "the resize stream was not read to its end");
                for (var s = io.nextResize(); s.isPresent(); s = io.nextResize()) {
                    taken.add(s.get());
                }
                return 0;
            }

            @Override
            public void attach(StreamRequest.Attach r, RemoteCommandStreams io) {
                throw new UnsupportedOperationException();
            }

            @Override
            public SocketChannel portForward(String podSandboxId, int port) {
                throw new UnsupportedOperationException();
            }
        };
        var finished = new CountDownLatch(1);
        var error = new ByteArrayOutputStream();
        RemoteCommandRunner.start(backend, new StreamRequest.Exec("c1", List.of("sh"), true, false, true, false),
                RemoteCommandProtocol.V4, new RemoteCommandRunner.Wires(null, new ByteArrayOutputStream(), null,
                        resize, error), finished::countDown);
        assertTrue(finished.await(60, TimeUnit.SECONDS), "the exec did not finish");
        assertEquals(List.of(new TerminalSize(n % 1000, n % 500)), taken);
    }
}
