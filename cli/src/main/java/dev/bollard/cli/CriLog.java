package dev.bollard.cli;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.format.DateTimeParseException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.function.BooleanSupplier;

/**
 * Container log files in the CRI format kubelet reads, one record a line:
 * {@code <RFC3339Nano timestamp> <stdout|stderr> <F|P> <content>}. A {@code P} (partial) record continues on the
 * next record of the same stream, up to its {@code F} (full) record; the reader joins them into one line.
 */
final class CriLog {

    enum Stream { STDOUT, STDERR }

    /** One logical line: the timestamp of its first record, its stream, and its content without the newline. */
    record Line(String timestamp, Instant time, Stream stream, byte[] content) {
        Line {
            Objects.requireNonNull(timestamp);
            Objects.requireNonNull(stream);
            Objects.requireNonNull(content);
        }

        String text() {
            return new String(content, StandardCharsets.UTF_8);
        }
    }

    /** A record as it is on disk. */
    record Record(String timestamp, Instant time, Stream stream, boolean partial, byte[] content) {
    }

    interface Sink {
        void line(Line line) throws IOException;
    }

    private CriLog() {
    }

    /** Parses one record (without its trailing newline), or null for a line that is not one. */
    static Record parse(byte[] buf, int start, int end) {
        int s1 = indexOf(buf, start, end, (byte) ' ');
        if (s1 < 0) {
            return null;
        }
        int s2 = indexOf(buf, s1 + 1, end, (byte) ' ');
        if (s2 < 0) {
            return null;
        }
        String ts = new String(buf, start, s1 - start, StandardCharsets.US_ASCII);
        String streamName = new String(buf, s1 + 1, s2 - s1 - 1, StandardCharsets.US_ASCII);
        Stream stream = switch (streamName) {
            case "stdout" -> Stream.STDOUT;
            case "stderr" -> Stream.STDERR;
            default -> null;
        };
        if (stream == null) {
            return null;
        }
        // The tag field: F or P, possibly with more ':'-separated tags after it; a record may end right after it.
        int s3 = indexOf(buf, s2 + 1, end, (byte) ' ');
        int tagEnd = s3 < 0 ? end : s3;
        String tags = new String(buf, s2 + 1, tagEnd - s2 - 1, StandardCharsets.US_ASCII);
        String first = tags.split(":", 2)[0];
        if (!first.equals("F") && !first.equals("P")) {
            return null;
        }
        Instant time;
        try {
            time = OffsetDateTime.parse(ts).toInstant();
        } catch (DateTimeParseException e) {
            return null;
        }
        int contentStart = s3 < 0 ? end : s3 + 1;
        byte[] content = java.util.Arrays.copyOfRange(buf, contentStart, end);
        return new Record(ts, time, stream, first.equals("P"), content);
    }

    private static int indexOf(byte[] buf, int from, int end, byte b) {
        for (int i = from; i < end; i++) {
            if (buf[i] == b) {
                return i;
            }
        }
        return -1;
    }

    /** Joins records into lines, per stream (stdout and stderr partials may interleave). */
    static final class Joiner {
        private final ByteArrayOutputStream[] pending = {new ByteArrayOutputStream(), new ByteArrayOutputStream()};
        private final Record[] firstOf = new Record[2];
        private int malformed;

        /** The completed line, or null while the record is a partial one (or not a record at all). */
        Line accept(byte[] buf, int start, int end) {
            Record r = parse(buf, start, end);
            if (r == null) {
                malformed++;
                return null;
            }
            int i = r.stream().ordinal();
            if (firstOf[i] == null) {
                firstOf[i] = r;
            }
            pending[i].writeBytes(r.content());
            if (r.partial()) {
                return null;
            }
            Record first = firstOf[i];
            var line = new Line(first.timestamp(), first.time(), r.stream(), pending[i].toByteArray());
            pending[i].reset();
            firstOf[i] = null;
            return line;
        }

        int malformed() {
            return malformed;
        }
    }

    /** What to show: lines at or after {@code since} (null: all), and only the last {@code tail} (negative: all). */
    record Options(Instant since, long tail) {
    }

