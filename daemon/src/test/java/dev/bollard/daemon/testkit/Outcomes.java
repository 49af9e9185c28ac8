package dev.bollard.daemon.testkit;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.DynamicTest;

import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * How a property's tries ended ("built", "refused", "not a config"...), counted, so that a generator whose samples
 * all end the same way (a property that checks less than it seems to) fails instead of passing quietly.
 */
public final class Outcomes {

    private final Map<String, LongAdder> counts = new ConcurrentHashMap<>();

    public void count(String outcome) {
        counts.computeIfAbsent(outcome, k -> new LongAdder()).increment();
    }

    public Map<String, Long> counts() {
        var out = new TreeMap<String, Long>();
        counts.forEach((k, v) -> out.put(k, v.sum()));
        return out;
    }

    /** A dynamic test to run after the tries: each of {@code expected} was counted at least once. */
    public DynamicTest seen(String... expected) {
        return DynamicTest.dynamicTest("outcomes include " + String.join(", ", expected), () -> {
            Assumptions.assumeFalse(Tries.replaying(), "a replay runs one try only");
            var seen = counts();
            for (String e : List.of(expected)) {
                assertTrue(seen.getOrDefault(e, 0L) > 0, "no try ended as \"" + e + "\": " + seen);
            }
        });
    }
}
