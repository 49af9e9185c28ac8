package dev.bollard.daemon.testkit;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import java.util.random.RandomGenerator;

/**
 * A generator of samples for the property tests run by {@link Tries}: a function of a seeded random source, so the
 * seed alone reproduces a sample. Combine generators with a lambda ({@code r -> new Case(a.next(r), b.next(r))}).
 * Mutations of a valid sample are {@link Mutations}' (from a seed the sample carries, so a report shows it).
 */
@FunctionalInterface
public interface Gen<T> {

    T next(RandomGenerator r);

    default <U> Gen<U> map(Function<? super T, ? extends U> f) {
        return r -> f.apply(next(r));
    }

    /** Any long, as a seed for a test's own {@code Random} (e.g. {@link Mutations}). */
    static Gen<Long> longs() {
        return RandomGenerator::nextLong;
    }

    static Gen<Integer> ints() {
        return RandomGenerator::nextInt;
    }

    /** From {@code min} to {@code max}, both included. */
    static Gen<Integer> ints(int min, int max) {
        if (min > max) {
            throw new IllegalArgumentException(min + " > " + max);
        }
        return r -> (int) r.nextLong(min, (long) max + 1);
    }

    static Gen<Boolean> booleans() {
        return RandomGenerator::nextBoolean;
    }

    @SafeVarargs
    static <T> Gen<T> oneOf(T... values) {
        return oneOf(List.of(values));
    }

    static <T> Gen<T> oneOf(List<? extends T> values) {
        var copy = List.copyOf(values);
        if (copy.isEmpty()) {
            throw new IllegalArgumentException("nothing to choose from");
        }
        return r -> copy.get(r.nextInt(copy.size()));
    }

    static <E extends Enum<E>> Gen<E> enums(Class<E> type) {
        return oneOf(type.getEnumConstants());
    }

    /** One of {@code choices}, each drawn as often as its weight says. */
    @SafeVarargs
    static <T> Gen<T> frequency(Weighted<? extends T>... choices) {
        var all = List.of(choices);
        int total = all.stream().mapToInt(Weighted::weight).sum();
        if (total <= 0) {
            throw new IllegalArgumentException("no positive weight");
        }
        return r -> {
            int pick = r.nextInt(total);
            for (var c : all) {
                pick -= c.weight();
                if (pick < 0) {
                    return c.gen().next(r);
                }
            }
            throw new AssertionError("unreachable");
        };
    }

    static <T> Weighted<T> weight(int weight, Gen<T> gen) {
        return new Weighted<>(weight, gen);
    }

    /** A choice of {@link #frequency}; weights are relative (zero: never). */
    record Weighted<T>(int weight, Gen<T> gen) {
        public Weighted {
            if (weight < 0) {
                throw new IllegalArgumentException("negative weight " + weight);
            }
        }
    }

    /**
     * A size from 0 to {@code max}: the edges (empty, one, the maximum) and small sizes often, as the bugs of
     * parsers live there, and any size in between the rest of the time.
     */
    static Gen<Integer> sizes(int max) {
        return frequency(weight(1, r -> 0), weight(1, r -> Math.min(1, max)), weight(1, r -> max),
                weight(3, ints(0, Math.min(16, max))), weight(4, ints(0, max)));
    }

    static <T> Gen<List<T>> lists(Gen<T> element, int maxSize) {
        var size = sizes(maxSize);
        return r -> {
            int n = size.next(r);
            var out = new ArrayList<T>(n);
            for (int i = 0; i < n; i++) {
                out.add(element.next(r));
            }
            return out;
        };
    }

    /** Random bytes, up to {@code maxSize} of them. */
    static Gen<byte[]> bytes(int maxSize) {
        var size = sizes(maxSize);
        return r -> {
            byte[] b = new byte[size.next(r)];
            r.nextBytes(b);
            return b;
        };
    }

    /**
     * Text of up to {@code maxLength} chars: printable ASCII, the punctuation of TOML, JSON and YAML, control chars,
     * other BMP characters, supplementary ones (as surrogate pairs) and lone surrogates.
     */
    static Gen<String> strings(int maxLength) {
        var length = sizes(maxLength);
        Gen<String> syntax = oneOf("[", "]", "{", "}", "\"", "'", "=", ".", ",", ":", "#", "\\", "\n", "-", " ",
                "\"\"\"", "&", "*", "!");
        Gen<String> chars = frequency(
                weight(8, r -> Character.toString(r.nextInt(0x20, 0x7f))),
                weight(4, syntax),
                weight(2, r -> Character.toString(r.nextBoolean() ? r.nextInt(0, 0x20) : 0x7f)),
                weight(2, r -> Character.toString(r.nextInt(0x80, 0xd800))),
                weight(1, r -> Character.toString(r.nextInt(0xe000, 0x10000))),
                weight(1, r -> Character.toString(r.nextInt(0x10000, Character.MAX_CODE_POINT + 1))),
                weight(1, r -> String.valueOf((char) r.nextInt(0xd800, 0xe000))));
        return r -> {
            int n = length.next(r);
            var sb = new StringBuilder(n + 2);
            while (sb.length() < n) {
                sb.append(chars.next(r));
            }
            sb.setLength(n); // a multi-char pick may overshoot (and so leave a lone high surrogate: fine)
            return sb.toString();
        };
    }
}