    /**
     * Reads the whole file once and writes the selected lines to the sink; the byte offset up to which the file
     * was consumed (a trailing record without its newline is left for a follower).
     */
    static long readAll(Path file, Options options, Joiner joiner, Sink sink) throws IOException {
        byte[] data;
        try (InputStream in = Files.newInputStream(file)) {
            data = in.readAllBytes();
        }
        var lines = new ArrayDeque<Line>();
        long consumed = 0;
        int start = 0;
        for (int i = 0; i < data.length; i++) {
            if (data[i] != '\n') {
                continue;
            }
            Line line = joiner.accept(data, start, i);
            start = i + 1;
            consumed = start;
            if (line == null || (options.since() != null && line.time().isBefore(options.since()))) {
                continue;
            }
            if (options.tail() < 0) {
                sink.line(line);
            } else if (options.tail() > 0) {
                lines.addLast(line);
                if (lines.size() > options.tail()) {
                    lines.removeFirst();
                }
            }
        }
        for (Line line : lines) {
            sink.line(line);
        }
        return consumed;
    }

    /**
     * Follows a log file after {@link #readAll}: polls for growth, starts over on a new file at the path (a
     * rotation: the rest of the old one is read first) or a truncated one, and returns once {@code running}
     * answers false and everything written so far has been read.
     */
    static void follow(Path file, long offset, Options options, Joiner joiner, Sink sink, BooleanSupplier running,
                       long pollMillis) throws IOException, InterruptedException {
        FileChannel channel = open(file);
        BasicFileAttributes opened = channel == null ? null : attributes(file);
        Object key = opened == null ? null : opened.fileKey();
        long position = offset;
        var partial = new ByteArrayOutputStream();
        ByteBuffer buffer = ByteBuffer.allocate(64 * 1024);
        try {
            while (true) {
                boolean alive = running.getAsBoolean();
                if (channel != null) {
                    position = drain(channel, position, buffer, partial, joiner, options, sink);
                }
                // A rotation renames the file away and creates a new one; a truncation shrinks it in place.
                BasicFileAttributes current = attributes(file);
                Object currentKey = current == null ? null : current.fileKey();
                boolean replaced = currentKey != null && !currentKey.equals(key);
                boolean truncated = channel != null && !replaced && current != null && current.size() < position;
                if (replaced || truncated || (channel == null && currentKey != null)) {
                    if (channel != null) {
                        position = drain(channel, position, buffer, partial, joiner, options, sink);
                        channel.close();
                    }
                    partial.reset();
                    channel = open(file);
                    key = currentKey;
                    position = 0;
                    if (channel != null) {
                        position = drain(channel, position, buffer, partial, joiner, options, sink);
                    }
                }
                if (!alive) {
                    return;
                }
                Thread.sleep(pollMillis);
            }
        } finally {
            if (channel != null) {
                channel.close();
            }
        }
    }

    private static long drain(FileChannel channel, long position, ByteBuffer buffer, ByteArrayOutputStream partial,
                              Joiner joiner, Options options, Sink sink) throws IOException {
        while (true) {
            buffer.clear();
            int n = channel.read(buffer, position);
            if (n <= 0) {
                return position;
            }
            position += n;
            byte[] chunk = buffer.array();
            int start = 0;
            for (int i = 0; i < n; i++) {
                if (chunk[i] != '\n') {
                    continue;
                }
                byte[] record;
                if (partial.size() > 0) {
                    partial.write(chunk, start, i - start);
                    record = partial.toByteArray();
                    partial.reset();
                } else {
                    record = java.util.Arrays.copyOfRange(chunk, start, i);
                }
                start = i + 1;
                Line line = joiner.accept(record, 0, record.length);
                if (line != null && (options.since() == null || !line.time().isBefore(options.since()))) {
                    sink.line(line);
                }
            }
            partial.write(chunk, start, n - start);
        }
    }

    private static FileChannel open(Path file) throws IOException {
        try {
            return FileChannel.open(file, StandardOpenOption.READ);
        } catch (NoSuchFileException e) {
            return null;
        }
    }

    private static BasicFileAttributes attributes(Path file) throws IOException {
        try {
            return Files.readAttributes(file, BasicFileAttributes.class);
        } catch (NoSuchFileException e) {
            return null;
        }
    }

    /** All lines of a file, for tests and small files. */
    static List<Line> lines(Path file, Options options) throws IOException {
        var out = new ArrayList<Line>();
        readAll(file, options, new Joiner(), out::add);
        return out;
    }
}
