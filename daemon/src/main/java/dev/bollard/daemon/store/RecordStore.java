package dev.bollard.daemon.store;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import dev.bollard.daemon.content.Digest;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * One crash-safe JSON file per record under a directory: {@code <id>.json} holding
 * {@code {"schema":N,"sha256":"…","record":{…}}}. The checksum covers the record's bytes, so a torn or edited file
 * is reported as corrupt (naming it) instead of being read as something it is not.
 *
 * @param <T> a record type Gson can map (long/String/List/Map/JsonObject fields, no java.time)
 */
public final class RecordStore<T> {

    private static final Gson GSON = new GsonBuilder().disableHtmlEscaping().serializeNulls().create();

    private final Path dir;
    private final Class<T> type;
    private final int schema;
    /** The envelope as {@link #put} writes it: this before the record's SHA-256 in hex, then {@link #AFTER_SUM}. */
    private final byte[] beforeSum;
    private static final byte[] AFTER_SUM = "\",\"record\":".getBytes(StandardCharsets.UTF_8);

    public RecordStore(Path dir, Class<T> type, int schema) throws IOException {
        this.dir = dir;
        this.type = type;
        this.schema = schema;
        this.beforeSum = ("{\"schema\":" + schema + ",\"sha256\":\"sha256:").getBytes(StandardCharsets.UTF_8);
        Modes.privateDirectory(dir); // records hold container specs: env, i.e. secrets
    }

    public Path dir() {
        return dir;
    }

    public void put(String id, T record) throws IOException {
        put(id, record, List.of(), false);
    }

    /**
     * {@link #put} that makes {@code durableFirst} durable before the record (see {@link AtomicFiles#write}).
     *
     * @param lossHarmless whether the record's loss at a power loss is harmless (a new record that nothing after a
     *                     reboot needs): then its rename is not fsynced ({@link AtomicFiles#writeUnlessPowerFails})
     */
    public void put(String id, T record, List<Path> durableFirst, boolean lossHarmless) throws IOException {
        byte[] body = GSON.toJson(record).getBytes(StandardCharsets.UTF_8);
        // The envelope around the record's bytes as they are: parsing them back into a tree only to print it again
        // (what Gson's own envelope would need) cost a parse and a print of every record written.
        byte[] sum = Digest.sha256(body).hex().getBytes(StandardCharsets.US_ASCII);
        int bodyStart = beforeSum.length + sum.length + AFTER_SUM.length;
        byte[] file = new byte[bodyStart + body.length + 1];
        System.arraycopy(beforeSum, 0, file, 0, beforeSum.length);
        System.arraycopy(sum, 0, file, beforeSum.length, sum.length);
        System.arraycopy(AFTER_SUM, 0, file, beforeSum.length + sum.length, AFTER_SUM.length);
        System.arraycopy(body, 0, file, bodyStart, body.length);
        file[file.length - 1] = '}';
        if (lossHarmless) {
            AtomicFiles.writeUnlessPowerFails(file(id), file, name(), durableFirst);
        } else {
            AtomicFiles.write(file(id), file, name(), durableFirst);
        }
    }

    public void delete(String id) throws IOException {
        delete(id, true);
    }

    /**
     * @param durable whether the removal is durable on return (the directory fsynced). Without it, the file system's
     *                next journal commit makes it so: the next record written, or ext4's commit interval (5 s).
     *                Only for a record whose coming back after a power loss the start-up recovers from.
     */
    public void delete(String id, boolean durable) throws IOException {
        long start = System.nanoTime();
        Path f = file(id);
        if (Files.deleteIfExists(f)) {
            if (durable) {
                AtomicFiles.fsyncDirectory(dir);
            }
            StoreTimings.observe(f, name(), "delete", start);
        }
    }

    /** The store's name in the timings: its directory's ({@code sandboxes}, {@code containers}). */
    private String name() {
        return dir.getFileName().toString();
    }

