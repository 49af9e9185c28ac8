package dev.bollard.daemon.container.io;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.TimeoutException;

import static dev.bollard.daemon.container.io.Writers.exitsZero;
import static dev.bollard.daemon.container.io.Writers.quote;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

@Timeout(60) // a FIFO bug shows as a hang: fail instead
class OutputCaptureTest {

    @TempDir
    Path dir;
    private Writers writers;
    private StdioFifos fifos;

    @BeforeEach
    void setUp() throws Exception {
        writers = new Writers(dir);
        fifos = StdioFifos.create(dir, "exec1", false, false);
    }

    @AfterEach
    void tearDown() throws Exception {
        writers.close();
        fifos.remove();
    }

    private Process run(String script) throws Exception {
        return writers.sh("{ " + script + "\n} >" + quote(fifos.stdout()) + " 2>" + quote(fifos.stderr()));
    }

    @Test
    void capturesBothStreamsExactly() throws Exception {
        try (var capture = OutputCapture.start(fifos, OutputCapture.DEFAULT_CAP_BYTES)) {
            exitsZero(run("printf 'out\\nno newline'; printf 'err\\n' >&2"));
            var out = capture.await(Duration.ofSeconds(30));
            assertEquals("out\nno newline", new String(out.stdout()));
            assertEquals("err\n", new String(out.stderr()));
            assertFalse(out.stdoutTruncated());
            assertFalse(out.stderrTruncated());
        }
    }

    @Test
    void beyondTheCapOutputIsDrainedAndMarkedTruncated() throws Exception {
        try (var capture = OutputCapture.start(fifos, OutputCapture.DEFAULT_CAP_BYTES)) {
            // 20 MiB of 'a' on stdout: the writer must finish although only 16 MiB are kept.
            var p = run("head -c 20971520 /dev/zero | tr '\\0' a; echo small >&2");
            exitsZero(p);
            var out = capture.await(Duration.ofSeconds(30));
            assertEquals(16 * 1024 * 1024, out.stdout().length);
            byte[] expected = new byte[16 * 1024 * 1024];
            Arrays.fill(expected, (byte) 'a');
            assertArrayEquals(expected, out.stdout());
            assertTrue(out.stdoutTruncated());
            assertEquals("small\n", new String(out.stderr()));
            assertFalse(out.stderrTruncated());
        }
    }

    @Test
    void awaitTimesOutWhileTheProcessRunsAndCanBeRetried() throws Exception {
        try (var capture = OutputCapture.start(fifos, 4)) {
            var p = run("echo 123456; exec sleep 60");
            assertThrows(TimeoutException.class, () -> capture.await(Duration.ofMillis(200)));
            p.destroyForcibly().waitFor();
            var out = capture.await(Duration.ofSeconds(30));
            assertEquals("1234", new String(out.stdout()));
            assertTrue(out.stdoutTruncated());
            assertEquals(0, out.stderr().length);
        }
    }

    @Test
    void terminalExecHasOnlyStdout() throws Exception {
        fifos.remove();
        fifos = StdioFifos.create(dir, "tty", false, true);
        try (var capture = OutputCapture.start(fifos, 1024)) {
            exitsZero(writers.sh("{ echo a; echo b >&2; } >" + quote(fifos.stdout()) + " 2>&1"));
            var out = capture.await(Duration.ofSeconds(30));
            assertEquals("a\nb\n", new String(out.stdout()));
            assertEquals(0, out.stderr().length);
        }
    }
}
