package dev.bollard.daemon.image;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonParseException;
import dev.bollard.daemon.log.Log;
import dev.bollard.daemon.store.AtomicFiles;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Predicate;

/**
 * The image records, one JSON file each under {@code <root>/images/}, written crash-safely. References (tags and
 * digests) are unique: adding one to an image takes it from any other, and an image left with no reference is
 * deleted, as in containerd. Lookups take a reference or an image ID.
 */
public final class ImageStore {

    private static final Log LOG = Log.get("image");
    private static final Gson GSON = new GsonBuilder().disableHtmlEscaping().create();

    private final Path dir;
    private final Clock clock;
    private final Map<String, ImageRecord> byId = new ConcurrentHashMap<>();
    private final Map<String, String> idByRef = new ConcurrentHashMap<>();
    /** Bumped after every change of a record or reference is visible (see {@link #version()}). */
    private final java.util.concurrent.atomic.AtomicLong version = new java.util.concurrent.atomic.AtomicLong();

    public ImageStore(Path dir, Clock clock) throws IOException {
        this.dir = dir;
        this.clock = clock;
        Files.createDirectories(dir);
        load();
    }

    private void load() throws IOException {
        var records = new ArrayList<ImageRecord>();
        try (var files = Files.list(dir)) {
            for (Path f : files.filter(p -> p.getFileName().toString().endsWith(".json")).toList()) {
                ImageRecord r;
                try {
                    r = GSON.fromJson(Files.readString(f), ImageRecord.class);
                } catch (JsonParseException e) {
                    throw new IOException("image record " + f + " is corrupt: " + e.getMessage(), e);
                }
                if (r == null || r.id() == null || r.schema() != ImageRecord.SCHEMA) {
                    throw new IOException("image record " + f + " is unreadable (schema "
                            + (r == null ? "?" : r.schema()) + ", this Bollard reads " + ImageRecord.SCHEMA + ")");
                }
                records.add(r);
            }
        }
        // Newest first, so that a reference claimed twice (a crash between two record writes) goes to the newest.
        records.sort(Comparator.comparingLong(ImageRecord::updatedAt).reversed());
        for (var r : records) {
            var tags = r.repoTags().stream().filter(t -> !idByRef.containsKey(t)).toList();
            var digests = r.repoDigests().stream().filter(d -> !idByRef.containsKey(d)).toList();
            if (tags.size() != r.repoTags().size() || digests.size() != r.repoDigests().size()) {
                LOG.warn("image record repaired: a reference also held by a newer record", "id", r.id());
                r = r.withReferences(tags, digests, r.updatedAt());
                if (r.unreferenced()) {
                    Files.deleteIfExists(file(r.id()));
                    continue;
                }
                write(r);
            }
            index(r);
        }
    }

    private void index(ImageRecord r) {
        byId.put(r.id(), r);
        r.repoTags().forEach(t -> idByRef.put(t, r.id()));
        r.repoDigests().forEach(d -> idByRef.put(d, r.id()));
        version.incrementAndGet();
    }

    /** Counts the changes to records and references: an answer built from them at version N is right while it reads N. */
    public long version() {
        return version.get();
    }

    public Collection<ImageRecord> list() {
        return List.copyOf(byId.values());
    }

    public List<ImageRecord> list(Predicate<ImageRecord> filter) {
        return byId.values().stream().filter(filter).toList();
    }

    public Optional<ImageRecord> byId(String id) {
        return Optional.ofNullable(byId.get(id));
    }

    /** The image a normalized reference names, if any. */
    public Optional<ImageRecord> byReference(String normalizedRef) {
        return Optional.ofNullable(idByRef.get(normalizedRef)).map(byId::get);
    }

    /**
     * Records an image with new references: creates it, or adds the references to the existing record of the
     * same ID. References are taken from whichever image held them; an image left with none is removed.
     *
     * @return the images that lost their last reference and were removed (their content may now be collected)
     */
    public synchronized List<ImageRecord> add(ImageRecord image) throws IOException {
        long now = clock.millis();
        var existing = byId.get(image.id());
        List<String> tags = merge(existing == null ? List.of() : existing.repoTags(), image.repoTags());
        List<String> digests = merge(existing == null ? List.of() : existing.repoDigests(), image.repoDigests());
        var updated = (existing != null ? existing : image).withReferences(tags, digests, now);

        // Take the references from their previous holders first; write the new holder last, so a crash in
        // between leaves the newer write (this one) to win on load.
        var removed = new ArrayList<ImageRecord>();
        var losers = new HashMap<String, List<String>>();
        for (String ref : concat(image.repoTags(), image.repoDigests())) {
            String holder = idByRef.get(ref);
            if (holder != null && !holder.equals(image.id())) {
                losers.computeIfAbsent(holder, h -> new ArrayList<>()).add(ref);
            }
        }
        write(updated);
        for (var loss : losers.entrySet()) {
            var r = byId.get(loss.getKey());
            var left = r.withReferences(without(r.repoTags(), loss.getValue()), without(r.repoDigests(), loss.getValue()), now);
            if (left.unreferenced()) {
                delete(r);
                removed.add(r);
            } else {
                write(left);
                index(left);
            }
        }
        index(updated);
        return removed;
    }

    /** Drops one reference; the image goes with its last one. @return the image if it was removed */
    public synchronized Optional<ImageRecord> untag(String ref) throws IOException {
        String id = idByRef.get(ref);
        if (id == null) {
            return Optional.empty();
        }
        var r = byId.get(id);
        var left = r.withReferences(without(r.repoTags(), List.of(ref)), without(r.repoDigests(), List.of(ref)), clock.millis());
        if (left.unreferenced()) {
            delete(r);
            return Optional.of(r);
        }
        write(left);
        idByRef.remove(ref);
        index(left);
        return Optional.empty();
    }

    /** Removes the image and all its references. Idempotent. */
    public synchronized Optional<ImageRecord> remove(String id) throws IOException {
        var r = byId.get(id);
        if (r == null) {
            return Optional.empty();
        }
        delete(r);
        return Optional.of(r);
    }

    private void delete(ImageRecord r) throws IOException {
        long start = System.nanoTime();
        Files.deleteIfExists(file(r.id()));
        AtomicFiles.fsyncDirectory(dir);
        dev.bollard.daemon.store.StoreTimings.observe(file(r.id()), "images", "delete", start);
        byId.remove(r.id());
        r.repoTags().forEach(t -> idByRef.remove(t, r.id()));
        r.repoDigests().forEach(d -> idByRef.remove(d, r.id()));
        version.incrementAndGet();
    }

    private void write(ImageRecord r) throws IOException {
        AtomicFiles.write(file(r.id()), GSON.toJson(r).getBytes(StandardCharsets.UTF_8), "images");
    }

    private Path file(String id) {
        return dir.resolve(id.replace(':', '-') + ".json");
    }

    private static List<String> merge(List<String> a, List<String> b) {
        var out = new ArrayList<>(a);
        b.stream().filter(x -> !out.contains(x)).forEach(out::add);
        return out;
    }

    private static List<String> without(List<String> from, List<String> drop) {
        return from.stream().filter(x -> !drop.contains(x)).toList();
    }

    private static List<String> concat(List<String> a, List<String> b) {
        var out = new ArrayList<>(a);
        out.addAll(b);
        return out;
    }
}