    /** Every record, in no particular order. A corrupt file fails the whole load, naming the file. */
    public List<T> loadAll() throws IOException {
        long start = System.nanoTime();
        List<Path> names;
        try (var files = Files.list(dir)) {
            names = files.filter(p -> p.getFileName().toString().endsWith(".json")
                    && !p.getFileName().toString().startsWith(".")).sorted().toList();
        }
        var out = new ArrayList<T>(names.size());
        if (names.size() < PARALLEL_FROM) {
            for (Path f : names) {
                out.add(read(f));
            }
        } else {
            readInParallel(names, out);
        }
        StoreTimings.observe(dir, name(), "load", start);
        return out;
    }

    /**
     * Below this many records one thread reads them all; from it on (a node's restart: each record parsed, its
     * checksum computed over its body written out again) the files are read on virtual threads, every core busy.
     */
    static final int PARALLEL_FROM = 8;

    /** The records of {@code files}, in their order; the first file's failure (in that order) is thrown. */
    private void readInParallel(List<Path> files, List<T> out) throws IOException {
        try (var exec = java.util.concurrent.Executors.newVirtualThreadPerTaskExecutor()) {
            var reads = new ArrayList<java.util.concurrent.Future<T>>(files.size());
            for (Path f : files) {
                reads.add(exec.submit(() -> read(f)));
            }
            for (var r : reads) {
                try {
                    out.add(r.get());
                } catch (java.util.concurrent.ExecutionException e) {
                    switch (e.getCause()) {
                        case IOException io -> throw io;
                        case RuntimeException re -> throw re;
                        case Error err -> throw err;
                        default -> throw new IOException(e.getCause());
                    }
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new java.io.InterruptedIOException("interrupted while reading the records in " + dir);
                }
            }
        }
    }

    private T read(Path f) throws IOException {
        byte[] file = Files.readAllBytes(f);
        T asWritten = readAsWritten(file);
        return asWritten != null ? asWritten : readEnvelope(f, new String(file, StandardCharsets.UTF_8));
    }

    /**
     * A file as {@link #put} writes it: the envelope's head, the record's bytes, '}'. Its checksum is over those
     * bytes, so they are hashed and parsed once, where a parsed envelope would be printed again to hash it. Null
     * for anything else (another schema, another layout, a checksum that does not match): {@link #readEnvelope}
     * decides, naming the file.
     */
    private T readAsWritten(byte[] file) {
        int bodyStart = beforeSum.length + 64 + AFTER_SUM.length;
        if (file.length <= bodyStart || file[file.length - 1] != '}'
                || !java.util.Arrays.equals(file, 0, beforeSum.length, beforeSum, 0, beforeSum.length)
                || !java.util.Arrays.equals(file, beforeSum.length + 64, bodyStart, AFTER_SUM, 0, AFTER_SUM.length)) {
            return null;
        }
        String sum = new String(file, beforeSum.length, 64, StandardCharsets.US_ASCII);
        var hasher = Digest.messageDigest("sha256");
        hasher.update(file, bodyStart, file.length - 1 - bodyStart);
        if (!java.util.HexFormat.of().formatHex(hasher.digest()).equals(sum)) {
            return null;
        }
        try {
            return GSON.fromJson(new String(file, bodyStart, file.length - 1 - bodyStart, StandardCharsets.UTF_8),
                    type);
        } catch (RuntimeException e) {
            return null;
        }
    }

    private T readEnvelope(Path f, String text) throws IOException {
        try {
            var envelope = JsonParser.parseString(text).getAsJsonObject();
            int version = envelope.get("schema").getAsInt();
            if (version != schema) {
                throw new IOException("record " + f + " has schema " + version + "; this Bollard reads " + schema);
            }
            String body = GSON.toJson(envelope.get("record"));
            String sum = Digest.sha256(body.getBytes(StandardCharsets.UTF_8)).toString();
            if (!sum.equals(envelope.get("sha256").getAsString())) {
                throw new IOException("record " + f + " is corrupt: checksum mismatch");
            }
            return GSON.fromJson(body, type);
        } catch (JsonParseException | IllegalStateException | NullPointerException | UnsupportedOperationException e) {
            throw new IOException("record " + f + " is corrupt: " + e.getMessage(), e);
        }
    }

    private Path file(String id) {
        if (id.isEmpty() || id.contains("/") || id.startsWith(".")) {
            throw new IllegalArgumentException("bad record id \"" + id + "\"");
        }
        return dir.resolve(id + ".json");
    }
}
