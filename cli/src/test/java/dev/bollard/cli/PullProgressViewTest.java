package dev.bollard.cli;

import dev.bollard.api.admin.v1.PullProgress;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PullProgressViewTest {

    private static final String LAYER = "sha256:" + "ab".repeat(32);

    private static PullProgress p(PullProgress.Phase phase, long done, long total) {
        return PullProgress.newBuilder().setLayer(LAYER).setPhase(phase).setDone(done).setTotal(total).build();
    }

    @Test
    void plainOutputHasOneLinePerPhaseChange() {
        var bytes = new ByteArrayOutputStream();
        var view = new PullProgressView(new PrintStream(bytes, true), false);
        view.update(p(PullProgress.Phase.WAITING, 0, 2_000_000));
        view.update(p(PullProgress.Phase.DOWNLOADING, 10, 2_000_000));
        view.update(p(PullProgress.Phase.DOWNLOADING, 1_000_000, 2_000_000));
        view.update(p(PullProgress.Phase.UNPACKING, 2_000_000, 2_000_000));
        view.update(p(PullProgress.Phase.DONE, 2_000_000, 2_000_000));
        assertEquals("""
                abababababab: waiting
                abababababab: downloading (2MB)
                abababababab: unpacking
                abababababab: done (2MB)
                """, bytes.toString());
    }

    @Test
    void terminalOutputRedrawsItsLines() {
        var bytes = new ByteArrayOutputStream();
        var view = new PullProgressView(new PrintStream(bytes, true), true);
        view.update(p(PullProgress.Phase.DOWNLOADING, 1_000_000, 2_000_000));
        view.update(p(PullProgress.Phase.DOWNLOADING, 2_000_000, 2_000_000));
        String out = bytes.toString();
        assertTrue(out.contains("abababababab: downloading [===============>              ] 1MB/2MB"), out);
        assertTrue(out.contains("\033[1A"), "moves up over the previous drawing: " + out);
        assertTrue(out.contains("[==============================] 2MB/2MB"), out);
    }

    @Test
    void barBounds() {
        assertEquals("[>" + " ".repeat(29) + "]", PullProgressView.bar(0, 0));
        assertEquals("[" + "=".repeat(30) + "]", PullProgressView.bar(5, 5));
    }
}
