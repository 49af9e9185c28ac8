package dev.bollard.daemon.snapshot;

import com.github.luben.zstd.ZstdOutputStream;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.attribute.FileTime;
import java.time.Instant;
import java.util.function.Consumer;
import java.util.zip.GZIPOutputStream;

/** Builds tar layers for tests with commons-compress, names kept verbatim (absolute and ".." included). */
final class TestLayer {
    static final Instant MTIME = Instant.parse("2024-05-01T12:00:00Z");

    private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    private final TarArchiveOutputStream tar;

    TestLayer(int longFileMode) {
        tar = new TarArchiveOutputStream(bytes, StandardCharsets.UTF_8.name());
        tar.setLongFileMode(longFileMode);
        tar.setBigNumberMode(TarArchiveOutputStream.BIGNUMBER_POSIX);
        tar.setAddPaxHeadersForNonAsciiNames(true);
    }

    TestLayer() {
        this(TarArchiveOutputStream.LONGFILE_POSIX);
    }

    /**
     * A raw PAX record for the next entry, written by hand because commons-compress writes values as UTF-8 strings
     * and times with 100 ns precision only.
     */
    TestLayer pax(String key, byte[] value) {
        return record(pending, key, value);
    }

    /** A global ('g') PAX header, written right away; commons-compress writes its records itself. */
    TestLayer globalPax(String key, String value) {
        var x = new TarArchiveEntry("GlobalHead", TarArchiveEntry.LF_PAX_GLOBAL_EXTENDED_HEADER);
        x.addPaxHeader(key, value);
        x.setLastModifiedTime(FileTime.from(MTIME));
        try {
            tar.putArchiveEntry(x);
        } catch (IOException io) {
            throw new UncheckedIOException(io);
        }
        return this;
    }

    private TestLayer record(ByteArrayOutputStream into, String key, byte[] value) {
        byte[] kv = new byte[key.length() + 1 + value.length];
        System.arraycopy(key.getBytes(StandardCharsets.UTF_8), 0, kv, 0, key.length());
        kv[key.length()] = '=';
        System.arraycopy(value, 0, kv, key.length() + 1, value.length);
        int len = kv.length + 3;
        while (String.valueOf(len).length() + 1 + kv.length + 1 != len) {
            len++;
        }
        into.writeBytes((len + " ").getBytes(StandardCharsets.UTF_8));
        into.writeBytes(kv);
        into.write('\n');
        return this;
    }

    private final ByteArrayOutputStream pending = new ByteArrayOutputStream();

    private TestLayer add(String name, byte type, int mode, byte[] content, Consumer<TarArchiveEntry> more) {
        if (pending.size() > 0) {
            var x = new TarArchiveEntry("PaxHeaders/x", TarArchiveEntry.LF_PAX_EXTENDED_HEADER_LC);
            x.setSize(pending.size());
            x.setLastModifiedTime(FileTime.from(MTIME)); // whole seconds: no PAX header of its own

            try {
                tar.putArchiveEntry(x);
                tar.write(pending.toByteArray());
                tar.closeArchiveEntry();
            } catch (IOException io) {
                throw new UncheckedIOException(io);
            }
            pending.reset();
        }
        var e = new TarArchiveEntry(name, type, true);
        e.setMode(mode);
        e.setLastModifiedTime(FileTime.from(MTIME));
        e.setSize(content.length);
        if (more != null) {
            more.accept(e);
        }
        try {
            tar.putArchiveEntry(e);
            tar.write(content);
            tar.closeArchiveEntry();
        } catch (IOException x) {
            throw new UncheckedIOException(x);
        }
        return this;
    }

    TestLayer dir(String name, int mode, Consumer<TarArchiveEntry> more) {
        return add(name.endsWith("/") ? name : name + "/", TarArchiveEntry.LF_DIR, mode, new byte[0], more);
    }

    TestLayer dir(String name) {
        return dir(name, 0755, null);
    }

    TestLayer file(String name, String content, int mode, Consumer<TarArchiveEntry> more) {
        return add(name, TarArchiveEntry.LF_NORMAL, mode, content.getBytes(StandardCharsets.UTF_8), more);
    }

    TestLayer file(String name, String content) {
        return file(name, content, 0644, null);
    }

    TestLayer symlink(String name, String target) {
        return add(name, TarArchiveEntry.LF_SYMLINK, 0777, new byte[0], e -> e.setLinkName(target));
    }

    TestLayer hardlink(String name, String target) {
        return add(name, TarArchiveEntry.LF_LINK, 0644, new byte[0], e -> e.setLinkName(target));
    }

    TestLayer device(String name, byte type, int major, int minor) {
        return add(name, type, 0640, new byte[0], e -> {
            e.setDevMajor(major);
            e.setDevMinor(minor);
        });
    }

    TestLayer fifo(String name) {
        return add(name, TarArchiveEntry.LF_FIFO, 0600, new byte[0], null);
    }

    byte[] plain() {
        try {
            tar.close();
        } catch (IOException x) {
            throw new UncheckedIOException(x);
        }
        return bytes.toByteArray();
    }

    static byte[] gzip(byte[] plain) throws IOException {
        var out = new ByteArrayOutputStream();
        try (var gz = new GZIPOutputStream(out)) {
            gz.write(plain);
        }
        return out.toByteArray();
    }

    static byte[] zstd(byte[] plain) throws IOException {
        var out = new ByteArrayOutputStream();
        try (var z = new ZstdOutputStream(out)) {
            z.write(plain);
        }
        return out.toByteArray();
    }
}
