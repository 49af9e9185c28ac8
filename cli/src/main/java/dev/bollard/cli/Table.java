package dev.bollard.cli;

import java.util.ArrayList;
import java.util.List;

/** Column output like crictl's (Go's tabwriter with padding 3): every column as wide as its widest cell. */
final class Table {

    private final List<String[]> rows = new ArrayList<>();
    private int minWidth;

    Table(String... header) {
        rows.add(header);
    }

    /** Every cell, padding included, at least this wide: crictl's pod and container tables use 20. */
    Table minWidth(int width) {
        this.minWidth = width;
        return this;
    }

    Table row(String... cells) {
        rows.add(cells);
        return this;
    }

    String render() {
        int columns = rows.getFirst().length;
        int[] width = new int[columns];
        for (String[] r : rows) {
            for (int i = 0; i < columns; i++) {
                width[i] = Math.max(width[i], r[i].length());
            }
        }
        var out = new StringBuilder();
        for (String[] r : rows) {
            var line = new StringBuilder();
            for (int i = 0; i < columns; i++) {
                line.append(r[i]);
                if (i < columns - 1) {
                    line.append(" ".repeat(Math.max(width[i] + 3, minWidth) - r[i].length()));
                }
            }
            out.append(line.toString().stripTrailing()).append('\n');
        }
        return out.toString();
    }

    /** Sizes as crictl prints them: decimal units, three significant digits ("2.22MB"). */
    static String humanSize(long bytes) {
        String[] units = {"B", "kB", "MB", "GB", "TB", "PB"};
        double v = bytes;
        int u = 0;
        while (v >= 1000 && u < units.length - 1) {
            v /= 1000;
            u++;
        }
        var bd = new java.math.BigDecimal(v).round(new java.math.MathContext(3)).stripTrailingZeros();
        return bd.toPlainString() + units[u];
    }

    /** The 13-character short form of an image or container ID that crictl shows. */
    static String shortId(String id) {
        String hex = id.startsWith("sha256:") ? id.substring(7) : id;
        return hex.length() > 13 ? hex.substring(0, 13) : hex;
    }
}
