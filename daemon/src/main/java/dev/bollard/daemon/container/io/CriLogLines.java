package dev.bollard.daemon.container.io;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;

/**
 * The CRI container log format kubelet reads: {@code <RFC3339Nano time> <stdout|stderr> <P|F>[:more tags]
 * <content>\n}, where P marks a chunk of a line that continues in the next entry of the same stream.
 */
public final class CriLogLines {

    public static final String STDOUT = "stdout";
    public static final String STDERR = "stderr";

    /**
     * One entry.
     *
     * @param partial true for a P chunk (the line continues), false for F
     * @param content without the trailing newline
     */
    public record Line(Instant time, String stream, boolean partial, byte[] content) {

        public String text() {
            return new String(content, StandardCharsets.UTF_8);
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Line l && time.equals(l.time) && stream.equals(l.stream) && partial == l.partial
                    && Arrays.equals(content, l.content);
        }

        @Override
        public int hashCode() {
            return (time.hashCode() * 31 + stream.hashCode()) * 31 + Arrays.hashCode(content) + (partial ? 1 : 0);
        }

        @Override
        public String toString() {
            return "Line[" + formatTimestamp(time) + " " + stream + " " + (partial ? "P" : "F") + " " + text() + "]";
        }
    }

    private CriLogLines() {
    }

    /**
     * Parses one entry, with or without its trailing newline; empty when it is not in the CRI format (kubelet skips
     * such lines too).
     */
    public static Optional<Line> parse(byte[] line) {
        int end = line.length;
        if (end > 0 && line[end - 1] == '\n') {
            end--;
        }
        int sp1 = indexOf(line, (byte) ' ', 0, end);
        if (sp1 < 0) {
            return Optional.empty();
        }
        int sp2 = indexOf(line, (byte) ' ', sp1 + 1, end);
        if (sp2 < 0) {
            return Optional.empty();
        }
        Instant time;
        try {
            time = OffsetDateTime.parse(new String(line, 0, sp1, StandardCharsets.US_ASCII),
                    DateTimeFormatter.ISO_OFFSET_DATE_TIME).toInstant();
        } catch (DateTimeParseException e) {
            return Optional.empty();
        }
        String stream = new String(line, sp1 + 1, sp2 - sp1 - 1, StandardCharsets.US_ASCII);
        if (!stream.equals(STDOUT) && !stream.equals(STDERR)) {
            return Optional.empty();
        }
        // The tag field is "P" or "F", optionally followed by ":"-separated tags kubelet ignores.
        int sp3 = indexOf(line, (byte) ' ', sp2 + 1, end);
        int tagEnd = sp3 < 0 ? end : sp3;
        int colon = indexOf(line, (byte) ':', sp2 + 1, tagEnd);
        String tag = new String(line, sp2 + 1, (colon < 0 ? tagEnd : colon) - sp2 - 1, StandardCharsets.US_ASCII);
        boolean partial;
        switch (tag) {
            case "P" -> partial = true;
            case "F" -> partial = false;
            default -> {
                return Optional.empty();
            }
        }
        byte[] content = sp3 < 0 ? new byte[0] : Arrays.copyOfRange(line, sp3 + 1, end);
        return Optional.of(new Line(time, stream, partial, content));
    }

    /** Parses a whole log file's bytes; lines not in the CRI format are skipped. */
    public static List<Line> parseAll(byte[] log) {
        var lines = new ArrayList<Line>();
        int start = 0;
        while (start < log.length) {
            int nl = indexOf(log, (byte) '\n', start, log.length);
            int end = nl < 0 ? log.length : nl + 1;
            parse(Arrays.copyOfRange(log, start, end)).ifPresent(lines::add);
            start = end;
        }
        return lines;
    }

    /**
     * Joins each stream's P chunks with the entry that completes them, as a reader of the log sees whole lines: the
     * joined line has the time of its first chunk, and stays {@code partial} only if its stream ended with a P chunk.
     * Lines come out in the order their last chunk appeared.
     */
    public static List<Line> joinPartials(List<Line> lines) {
        var out = new ArrayList<Line>();
        var pending = new java.util.LinkedHashMap<String, Line>();
        var buffers = new java.util.HashMap<String, ByteArrayOutputStream>();
        for (Line l : lines) {
            Line first = pending.get(l.stream());
            ByteArrayOutputStream buf = buffers.computeIfAbsent(l.stream(), s -> new ByteArrayOutputStream());
            buf.writeBytes(l.content());
            if (first == null) {
                first = l;
            }
            if (l.partial()) {
                pending.put(l.stream(), first);
            } else {
                pending.remove(l.stream());
                out.add(new Line(first.time(), l.stream(), false, buf.toByteArray()));
                buf.reset();
            }
        }
        for (var e : pending.entrySet()) {
            out.add(new Line(e.getValue().time(), e.getKey(), true, buffers.get(e.getKey()).toByteArray()));
        }
        return out;
    }

    /**
     * Go's {@code time.RFC3339Nano} of the instant in UTC: the fraction without trailing zeros, and no fraction at all
     * when it is zero ({@code 2016-10-06T00:17:09.6697942Z}, {@code 2016-10-06T00:17:09Z}).
     */
    public static String formatTimestamp(Instant t) {
        var sb = new StringBuilder(30);
        appendTimestamp(sb, t);
        return sb.toString();
    }

    static void appendTimestamp(StringBuilder sb, Instant t) {
        var d = OffsetDateTime.ofInstant(t, ZoneOffset.UTC);
        pad(sb, d.getYear(), 4).append('-');
        pad(sb, d.getMonthValue(), 2).append('-');
        pad(sb, d.getDayOfMonth(), 2).append('T');
        pad(sb, d.getHour(), 2).append(':');
        pad(sb, d.getMinute(), 2).append(':');
        pad(sb, d.getSecond(), 2);
        int nanos = d.getNano();
        if (nanos != 0) {
            int digits = 9;
            while (nanos % 10 == 0) {
                nanos /= 10;
                digits--;
            }
            sb.append('.');
            pad(sb, nanos, digits);
        }
        sb.append('Z');
    }

    private static StringBuilder pad(StringBuilder sb, int value, int width) {
        String s = Integer.toString(value);
        for (int i = s.length(); i < width; i++) {
            sb.append('0');
        }
        return sb.append(s);
    }

    private static int indexOf(byte[] b, byte c, int from, int to) {
        for (int i = from; i < to; i++) {
            if (b[i] == c) {
                return i;
            }
        }
        return -1;
    }
}
