package dev.bollard.daemon.snapshot;

import java.io.ByteArrayOutputStream;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Watches a tar stream on its way into commons-compress and keeps each entry's PAX {@code SCHILY.xattr.*} values as
 * raw bytes. commons-compress decodes PAX values as UTF-8, which mangles binary values such as
 * {@code security.capability} (any byte of 0x80 or more, e.g. cap_setuid). It stays the authority for everything
 * else; this only walks the 512-byte blocks (header, then data rounded up to a block) and queues, per real entry,
 * its xattrs and its data size so that the caller can check the two parsers agree.
 */
final class PaxTap extends FilterInputStream {

    static final String XATTR = "SCHILY.xattr.";
    private static final int BLOCK = 512;

    /** What this parser saw for one entry that commons-compress will return. */
    record Seen(long size, Map<String, byte[]> xattrs) {
    }

    private final ArrayDeque<Seen> seen = new ArrayDeque<>();
    private final byte[] header = new byte[BLOCK];
    private int headerFill;
    private long contentLeft;
    private long paddingLeft;
    private ByteArrayOutputStream capture;
    private boolean captureGlobal;
    private final Map<String, byte[]> local = new LinkedHashMap<>();
    private final Map<String, byte[]> global = new LinkedHashMap<>();
    private boolean done;
    private String broken;

    PaxTap(InputStream in) {
        super(in);
    }

    /** The next real entry's view; null if none is queued (the parsers disagree). */
    Seen next() {
        return seen.pollFirst();
    }

    /** Why this parser gave up (a header it cannot follow), or null. */
    String broken() {
        return broken;
    }

    @Override
    public int read() throws IOException {
        byte[] one = new byte[1];
        return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
        int n = in.read(b, off, len);
        if (n > 0) {
            observe(b, off, n);
        }
        return n;
    }

    @Override
    public long skip(long n) throws IOException {
        // Skipped bytes must be seen too.
        byte[] buf = new byte[(int) Math.min(Math.max(n, 1), 8192)];
        long done = 0;
        while (done < n) {
            int r = read(buf, 0, (int) Math.min(buf.length, n - done));
            if (r < 0) {
                break;
            }
            done += r;
        }
        return done;
    }

    @Override
    public boolean markSupported() {
        return false;
    }

    private void observe(byte[] b, int off, int len) {
        while (len > 0 && !done) {
            if (contentLeft > 0) {
                int take = (int) Math.min(len, contentLeft);
                if (capture != null) {
                    capture.write(b, off, take);
                }
                contentLeft -= take;
                off += take;
                len -= take;
                if (contentLeft == 0 && capture != null) {
                    records(capture.toByteArray(), captureGlobal ? global : local);
                    capture = null;
                }
            } else if (paddingLeft > 0) {
                int take = (int) Math.min(len, paddingLeft);
                paddingLeft -= take;
                off += take;
                len -= take;
            } else {
                int take = Math.min(len, BLOCK - headerFill);
                System.arraycopy(b, off, header, headerFill, take);
                headerFill += take;
                off += take;
                len -= take;
                if (headerFill == BLOCK) {
                    headerFill = 0;
                    header();
                }
            }
        }
    }

    private void header() {
        if (allZero(header)) {
            done = true; // end-of-archive marker
            return;
        }
        if (!checksumOk()) {
            stop("header checksum mismatch"); // commons-compress does not check it
            return;
        }
        byte type = header[156];
        long size = number(124, 12);
        if (size < 0) {
            stop("unreadable size field");
            return;
        }
        switch (type) {
            case 'x', 'X', 'g' -> {
                capture = new ByteArrayOutputStream((int) Math.min(size, 1 << 16));
                captureGlobal = type == 'g';
                if (size == 0) {
                    capture = null;
                }
            }
            case 'L', 'K' -> {
                // GNU long name or link: commons-compress reads it; only its length matters here.
            }
            case 'S' -> {
                stop("old GNU sparse entry"); // refused by the caller anyway
                return;
            }
            default -> {
                byte[] paxSize = local.get("size");
                if (paxSize != null) {
                    try {
                        size = Long.parseLong(new String(paxSize, StandardCharsets.US_ASCII).trim());
                    } catch (NumberFormatException e) {
                        stop("unreadable PAX size");
                        return;
                    }
                }
                var xattrs = new LinkedHashMap<String, byte[]>();
                xattrsOf(global, xattrs);
                xattrsOf(local, xattrs); // a local record overrides a global one
                seen.addLast(new Seen(size, xattrs));
                local.clear();
            }
        }
        contentLeft = size;
        paddingLeft = (BLOCK - size % BLOCK) % BLOCK;
    }

    private static void xattrsOf(Map<String, byte[]> records, Map<String, byte[]> into) {
        records.forEach((k, v) -> {
            if (k.startsWith(XATTR)) {
                into.put(k.substring(XATTR.length()), v);
            }
        });
    }

    private void stop(String why) {
        broken = why;
        done = true;
    }

    /** PAX records: "<len> <key>=<value>\n", len counting the whole record; values are kept as bytes. */
    private void records(byte[] data, Map<String, byte[]> into) {
        int i = 0;
        while (i < data.length) {
            int sp = i;
            while (sp < data.length && data[sp] != ' ') {
                sp++;
            }
            int len;
            try {
                len = Integer.parseInt(new String(data, i, sp - i, StandardCharsets.US_ASCII));
            } catch (NumberFormatException e) {
                return; // commons-compress reports malformed headers; nothing reliable to keep here
            }
            int end = i + len;
            if (len <= 0 || end > data.length || data[end - 1] != '\n') {
                return;
            }
            int eq = sp + 1;
            while (eq < end && data[eq] != '=') {
                eq++;
            }
            if (eq >= end) {
                return;
            }
            String key = new String(data, sp + 1, eq - sp - 1, StandardCharsets.UTF_8);
            byte[] value = Arrays.copyOfRange(data, eq + 1, end - 1);
            into.put(key, value);
            i = end;
        }
    }

    /** An octal field (NUL/space padded) or, with the high bit set, GNU base-256. */
    private long number(int off, int len) {
        if ((header[off] & 0x80) != 0) {
            long v = header[off] & 0x3f;
            for (int i = 1; i < len; i++) {
                if (v > (Long.MAX_VALUE >> 8)) {
                    return -1;
                }
                v = (v << 8) | (header[off + i] & 0xff);
            }
            return (header[off] & 0x40) != 0 ? -1 : v;
        }
        long v = 0;
        int i = off;
        int end = off + len;
        while (i < end && (header[i] == ' ' || header[i] == 0)) {
            i++;
        }
        for (; i < end && header[i] >= '0' && header[i] <= '7'; i++) {
            v = v * 8 + (header[i] - '0');
        }
        return v;
    }

    /** The header's byte sum with the checksum field read as spaces; historic writers summed signed bytes. */
    private boolean checksumOk() {
        long unsigned = 0;
        long signed = 0;
        for (int i = 0; i < BLOCK; i++) {
            byte b = i >= 148 && i < 156 ? (byte) ' ' : header[i];
            unsigned += b & 0xff;
            signed += b;
        }
        long stored = number(148, 8);
        return stored == unsigned || stored == signed;
    }

    private static boolean allZero(byte[] b) {
        for (byte x : b) {
            if (x != 0) {
                return false;
            }
        }
        return true;
    }
}
