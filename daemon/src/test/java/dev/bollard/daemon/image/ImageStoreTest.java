package dev.bollard.daemon.image;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ImageStoreTest {

    private static final String A = "sha256:" + "a".repeat(64);
    private static final String B = "sha256:" + "b".repeat(64);
    private static final Clock CLOCK = Clock.fixed(Instant.parse("2026-11-22T09:00:00Z"), ZoneOffset.UTC);

    private static ImageRecord image(String id, List<String> tags, List<String> digests) {
        return new ImageRecord(ImageRecord.SCHEMA, id, tags, digests, 1234, "sha256:" + "c".repeat(64),
                List.of(new ImageRecord.Layer("sha256:" + "d".repeat(64), 1000, "application/vnd.oci.image.layer.v1.tar+gzip",
                        "sha256:" + "e".repeat(64))), 0, "", false, Map.of(), 0);
    }

    @Test
    void recordsSurviveARestart(@TempDir Path dir) throws Exception {
        var store = new ImageStore(dir, CLOCK);
        store.add(image(A, List.of("docker.io/library/busybox:latest"), List.of("docker.io/library/busybox@sha256:" + "1".repeat(64))));
        var reopened = new ImageStore(dir, CLOCK);
        var r = reopened.byReference("docker.io/library/busybox:latest").orElseThrow();
        assertEquals(A, r.id());
        assertEquals(r, reopened.byReference("docker.io/library/busybox@sha256:" + "1".repeat(64)).orElseThrow());
        assertEquals(1, r.layers().size());
        assertEquals(CLOCK.millis(), r.updatedAt());
    }

    @Test
    void aTagMovesToTheNewImageAndTheOldOneGoesWithItsLastReference(@TempDir Path dir) throws Exception {
        var store = new ImageStore(dir, CLOCK);
        store.add(image(A, List.of("docker.io/x/app:1"), List.of()));
        var removed = store.add(image(B, List.of("docker.io/x/app:1"), List.of()));
        assertEquals(List.of(A), removed.stream().map(ImageRecord::id).toList());
        assertEquals(Optional.empty(), store.byId(A));
        assertEquals(B, store.byReference("docker.io/x/app:1").orElseThrow().id());
        assertEquals(1, new ImageStore(dir, CLOCK).list().size());
    }

    @Test
    void samePullFromTwoRegistriesIsOneImage(@TempDir Path dir) throws Exception {
        var store = new ImageStore(dir, CLOCK);
        store.add(image(A, List.of("docker.io/library/busybox:1"), List.of("docker.io/library/busybox@sha256:" + "1".repeat(64))));
        store.add(image(A, List.of("127.0.0.1:5000/busybox:1"), List.of("127.0.0.1:5000/busybox@sha256:" + "1".repeat(64))));
        assertEquals(1, store.list().size());
        var r = store.byId(A).orElseThrow();
        assertEquals(List.of("docker.io/library/busybox:1", "127.0.0.1:5000/busybox:1"), r.repoTags());
        assertEquals(2, r.repoDigests().size());
    }

    @Test
    void untagKeepsTheImageUntilItsLastReference(@TempDir Path dir) throws Exception {
        var store = new ImageStore(dir, CLOCK);
        store.add(image(A, List.of("docker.io/x/a:1", "docker.io/x/a:2"), List.of()));
        assertEquals(Optional.empty(), store.untag("docker.io/x/a:1"));
        assertEquals(List.of("docker.io/x/a:2"), store.byId(A).orElseThrow().repoTags());
        assertEquals(Optional.empty(), store.byReference("docker.io/x/a:1"));
        assertEquals(A, store.untag("docker.io/x/a:2").orElseThrow().id());
        assertTrue(store.list().isEmpty());
        assertEquals(Optional.empty(), store.untag("docker.io/x/a:2"), "idempotent");
        try (var files = Files.list(dir)) {
            assertEquals(0, files.count());
        }
    }

    @Test
    void removeIsIdempotent(@TempDir Path dir) throws Exception {
        var store = new ImageStore(dir, CLOCK);
        store.add(image(A, List.of("docker.io/x/a:1"), List.of()));
        assertEquals(A, store.remove(A).orElseThrow().id());
        assertEquals(Optional.empty(), store.remove(A));
        assertEquals(Optional.empty(), store.byReference("docker.io/x/a:1"));
    }

    @Test
    void aReferenceHeldTwiceAfterACrashGoesToTheNewestRecord(@TempDir Path dir) throws Exception {
        var gson = new com.google.gson.Gson();
        var old = image(A, List.of("docker.io/x/a:1"), List.of()).withReferences(List.of("docker.io/x/a:1"), List.of(), 100);
        var newer = image(B, List.of("docker.io/x/a:1", "docker.io/x/a:2"), List.of())
                .withReferences(List.of("docker.io/x/a:1", "docker.io/x/a:2"), List.of(), 200);
        Files.writeString(dir.resolve(A.replace(':', '-') + ".json"), gson.toJson(old));
        Files.writeString(dir.resolve(B.replace(':', '-') + ".json"), gson.toJson(newer));
        var store = new ImageStore(dir, CLOCK);
        assertEquals(B, store.byReference("docker.io/x/a:1").orElseThrow().id());
        assertEquals(Optional.empty(), store.byId(A), "the old record had no other reference");
        assertTrue(Files.notExists(dir.resolve(A.replace(':', '-') + ".json")));
    }

    @Test
    void corruptRecordIsReportedNotDropped(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("sha256-x.json"), "{not json");
        var e = assertThrows(java.io.IOException.class, () -> new ImageStore(dir, CLOCK));
        assertTrue(e.getMessage().startsWith("image record " + dir.resolve("sha256-x.json") + " is corrupt"), e.getMessage());
    }
}
