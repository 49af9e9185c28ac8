package dev.bollard.daemon.store;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RecordStoreTest {

    record Item(String id, long n, List<String> tags) {
    }

    @Test
    void recordsRoundTripAndDeleteIsIdempotent(@TempDir Path dir) throws IOException {
        var store = new RecordStore<>(dir.resolve("items"), Item.class, 1);
        store.put("a", new Item("a", 1, List.of("x")));
        store.put("b", new Item("b", 2, List.of()));
        store.put("a", new Item("a", 3, List.of("y", "z")));
        assertEquals(List.of(new Item("a", 3, List.of("y", "z")), new Item("b", 2, List.of())), store.loadAll());
        store.delete("a");
        store.delete("a");
        assertEquals(List.of(new Item("b", 2, List.of())), store.loadAll());
        store.put("c", new Item("c", 4, List.of()));
        store.delete("c", false); // not synced: gone all the same
        store.delete("c", false);
        assertEquals(List.of(new Item("b", 2, List.of())), store.loadAll());
        try (var files = Files.list(dir.resolve("items"))) {
            assertEquals(List.of("b.json"), files.map(p -> p.getFileName().toString()).toList(), "no temp file left");
        }
    }

    record Tricky(String text, String none, double ratio, com.google.gson.JsonObject tree, java.util.Map<String, Long> counts) {
    }

    /** The envelope holds the record's bytes as printed; reading re-prints the parsed tree to check the sum. */
    @Test
    void recordsWithEscapesNullsFractionsAndTreesReadBackAsWritten(@TempDir Path dir) throws IOException {
        var tree = com.google.gson.JsonParser.parseString("{\"a\":[1,2.50,-0.0,1e3],\"b\":null,\"c\":\"<&>='\"}")
                .getAsJsonObject();
        var item = new Tricky("quote \" backslash \\ tab \t nl \n nul \u0000 ctl \u001f ls \u2028 é 雪 😀 <a href='x'>&",
                null, 0.1, tree, java.util.Map.of("k", Long.MAX_VALUE));
        var store = new RecordStore<>(dir, Tricky.class, 1);
        store.put("t", item);
        assertEquals(List.of(item), store.loadAll());
        String file = Files.readString(dir.resolve("t.json"));
        assertTrue(file.startsWith("{\"schema\":1,\"sha256\":\"sha256:"), file);
        assertTrue(com.google.gson.JsonParser.parseString(file).isJsonObject(), file);
    }

    /**
     * Records are read from the bytes between the envelope's head and its last brace when the file is laid out as
     * {@code put} writes it; any other layout of a valid envelope (fields reordered, spaces, as another writer may
     * print it) is still read, through the parsed envelope.
     */
    @Test
    void anEnvelopeLaidOutOtherwiseStillReads(@TempDir Path dir) throws IOException {
        var store = new RecordStore<>(dir, Item.class, 1);
        String body = "{\"id\":\"a\",\"n\":7,\"tags\":[\"x\"]}";
        String sum = dev.bollard.daemon.content.Digest.sha256(body.getBytes(java.nio.charset.StandardCharsets.UTF_8))
                .toString();
        Files.writeString(dir.resolve("a.json"), "{\n  \"record\": {\"id\": \"a\", \"n\": 7, \"tags\": [\"x\"]},\n"
                + "  \"sha256\": \"" + sum + "\",\n  \"schema\": 1\n}\n");
        store.put("b", new Item("b", 8, List.of()));
        assertEquals(List.of(new Item("a", 7, List.of("x")), new Item("b", 8, List.of())), store.loadAll());
    }

    @Test
    void anEditedRecordIsReportedCorruptNamingTheFile(@TempDir Path dir) throws IOException {
        var store = new RecordStore<>(dir, Item.class, 1);
        store.put("a", new Item("a", 1, List.of()));
        Path f = dir.resolve("a.json");
        Files.writeString(f, Files.readString(f).replace("\"n\":1", "\"n\":2"));
        var e = assertThrows(IOException.class, store::loadAll);
        assertTrue(e.getMessage().contains(f.toString()) && e.getMessage().contains("checksum"), e.getMessage());
        Files.writeString(f, "{\"schema\":1,");
        var torn = assertThrows(IOException.class, store::loadAll);
        assertTrue(torn.getMessage().contains("corrupt"), torn.getMessage());
    }

    /** A node's worth of records is read on several threads: still every one, in file order, a corrupt one named. */
    @Test
    void manyRecordsLoadInOrderAndACorruptOneIsNamed(@TempDir Path dir) throws IOException {
        var store = new RecordStore<>(dir, Item.class, 1);
        var expected = new java.util.ArrayList<Item>();
        for (int i = 0; i < RecordStore.PARALLEL_FROM * 4; i++) {
            String id = "r%03d".formatted(i);
            var item = new Item(id, i, List.of("t" + i));
            store.put(id, item);
            expected.add(item);
        }
        assertEquals(expected, store.loadAll());
        Path f = dir.resolve("r017.json");
        Files.writeString(f, Files.readString(f).replace("\"n\":17", "\"n\":71"));
        Path g = dir.resolve("r023.json");
        Files.writeString(g, "{\"schema\":1,");
        var e = assertThrows(IOException.class, store::loadAll);
        assertTrue(e.getMessage().contains(f.toString()) && e.getMessage().contains("checksum"),
                "the first corrupt file in order: " + e.getMessage());
    }

    @Test
    void aRecordOfAnotherSchemaIsRefused(@TempDir Path dir) throws IOException {
        new RecordStore<>(dir, Item.class, 2).put("a", new Item("a", 1, List.of()));
        var e = assertThrows(IOException.class, () -> new RecordStore<>(dir, Item.class, 1).loadAll());
        assertTrue(e.getMessage().contains("schema 2"), e.getMessage());
    }

    @Test
    void idsThatWouldLeaveTheDirectoryAreRefused(@TempDir Path dir) throws IOException {
        var store = new RecordStore<>(dir, Item.class, 1);
        assertThrows(IllegalArgumentException.class, () -> store.put("../x", new Item("x", 0, List.of())));
        assertThrows(IllegalArgumentException.class, () -> store.put("", new Item("x", 0, List.of())));
    }

    @Test
    void aNameHasOneHolder() {
        var names = new NameRegistry();
        assertEquals(Optional.empty(), names.reserve("pod_ns_uid_0", "id1"));
        assertEquals(Optional.empty(), names.reserve("pod_ns_uid_0", "id1"), "the holder may reserve again");
        assertEquals(Optional.of("id1"), names.reserve("pod_ns_uid_0", "id2"));
        names.release("pod_ns_uid_0", "id2");
        assertEquals(Optional.of("id1"), names.holder("pod_ns_uid_0"), "only the holder releases");
        names.release("pod_ns_uid_0", "id1");
        assertEquals(Optional.empty(), names.reserve("pod_ns_uid_0", "id2"));
    }

    @Test
    void deleteTreeRefusesToCrossAMountPoint(@TempDir Path dir) throws Exception {
        Path tree = Files.createDirectories(dir.resolve("tree/sub"));
        Files.writeString(tree.resolve("f"), "x");
        Path mnt = Files.createDirectories(dir.resolve("tree/mnt"));
        dev.bollard.daemon.linux.Syscalls.mount("tmpfs", mnt, "tmpfs", 0, "size=1m");
        try {
            Files.writeString(mnt.resolve("precious"), "keep");
            var e = assertThrows(IOException.class, () -> FileTrees.deleteTree(dir.resolve("tree")));
            assertTrue(e.getMessage().contains("mount point"), e.getMessage());
            assertTrue(Files.exists(mnt.resolve("precious")));
        } finally {
            dev.bollard.daemon.linux.Syscalls.umount2(mnt, dev.bollard.daemon.linux.Syscalls.MNT_DETACH);
        }
        FileTrees.deleteTree(dir.resolve("tree"));
        assertTrue(Files.notExists(dir.resolve("tree")));
        FileTrees.deleteTree(dir.resolve("tree")); // missing is fine
    }

    @Test
    void operationsAreTimedForTheRegisteredDirectoryOnly(@TempDir Path dir) throws Exception {
        record Op(String store, String op, long nanos) {
        }
        var seen = new java.util.concurrent.CopyOnWriteArrayList<Op>();
        var store = new RecordStore<>(dir.resolve("root/store/items"), Item.class, 1);
        var elsewhere = new RecordStore<>(dir.resolve("other/items"), Item.class, 1);
        try (var registration = StoreTimings.register(dir.resolve("root"), (s, o, n) -> seen.add(new Op(s, o, n)))) {
            store.put("a", new Item("a", 1, List.of()));
            store.loadAll();
            store.delete("a");
            store.delete("a"); // nothing deleted: nothing timed
            elsewhere.put("b", new Item("b", 1, List.of()));
            AtomicFiles.write(dir.resolve("root/plain"), new byte[]{1});
        }
        store.put("c", new Item("c", 1, List.of())); // after the registration closed
        assertEquals(List.of("items/write", "items/load", "items/delete", "files/write"),
                seen.stream().map(o -> o.store() + "/" + o.op()).toList());
        assertTrue(seen.stream().allMatch(o -> o.nanos() > 0), seen.toString());
    }
}
