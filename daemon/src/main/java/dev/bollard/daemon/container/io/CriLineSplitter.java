package dev.bollard.daemon.container.io;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.Arrays;

/**
 * Cuts one stream's raw output into CRI log entries, as containerd's CRI logger does: a newline ends an F entry (the
 * newline, and a carriage return right before it, are dropped); a line longer than {@code maxLineBytes} is cut into P
 * chunks of exactly that size, its remainder ending in an F entry; output that ends without a newline ends with a P
 * entry. A line of exactly {@code maxLineBytes} is one F entry. {@code maxLineBytes <= 0} means no limit.
 * Not thread-safe: one per stream, used by that stream's pump.
 */
final class CriLineSplitter {

    private final byte[] stream;
    private final int maxLineBytes;
    private byte[] pending;
    private int length;

    CriLineSplitter(String stream, int maxLineBytes) {
        this.stream = stream.getBytes(StandardCharsets.US_ASCII);
        this.maxLineBytes = maxLineBytes;
        this.pending = new byte[maxLineBytes > 0 ? Math.min(maxLineBytes, 4096) : 4096];
    }

    /** Appends to {@code out} the entries {@code data} completes, stamped {@code now}. */
    void feed(byte[] data, int off, int len, Instant now, ByteArrayOutputStream out) {
        byte[] header = null;
        int end = off + len;
        int i = off;
        while (i < end) {
            int nl = indexOfNewline(data, i, end);
            int stop = nl < 0 ? end : nl;
            // Copy the line's bytes, cutting a P chunk when a byte beyond the limit arrives (so a line of exactly
            // the limit stays one F entry). A CR right after a full chunk is held back: if LF follows, it is part
            // of the line end, as in containerd.
            while (i < stop) {
                if (maxLineBytes > 0 && length >= maxLineBytes) {
                    if (length == maxLineBytes && data[i] == '\r') {
                        append(data, i, 1);
                        i++;
                        continue;
                    }
                    header = header == null ? header(now) : header;
                    cutChunk(out, header);
                    continue;
                }
                int take = stop - i;
                if (maxLineBytes > 0) {
                    take = Math.min(take, maxLineBytes - length);
                }
                append(data, i, take);
                i += take;
            }
            if (nl >= 0) {
                header = header == null ? header(now) : header;
                int content = length > 0 && pending[length - 1] == '\r' ? length - 1 : length;
                emit(out, header, 'F', content);
                length = 0;
                i = nl + 1;
            }
        }
    }

    /** At end of file: what is left of an unfinished line becomes a P entry. */
    void finish(Instant now, ByteArrayOutputStream out) {
        if (length > 0) {
            byte[] header = header(now);
            if (maxLineBytes > 0 && length > maxLineBytes) {
                cutChunk(out, header);
            }
            emit(out, header, 'P', length);
            length = 0;
        }
    }

    /** Emits the first maxLineBytes as a P entry and keeps the rest (at most the held-back CR). */
    private void cutChunk(ByteArrayOutputStream out, byte[] header) {
        emit(out, header, 'P', maxLineBytes);
        int rest = length - maxLineBytes;
        System.arraycopy(pending, maxLineBytes, pending, 0, rest);
        length = rest;
    }

    private void append(byte[] data, int off, int len) {
        if (length + len > pending.length) {
            int want = Math.max(length + len, pending.length * 2);
            pending = Arrays.copyOf(pending, maxLineBytes > 0 ? Math.min(want, Math.max(maxLineBytes + 1, length + len)) : want);
        }
        System.arraycopy(data, off, pending, length, len);
        length += len;
    }

    private byte[] header(Instant now) {
        var sb = new StringBuilder(48);
        CriLogLines.appendTimestamp(sb, now);
        sb.append(' ');
        byte[] ts = sb.toString().getBytes(StandardCharsets.US_ASCII);
        byte[] h = Arrays.copyOf(ts, ts.length + stream.length + 1);
        System.arraycopy(stream, 0, h, ts.length, stream.length);
        h[h.length - 1] = ' ';
        return h;
    }

    private void emit(ByteArrayOutputStream out, byte[] header, char tag, int contentLength) {
        out.write(header, 0, header.length);
        out.write(tag);
        out.write(' ');
        out.write(pending, 0, contentLength);
        out.write('\n');
    }

    private static int indexOfNewline(byte[] b, int from, int to) {
        for (int i = from; i < to; i++) {
            if (b[i] == '\n') {
                return i;
            }
        }
        return -1;
    }
}
