package dev.bollard.vm;

import com.google.gson.JsonObject;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

class VmSizingTest {

    private static JsonObject annotations(String... kv) {
        var o = new JsonObject();
        for (int i = 0; i < kv.length; i += 2) {
            o.addProperty(kv[i], kv[i + 1]);
        }
        return o;
    }

    @Test
    void aPodWithoutLimitsGetsTheBase() {
        assertEquals(new VmSizing(1, 256), VmSizing.of(1, 256, new JsonObject(), 8));
        assertEquals(new VmSizing(1, 256), VmSizing.of(1, 256, annotations(VmSizing.CPU_QUOTA, "-1",
                VmSizing.CPU_PERIOD, "100000", VmSizing.MEMORY, "0"), 8), "unlimited quota and memory add nothing");
    }

    @Test
    void limitsAndOverheadAreAddedToTheBaseRoundedUp() {
        var a = annotations(
                VmSizing.CPU_QUOTA, "150000", VmSizing.CPU_PERIOD, "100000",         // 1.5 CPUs -> 2
                VmSizing.MEMORY, Long.toString(100L * 1024 * 1024 + 1),               // 100 MiB + 1 byte -> 101
                VmSizing.OVERHEAD_CPU_QUOTA, "10000", VmSizing.OVERHEAD_CPU_PERIOD, "100000", // 0.1 -> 1
                VmSizing.OVERHEAD_MEMORY, Long.toString(64L * 1024 * 1024));           // 64 MiB
        assertEquals(new VmSizing(4, 256 + 101 + 64), VmSizing.of(1, 256, a, 8));
    }

    @Test
    void vcpusStopAtTheNodesCpusButNeverBelowTheBase() {
        var a = annotations(VmSizing.CPU_QUOTA, "800000", VmSizing.CPU_PERIOD, "100000");
        assertEquals(2, VmSizing.of(1, 256, a, 2).cpus());
        assertEquals(4, VmSizing.of(4, 256, a, 2).cpus(), "the configured base is kept");
    }

    @Test
    void unreadableAnnotationsCountAsNone() {
        var a = annotations(VmSizing.CPU_QUOTA, "lots", VmSizing.CPU_PERIOD, "0", VmSizing.MEMORY, "1e9");
        assertEquals(new VmSizing(1, 256), VmSizing.of(1, 256, a, 8));
    }
}
