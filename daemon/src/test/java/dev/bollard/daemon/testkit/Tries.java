package dev.bollard.daemon.testkit;

import org.junit.jupiter.api.DynamicTest;
import org.opentest4j.TestAbortedException;

import java.lang.reflect.Array;
import java.lang.reflect.InvocationTargetException;
import java.util.Collection;
import java.util.HexFormat;
import java.util.SplittableRandom;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import java.util.stream.LongStream;
import java.util.stream.Stream;

/**
 * Runs a property: {@code tries} samples from a {@link Gen}, each one a JUnit dynamic test of its own (return the
 * stream from a {@code @TestFactory}). Each try draws from a {@link SplittableRandom} seeded from a fixed base seed,
 * the property's name and the try's number, so runs are the same everywhere. A failing try names its seed and its
 * sample and says how to run it again.
 * <ul>
 *   <li>{@code -Dbollard.properties.seed=N}: another base seed (other samples for every property);</li>
 *   <li>{@code -Dbollard.properties.replay=S}: only the try whose seed is {@code S} (with {@code -Dtest=Class#method});</li>
 *   <li>{@code -Dbollard.properties.tries=N}: at least N tries per property, for a longer search.</li>
 * </ul>
 * There is no shrinking: generators should keep samples small enough to read.
 */
public final class Tries {

    public static final String SEED = "bollard.properties.seed";
    public static final String REPLAY = "bollard.properties.replay";
    public static final String TRIES = "bollard.properties.tries";

    /** The base seed when none is given: any fixed number does, this one spells "bollard seed". */
    static final long DEFAULT_SEED = 0xB011A4D5EEDL;

    private static final int DESCRIBED_MAX = 4000;

    private Tries() {
    }

    /** The property's check of one sample: returns normally, or throws (an assertion or any other exception). */
    @FunctionalInterface
    public interface Check<T> {
        void check(T sample) throws Throwable;
    }

    /** {@code tries} samples of {@code gen}, each checked; the property is named after the calling method. */
    public static <T> Stream<DynamicTest> forAll(int tries, Gen<T> gen, Check<T> check) {
        var caller = StackWalker.getInstance(StackWalker.Option.RETAIN_CLASS_REFERENCE)
                .walk(frames -> frames.filter(f -> f.getDeclaringClass() != Tries.class).findFirst()).orElseThrow();
        return forAll(caller.getDeclaringClass().getSimpleName() + "#" + caller.getMethodName(), tries, gen, check);
    }

    /** As {@link #forAll(int, Gen, Check)}, named {@code property} (its seeds derive from the name). */
    public static <T> Stream<DynamicTest> forAll(String property, int tries, Gen<T> gen, Check<T> check) {
        long base = longProperty(SEED, DEFAULT_SEED);
        String replay = System.getProperty(REPLAY, "").strip();
        int n = Math.max(tries, Integer.getInteger(TRIES, 0));
        long propertySeed = mix(base ^ mix(property.hashCode()));
        LongStream seeds = replay.isEmpty()
                ? LongStream.rangeClosed(1, n).map(i -> mix(propertySeed + i * 0x9E3779B97F4A7C15L))
                : LongStream.of(Long.parseUnsignedLong(strip0x(replay), 16));
        long[] all = seeds.toArray();
        return IntStream.range(0, all.length).mapToObj(i -> {
            long seed = all[i];
            String where = replay.isEmpty() ? "try " + (i + 1) + "/" + all.length : "replay";
            return DynamicTest.dynamicTest(where + " seed " + hex(seed),
                    () -> runOne(property, where, base, seed, gen, check));
        });
    }

    /** Whether this run replays one try ({@code -Dbollard.properties.replay}) rather than running them all. */
    public static boolean replaying() {
        return !System.getProperty(REPLAY, "").isBlank();
    }

    /** The sample of {@code gen} for one try's seed (what a failure report's replay regenerates). */
    public static <T> T sample(Gen<T> gen, long seed) {
        return gen.next(new SplittableRandom(seed));
    }

    private static <T> void runOne(String property, String where, long base, long seed, Gen<T> gen, Check<T> check)
            throws Throwable {
        T sample;
        try {
            sample = sample(gen, seed);
        } catch (RuntimeException e) {
            throw new AssertionError(report(property, where, base, seed, "(the generator failed)"), e);
        }
        try {
            check.check(sample);
        } catch (TestAbortedException skipped) {
            throw skipped;
        } catch (Throwable failed) {
            var e = new AssertionError(report(property, where, base, seed, describe(sample)) + "\n  failure: " + failed,
                    failed);
            throw e;
        }
    }

