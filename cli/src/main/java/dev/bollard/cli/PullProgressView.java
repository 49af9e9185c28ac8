package dev.bollard.cli;

import dev.bollard.api.admin.v1.PullProgress;

import java.io.PrintStream;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Shows a pull's per-layer progress: on a terminal, one redrawn line per layer with a bar; otherwise one plain
 * line per phase change, which logs and CI output keep readable.
 */
final class PullProgressView {

    private static final int BAR = 30;

    private final PrintStream out;
    private final boolean terminal;
    private final Map<String, PullProgress> layers = new LinkedHashMap<>();
    private int drawnLines;

    PullProgressView(PrintStream out, boolean terminal) {
        this.out = out;
        this.terminal = terminal;
    }

    void update(PullProgress p) {
        PullProgress previous = layers.put(p.getLayer(), p);
        if (terminal) {
            redraw();
        } else if (previous == null || previous.getPhase() != p.getPhase()) {
            out.println(line(p, false));
        }
    }

    private void redraw() {
        var sb = new StringBuilder();
        if (drawnLines > 0) {
            sb.append("\033[").append(drawnLines).append('A');
        }
        for (var p : layers.values()) {
            sb.append('\r').append(line(p, true)).append("\033[K\n");
        }
        drawnLines = layers.size();
        out.print(sb);
        out.flush();
    }

    static String line(PullProgress p, boolean bar) {
        String id = p.getLayer().startsWith("sha256:") ? p.getLayer().substring(7, 19) : p.getLayer();
        String size = Table.humanSize(p.getTotal());
        return id + ": " + switch (p.getPhase()) {
            case WAITING -> "waiting";
            case DOWNLOADING -> bar ? "downloading " + bar(p.getDone(), p.getTotal()) + " "
                    + Table.humanSize(p.getDone()) + "/" + size : "downloading (" + size + ")";
            case UNPACKING -> "unpacking";
            case DONE -> "done (" + size + ")";
            case EXISTS -> "already exists";
            case UNRECOGNIZED -> "?";
        };
    }

    static String bar(long done, long total) {
        int filled = total <= 0 ? 0 : (int) Math.min(BAR, done * BAR / total);
        return "[" + "=".repeat(filled) + (filled < BAR ? ">" + " ".repeat(BAR - filled - 1) : "") + "]";
    }
}
