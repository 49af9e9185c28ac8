package dev.bollard.daemon.content;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ContentStoreTest {

    private static final byte[] DATA = "hello, bollard content".getBytes(StandardCharsets.UTF_8);
    private static final Digest DIGEST = Digest.sha256(DATA);

    @Test
    void putVerifiesAndPublishes(@TempDir Path root) throws Exception {
        var store = new ContentStore(root);
        assertFalse(store.has(DIGEST));
        store.put(DIGEST, DATA);
        assertTrue(store.has(DIGEST));
        assertArrayEquals(DATA, store.read(DIGEST));
        assertEquals(List.of(DIGEST), store.list());
        assertEquals(DATA.length, store.usageBytes());
        store.put(DIGEST, DATA); // present already: a no-op
        assertEquals(List.of(DIGEST), store.list());
    }

    @Test
    void aBlobThatDoesNotVerifyNeverEntersTheStore(@TempDir Path root) throws Exception {
        var store = new ContentStore(root);
        byte[] tampered = DATA.clone();
        tampered[0] ^= 1;
        var e = assertThrows(IOException.class, () -> store.put(DIGEST, tampered));
        assertEquals("blob " + DIGEST + ": content does not match its digest", e.getMessage());
        assertFalse(store.has(DIGEST));
        assertEquals(0, store.usageBytes(), "no partial data kept for a corrupt blob");
    }

    @Test
    void wrongSizeIsRefused(@TempDir Path root) throws Exception {
        var store = new ContentStore(root);
        try (var w = store.writer(DIGEST, DATA.length + 1L)) {
            w.write(ByteBuffer.wrap(DATA));
            assertEquals("blob " + DIGEST + ": got " + DATA.length + " bytes, expected " + (DATA.length + 1),
                    assertThrows(IOException.class, w::commit).getMessage());
        }
        try (var w = store.writer(DIGEST, 3)) {
            w.restart();
            assertThrows(IOException.class, () -> w.write(ByteBuffer.wrap(DATA)));
        }
        assertFalse(store.has(DIGEST));
    }

    @Test
    void anInterruptedIngestResumesFromItsOffset(@TempDir Path root) throws Exception {
        var store = new ContentStore(root);
        try (var w = store.writer(DIGEST, DATA.length)) {
            w.write(ByteBuffer.wrap(DATA, 0, 10));
        } // closed without commit: as after a dropped connection or a crash
        var reopened = new ContentStore(root);
        try (var w = reopened.writer(DIGEST, DATA.length)) {
            assertEquals(10, w.offset());
            w.write(ByteBuffer.wrap(DATA, 10, DATA.length - 10));
            w.commit();
        }
        assertArrayEquals(DATA, reopened.read(DIGEST));
        try (var files = Files.list(root.resolve("ingest"))) {
            assertEquals(0, files.count(), "ingest emptied on commit");
        }
    }

    @Test
    void concurrentWritersOfOneBlobWriteItOnce(@TempDir Path root) throws Exception {
        var store = new ContentStore(root);
        var wrote = new AtomicInteger();
        try (var pool = Executors.newVirtualThreadPerTaskExecutor()) {
            for (int i = 0; i < 8; i++) {
                pool.submit(() -> {
                    try (var w = store.writer(DIGEST, DATA.length)) {
                        if (!w.present()) {
                            wrote.incrementAndGet();
                            w.restart();
                            w.write(ByteBuffer.wrap(DATA));
                            w.commit();
                        }
                    }
                    return null;
                });
            }
        }
        assertEquals(1, wrote.get());
        assertArrayEquals(DATA, store.read(DIGEST));
    }

    @Test
    void putStreamStoresUnderTheDigestItHas(@TempDir Path root) throws Exception {
        var store = new ContentStore(root);
        assertEquals(DIGEST, store.putStream(new java.io.ByteArrayInputStream(DATA)));
        assertEquals(DIGEST, store.putStream(new java.io.ByteArrayInputStream(DATA)), "again: already present");
        assertArrayEquals(DATA, store.read(DIGEST));
        try (var files = Files.list(root.resolve("ingest"))) {
            assertEquals(0, files.count());
        }
    }

    @Test
    void idlePartialIngestsAreBoundedNewestKeptAndOnesBeingWrittenNeverTouched(@TempDir Path root) throws Exception {
        var store = new ContentStore(root);
        byte[] a = new byte[4000];
        byte[] b = new byte[3000];
        byte[] c = new byte[2000];
        for (byte[] blob : List.of(a, b, c)) {
            java.util.Arrays.fill(blob, (byte) blob.length);
        }
        var now = java.time.Instant.now();
        int age = 3;
        for (byte[] blob : List.of(a, b, c)) {
            try (var w = store.writer(Digest.sha256(blob), blob.length)) {
                w.write(ByteBuffer.wrap(blob, 0, blob.length - 1)); // one byte short: kept for a resume
            }
            Files.setLastModifiedTime(root.resolve("ingest/sha256-" + Digest.sha256(blob).hex()),
                    java.nio.file.attribute.FileTime.from(now.minusSeconds(age--)));
        }
        assertEquals(3, ingestCount(root), "closed without commit: kept");
        // newest first within 5500 bytes: c (1999) and b (2999) stay, a goes
        assertEquals(1, store.pruneIngests(java.time.Duration.ofHours(1), 5500, now));
        assertFalse(Files.exists(root.resolve("ingest/sha256-" + Digest.sha256(a).hex())));
        assertEquals(2, ingestCount(root));
        // one being written survives even a full-disk drop; the idle one goes
        try (var w = store.writer(Digest.sha256(b), b.length)) {
            assertEquals(b.length - 1, w.offset(), "resumed");
            assertEquals(1, store.dropIdleIngests());
            assertEquals(1, ingestCount(root));
        }
        assertEquals(1, store.dropIdleIngests());
        assertEquals(0, ingestCount(root));
        // older than the hour a retry could come in: gone whatever the budget
        try (var w = store.writer(DIGEST, DATA.length)) {
            w.write(ByteBuffer.wrap(DATA, 0, 5));
        }
        assertEquals(0, store.pruneIdleIngests(now));
        assertEquals(1, store.pruneIdleIngests(now.plus(ContentStore.IDLE_INGEST_MAX_AGE).plusSeconds(60)));
    }

    private static long ingestCount(Path root) throws IOException {
        try (var files = Files.list(root.resolve("ingest"))) {
            return files.count();
        }
    }

    @Test
    void abandonedPartialIngestsArePrunedYoungOnesKept(@TempDir Path root) throws Exception {
        var store = new ContentStore(root);
        try (var w = store.writer(DIGEST, DATA.length)) {
            w.write(ByteBuffer.wrap(DATA, 0, 5));
        }
        var now = java.time.Instant.now();
        assertEquals(0, store.pruneIngests(java.time.Duration.ofDays(1), now));
        assertEquals(1, store.pruneIngests(java.time.Duration.ofDays(1), now.plus(java.time.Duration.ofDays(2))));
        try (var w = store.writer(DIGEST, DATA.length)) {
            assertEquals(0, w.offset(), "the partial download is gone");
        }
    }

    @Test
    void aFollowerReadsTheBlobAsItIsWritten(@TempDir Path root) throws Exception {
        var store = new ContentStore(root);
        try (var w = store.writer(DIGEST, DATA.length); var pool = Executors.newVirtualThreadPerTaskExecutor()) {
            var in = w.follow();
            var read = pool.submit(() -> in.readAllBytes());
            for (int i = 0; i < DATA.length; i += 4) {
                w.write(ByteBuffer.wrap(DATA, i, Math.min(4, DATA.length - i)));
                Thread.sleep(2);
            }
            w.commit();
            assertArrayEquals(DATA, read.get(5, java.util.concurrent.TimeUnit.SECONDS));
            in.close();
        }
    }

    @Test
    void aFollowerFailsWhenTheWriteFailsOrRestarts(@TempDir Path root) throws Exception {
        var store = new ContentStore(root);
        try (var w = store.writer(DIGEST, DATA.length); var pool = Executors.newVirtualThreadPerTaskExecutor()) {
            var in = w.follow();
            var read = pool.submit(() -> in.readAllBytes());
            w.write(ByteBuffer.wrap(DATA, 0, 3));
            w.restart();
            var e = assertThrows(java.util.concurrent.ExecutionException.class, () -> read.get(5, java.util.concurrent.TimeUnit.SECONDS));
            assertTrue(e.getCause() instanceof ContentStore.WriteRestartedException, e.toString());
            var again = w.follow();
            var read2 = pool.submit(() -> again.readAllBytes());
            w.stopFollowers();
            var e2 = assertThrows(java.util.concurrent.ExecutionException.class, () -> read2.get(5, java.util.concurrent.TimeUnit.SECONDS));
            assertEquals("blob " + DIGEST + ": the download failed", e2.getCause().getMessage());
            in.close();
            again.close();
        }
    }

    @Test
    void missingBlobIsNamed(@TempDir Path root) throws Exception {
        var store = new ContentStore(root);
        assertEquals("blob " + DIGEST + " is not in the content store",
                assertThrows(java.nio.file.NoSuchFileException.class, () -> store.read(DIGEST)).getMessage());
    }
}
