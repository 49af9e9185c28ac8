package dev.bollard.daemon.stats;

/** The arithmetic kubelet and cAdvisor define for CRI stats, kept apart so it can be tested alone. */
public final class StatsMath {

    /** A memory limit at or above this is "no limit" (cgroup v1 reports about 2^63 rounded down to a page). */
    static final long UNLIMITED = 1L << 62;

    private StatsMath() {
    }

    /**
     * The working set as cAdvisor defines it: usage minus inactive file pages (page cache the kernel can drop
     * first), never below 0.
     */
    public static long workingSet(long usageBytes, long inactiveFileBytes) {
        return Math.max(0, usageBytes - Math.max(0, inactiveFileBytes));
    }

    /** Limit minus working set when the cgroup is limited; -1 when it is not (the field is then left unset). */
    public static long available(long limitBytes, long workingSetBytes) {
        if (limitBytes < 0 || limitBytes >= UNLIMITED) {
            return -1;
        }
        return Math.max(0, limitBytes - workingSetBytes);
    }

    /**
     * Average CPU use between two samples in nanocores (CPU-nanoseconds per second): -1 when it cannot be known
     * (no earlier sample, no time passed, or the counter went back: a new cgroup under the same path).
     */
    public static long nanoCores(long prevUsageNanos, long prevMonoNanos, long usageNanos, long monoNanos) {
        long dt = monoNanos - prevMonoNanos;
        long du = usageNanos - prevUsageNanos;
        if (prevUsageNanos < 0 || usageNanos < 0 || dt <= 0 || du < 0) {
            return -1;
        }
        return (long) (du * 1e9 / dt);
    }
}
