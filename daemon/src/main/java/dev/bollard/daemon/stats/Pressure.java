package dev.bollard.daemon.stats;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A cgroup's pressure stall information (a {@code cpu.pressure}, {@code memory.pressure} or {@code io.pressure}
 * file): {@code some avg10=.. avg60=.. avg300=.. total=<µs>} and, where the kernel has it, the same for
 * {@code full}.
 *
 * @param some share of time at least one task stalled, null when the file has no such line
 * @param full share of time all tasks stalled, null when the file has no such line (older kernels' cpu.pressure)
 */
public record Pressure(Line some, Line full) {

    /**
     * @param totalMicros cumulative stall time in microseconds, as the kernel counts it
     * @param avg10       percent of the last 10 s stalled
     */
    public record Line(long totalMicros, double avg10, double avg60, double avg300) {
    }

    /** The file's figures; null when the file is absent or unreadable (no PSI: report nothing, not zeros). */
    static Pressure read(Path file) {
        String text;
        try {
            text = Files.readString(file);
        } catch (IOException e) {
            return null;
        }
        return parse(text);
    }

    /** Null when no line parses. */
    static Pressure parse(String text) {
        Line some = null;
        Line full = null;
        for (String line : text.split("\n")) {
            String[] words = line.trim().split("\\s+");
            if (words.length < 2) {
                continue;
            }
            Line parsed = line(words);
            if (parsed == null) {
                continue;
            }
            switch (words[0]) {
                case "some" -> some = parsed;
                case "full" -> full = parsed;
                default -> {
                    // a kind this reader does not know
                }
            }
        }
        return some == null && full == null ? null : new Pressure(some, full);
    }

    private static Line line(String[] words) {
        double avg10 = -1, avg60 = -1, avg300 = -1;
        long total = -1;
        try {
            for (int i = 1; i < words.length; i++) {
                int eq = words[i].indexOf('=');
                if (eq < 0) {
                    return null;
                }
                String value = words[i].substring(eq + 1);
                switch (words[i].substring(0, eq)) {
                    case "avg10" -> avg10 = Double.parseDouble(value);
                    case "avg60" -> avg60 = Double.parseDouble(value);
                    case "avg300" -> avg300 = Double.parseDouble(value);
                    case "total" -> total = Long.parseLong(value);
                    default -> {
                        // a figure added by a later kernel
                    }
                }
            }
        } catch (NumberFormatException e) {
            return null;
        }
        return avg10 < 0 || avg60 < 0 || avg300 < 0 || total < 0 ? null : new Line(total, avg10, avg60, avg300);
    }
}