    private static String report(String property, String where, long base, long seed, String sample) {
        return property + " failed at " + where + " (base seed " + hex(base) + ")\n  sample: " + sample
                + "\n  run this try again: -Dtest='" + property + "' -D" + REPLAY + "=" + hex(seed)
                + "\n  run all tries again: -D" + SEED + "=" + hex(base);
    }

    /** A sample as text for a failure report: records by component, byte arrays escaped, strings quoted, cut long. */
    public static String describe(Object sample) {
        String text = describe(sample, 0);
        return text.length() <= DESCRIBED_MAX ? text
                : text.substring(0, DESCRIBED_MAX) + "... (" + text.length() + " chars in all)";
    }

    private static String describe(Object o, int depth) {
        if (depth > 8) {
            return "...";
        }
        return switch (o) {
            case null -> "null";
            case byte[] b -> "bytes[" + b.length + "] \"" + escape(b) + "\"";
            case String s -> "\"" + escape(s) + "\"";
            case Record r -> {
                var parts = new StringBuilder(r.getClass().getSimpleName()).append('[');
                var components = r.getClass().getRecordComponents();
                for (int i = 0; i < components.length; i++) {
                    Object v;
                    try {
                        var accessor = components[i].getAccessor();
                        accessor.setAccessible(true);
                        v = accessor.invoke(r);
                    } catch (IllegalAccessException | InvocationTargetException | RuntimeException e) {
                        v = "<" + e + ">";
                    }
                    parts.append(i == 0 ? "" : ", ").append(components[i].getName()).append('=')
                            .append(describe(v, depth + 1));
                }
                yield parts.append(']').toString();
            }
            case Collection<?> c -> c.stream().map(e -> describe(e, depth + 1))
                    .collect(Collectors.joining(", ", "[", "]"));
            case Long l -> l + " (" + hex(l) + ")";
            default -> o.getClass().isArray() ? IntStream.range(0, Array.getLength(o))
                    .mapToObj(i -> describe(Array.get(o, i), depth + 1)).collect(Collectors.joining(", ", "[", "]"))
                    : String.valueOf(o);
        };
    }

    /** Printable ASCII as is, other bytes as \xNN; a run of 8 or more equal bytes once, with its length: {N}. */
    private static String escape(byte[] b) {
        var sb = new StringBuilder();
        for (int i = 0; i < b.length && sb.length() <= DESCRIBED_MAX; ) {
            int run = 1;
            while (i + run < b.length && b[i + run] == b[i]) {
                run++;
            }
            int c = b[i] & 0xff;
            String one = c >= 0x20 && c < 0x7f && c != '"' && c != '\\' && c != '{' ? String.valueOf((char) c)
                    : switch (c) {
                        case '\n' -> "\\n";
                        case '"' -> "\\\"";
                        case '\\' -> "\\\\";
                        default -> "\\x" + HexFormat.of().toHexDigits((byte) c);
                    };
            if (run >= 8) {
                sb.append(one).append('{').append(run).append('}');
                i += run;
            } else {
                sb.append(one);
                i++;
            }
        }
        return sb.toString();
    }

    private static String escape(String s) {
        var sb = new StringBuilder();
        for (int i = 0; i < s.length() && sb.length() <= DESCRIBED_MAX; i++) {
            char c = s.charAt(i);
            if (c == '"' || c == '\\') {
                sb.append('\\').append(c);
            } else if (c == '\n') {
                sb.append("\\n");
            } else if (c < 0x20 || c == 0x7f || Character.isSurrogate(c) && !surrogatePairAt(s, i)) {
                sb.append("\\u").append(HexFormat.of().toHexDigits(c));
            } else {
                sb.append(c);
            }
        }
        return sb.toString();
    }

    private static boolean surrogatePairAt(String s, int i) {
        char c = s.charAt(i);
        return Character.isHighSurrogate(c) ? i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))
                : i > 0 && Character.isHighSurrogate(s.charAt(i - 1));
    }

    private static long longProperty(String name, long otherwise) {
        String v = System.getProperty(name, "").strip();
        if (v.isEmpty()) {
            return otherwise;
        }
        return v.startsWith("0x") || v.startsWith("0X") ? Long.parseUnsignedLong(strip0x(v), 16) : Long.parseLong(v);
    }

    private static String strip0x(String v) {
        return v.startsWith("0x") || v.startsWith("0X") ? v.substring(2) : v;
    }

    private static String hex(long v) {
        return "0x" + Long.toHexString(v);
    }

    /** A 64-bit finalizer (SplitMix64's): nearby inputs give unrelated seeds. */
    private static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
