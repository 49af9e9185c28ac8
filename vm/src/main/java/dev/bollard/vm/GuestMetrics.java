package dev.bollard.vm;

import com.google.protobuf.Any;
import dev.bollard.api.containerd.cgroups.v2.CPUStat;
import dev.bollard.api.containerd.cgroups.v2.MemoryEvents;
import dev.bollard.api.containerd.cgroups.v2.MemoryStat;
import dev.bollard.api.containerd.cgroups.v2.Metrics;
import dev.bollard.api.containerd.cgroups.v2.PidsStat;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** The agent's "stats" answer (key, value, key, value… read from the container's cgroup in the guest) as metrics. */
final class GuestMetrics {

    static final String TYPE_URL = "io.containerd.cgroups.v2.Metrics";

    private GuestMetrics() {
    }

    static Metrics parse(List<String> fields) {
        Map<String, String> values = new HashMap<>();
        for (int i = 0; i + 1 < fields.size(); i += 2) {
            values.put(fields.get(i), fields.get(i + 1));
        }
        return Metrics.newBuilder()
                .setCpu(CPUStat.newBuilder().setUsageUsec(number(values, "cpu.usage_usec"))
                        .setUserUsec(number(values, "cpu.user_usec")).setSystemUsec(number(values, "cpu.system_usec")))
                .setMemory(MemoryStat.newBuilder().setUsage(number(values, "memory.current"))
                        .setUsageLimit(number(values, "memory.max")).setAnon(number(values, "memory.anon"))
                        .setFile(number(values, "memory.file")).setInactiveFile(number(values, "memory.inactive_file")))
                .setMemoryEvents(MemoryEvents.newBuilder().setOomKill(number(values, "memory.oom_kill")))
                .setPids(PidsStat.newBuilder().setCurrent(number(values, "pids.current")))
                .build();
    }

    /** A cgroup number; "max" is unlimited, reported as the largest unsigned value as containerd does. */
    private static long number(Map<String, String> values, String key) {
        String value = values.getOrDefault(key, "0").strip();
        if (value.equals("max")) {
            return -1L;
        }
        try {
            return Long.parseUnsignedLong(value);
        } catch (NumberFormatException e) {
            return 0;
        }
    }

    static Any toAny(Metrics metrics) {
        return Any.newBuilder().setTypeUrl(TYPE_URL).setValue(metrics.toByteString()).build();
    }
}
