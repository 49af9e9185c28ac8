package dev.bollard.daemon.testkit;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.gson.JsonPrimitive;

import java.math.BigInteger;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * Mutations of valid inputs for property tests of parsers fed by untrusted input: byte-level (bit flips, cuts,
 * duplicated and inserted runs, truncation) and, for JSON, structural (a node replaced by a value of another type,
 * a huge number, a deep nest, a key removed). Deterministic from a seed, so a failing try (see {@link Tries}) is
 * replayed from its seed.
 */
public final class Mutations {

    private Mutations() {
    }

    /** {@code count} byte-level mutations of {@code in}. */
    public static byte[] bytes(byte[] in, long seed, int count) {
        var r = new Random(seed);
        byte[] b = in.clone();
        for (int i = 0; i < count; i++) {
            if (b.length == 0) {
                b = new byte[]{(byte) r.nextInt()};
                continue;
            }
            int at = r.nextInt(b.length);
            switch (r.nextInt(6)) {
                case 0 -> b[at] ^= (byte) (1 << r.nextInt(8));
                case 1 -> b[at] = (byte) r.nextInt();
                case 2 -> b = Arrays.copyOf(b, at); // truncated
                case 3 -> { // a run removed
                    int len = Math.min(b.length - at, 1 + r.nextInt(64));
                    byte[] out = new byte[b.length - len];
                    System.arraycopy(b, 0, out, 0, at);
                    System.arraycopy(b, at + len, out, at, b.length - at - len);
                    b = out;
                }
                case 4 -> { // a run duplicated
                    int len = Math.min(b.length - at, 1 + r.nextInt(64));
                    byte[] out = new byte[b.length + len];
                    System.arraycopy(b, 0, out, 0, at + len);
                    System.arraycopy(b, at, out, at + len, b.length - at);
                    b = out;
                }
                default -> { // random bytes inserted
                    byte[] junk = new byte[1 + r.nextInt(16)];
                    r.nextBytes(junk);
                    byte[] out = new byte[b.length + junk.length];
                    System.arraycopy(b, 0, out, 0, at);
                    System.arraycopy(junk, 0, out, at, junk.length);
                    System.arraycopy(b, at, out, at + junk.length, b.length - at);
                    b = out;
                }
            }
        }
        return b;
    }

    /** {@code count} structural mutations of a JSON document. */
    public static JsonElement json(JsonElement in, long seed, int count) {
        var r = new Random(seed);
        JsonElement root = in.deepCopy();
        for (int i = 0; i < count; i++) {
            var slots = new ArrayList<Slot>();
            collect(root, slots);
            if (slots.isEmpty()) {
                return randomValue(r, 0);
            }
            var s = slots.get(r.nextInt(slots.size()));
            if (s.parent() instanceof JsonObject o && r.nextInt(4) == 0) {
                o.remove(s.key());
            } else {
                s.set(randomValue(r, 0));
            }
        }
        return root;
    }

    public static JsonElement json(byte[] document, long seed, int count) {
        return json(JsonParser.parseString(new String(document, java.nio.charset.StandardCharsets.UTF_8)), seed, count);
    }

    /** A place in a JSON tree that can hold another value. */
    private record Slot(JsonElement parent, String key, int index) {
        void set(JsonElement v) {
            if (parent instanceof JsonObject o) {
                o.add(key, v);
            } else {
                ((JsonArray) parent).set(index, v);
            }
        }
    }

    private static void collect(JsonElement e, List<Slot> out) {
        if (e instanceof JsonObject o) {
            for (var entry : o.entrySet()) {
                out.add(new Slot(o, entry.getKey(), -1));
                collect(entry.getValue(), out);
            }
        } else if (e instanceof JsonArray a) {
            for (int i = 0; i < a.size(); i++) {
                out.add(new Slot(a, null, i));
                collect(a.get(i), out);
            }
        }
    }

    /** A value of any JSON type, including the awkward ones: huge and fractional numbers, deep nests. */
    public static JsonElement randomValue(Random r, int depth) {
        return switch (r.nextInt(depth > 3 ? 9 : 12)) {
            case 0 -> JsonNull.INSTANCE;
            case 1 -> new JsonPrimitive(r.nextBoolean());
            case 2 -> new JsonPrimitive(r.nextInt());
            case 3 -> new JsonPrimitive(-1 - r.nextInt(5));
            case 4 -> new JsonPrimitive(new BigInteger(200, r));
            case 5 -> new JsonPrimitive(r.nextDouble() * 1e300);
            case 6 -> new JsonPrimitive("");
            case 7 -> new JsonPrimitive(randomString(r));
            case 8 -> new JsonPrimitive("sha256:" + "0".repeat(r.nextInt(70)));
            case 9 -> {
                var a = new JsonArray();
                for (int i = r.nextInt(4); i > 0; i--) {
                    a.add(randomValue(r, depth + 1));
                }
                yield a;
            }
            case 10 -> {
                var o = new JsonObject();
                for (int i = r.nextInt(4); i > 0; i--) {
                    o.add(randomString(r), randomValue(r, depth + 1));
                }
                yield o;
            }
            default -> { // a deep nest, as a hostile document may send
                JsonElement e = new JsonPrimitive(1);
                for (int i = 0; i < 200; i++) {
                    var a = new JsonArray();
                    a.add(e);
                    e = a;
                }
                yield e;
            }
        };
    }

    private static String randomString(Random r) {
        String[] pool = {"mediaType", "digest", "size", "platform", "architecture", "os", "layers", "config",
                "manifests", "schemaVersion", "annotations", "../..", "\u0000", "linux", "amd64", "%zz", "💥"};
        return r.nextInt(3) == 0 ? Long.toString(r.nextLong(), 36) : pool[r.nextInt(pool.length)];
    }
}
