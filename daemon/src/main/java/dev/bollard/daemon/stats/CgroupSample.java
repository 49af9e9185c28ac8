package dev.bollard.daemon.stats;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * One reading of a cgroup's counters. Each value is -1 when the node does not have it. cgroup v1 files are read
 * first ({@code /sys/fs/cgroup/<controller>/<path>}); where a v1 controller is absent, the unified (v2) tree's
 * files of the same path are read instead. The unified tree is {@code /sys/fs/cgroup} itself or, on a hybrid
 * node, {@code /sys/fs/cgroup/unified}; pressure (PSI) is read only there, and only where the kernel offers it.
 *
 * @param wallNanos        when it was read, epoch nanoseconds (the CRI's timestamps)
 * @param monoNanos        when it was read, {@link System#nanoTime()} (for rates)
 * @param cpuUsageNanos    cumulative CPU time of all tasks
 * @param memoryUsage      memory in use, page cache included
 * @param memoryLimit      the limit, or -1 for none
 * @param inactiveFile     inactive file pages (reclaimable first)
 * @param rss              anonymous memory and swap cache
 * @param pageFaults       cumulative page faults
 * @param majorPageFaults  cumulative major page faults
 * @param pids             tasks in the cgroup now
 * @param swapUsage        swap in use (v1: memory.stat's total_swap, else memory+swap usage minus memory usage;
 *                         v2: memory.swap.current)
 * @param swapLimit        the swap the cgroup may use (v1: memory+swap limit minus memory limit), -1 for no limit
 * @param cpuPressure      cpu.pressure, null when absent
 * @param memoryPressure   memory.pressure, null when absent
 * @param ioPressure       io.pressure, null when absent
 */
public record CgroupSample(long wallNanos, long monoNanos, long cpuUsageNanos, long memoryUsage, long memoryLimit,
                           long inactiveFile, long rss, long pageFaults, long majorPageFaults, long pids,
                           long swapUsage, long swapLimit, Pressure cpuPressure, Pressure memoryPressure,
                           Pressure ioPressure) {

    static final Path ROOT = Path.of("/sys/fs/cgroup");

    public long workingSet() {
        return memoryUsage < 0 ? -1 : StatsMath.workingSet(memoryUsage, inactiveFile);
    }

    /** Whether the cgroup exists in any hierarchy read (a container's goes away with its task). */
    public boolean found() {
        return cpuUsageNanos >= 0 || memoryUsage >= 0 || pids >= 0;
    }

    public static CgroupSample read(String cgroupPath) {
        return read(ROOT, NodeUnified.PATH.orElse(null), cgroupPath);
    }

    /** The node's unified tree, looked up once: a node's cgroup layout does not change while the daemon runs. */
    private static final class NodeUnified {
        static final java.util.Optional<Path> PATH = java.util.Optional.ofNullable(unified(ROOT));
    }

    /** {@code root} itself when it is a v2 tree, its {@code unified} child on a hybrid node, else null. */
    static Path unified(Path root) {
        return Files.exists(root.resolve("cgroup.controllers")) ? root
                : Files.exists(root.resolve("unified").resolve("cgroup.controllers")) ? root.resolve("unified") : null;
    }

    /** Swap still available under the limit; -1 when unlimited or unknown (the CRI field is then left unset). */
    public long swapAvailable() {
        return swapLimit < 0 || swapUsage < 0 ? -1 : Math.max(0, swapLimit - swapUsage);
    }

    static CgroupSample read(Path root, String cgroupPath) {
        return read(root, unified(root), cgroupPath);
    }

    private static CgroupSample read(Path root, Path unified, String cgroupPath) {
        String rel = cgroupPath.startsWith("/") ? cgroupPath.substring(1) : cgroupPath;
        Path v2 = unified == root ? root.resolve(rel) : null;
        long wall = epochNanos();
        long mono = System.nanoTime();

        long cpu = number(root.resolve("cpuacct").resolve(rel).resolve("cpuacct.usage"));
        if (cpu < 0 && v2 != null) {
            long usec = statValues(v2.resolve("cpu.stat"), "usage_usec")[0];
            cpu = usec < 0 ? -1 : usec * 1000;
        }

        long usage, limit, inactive, rss, faults, major;
        long swap = -1, swapLimit = -1;
        Path v1mem = root.resolve("memory").resolve(rel);
        if (Files.isDirectory(v1mem)) {
            // total_swap, total_inactive_file, total_rss, total_pgfault, total_pgmajfault
            long[] st = statValues(v1mem.resolve("memory.stat"), "total_swap", "total_inactive_file", "total_rss",
                    "total_pgfault", "total_pgmajfault");
            usage = number(v1mem.resolve("memory.usage_in_bytes"));
            limit = number(v1mem.resolve("memory.limit_in_bytes"));
            // memsw files exist only with swap accounting on; they count memory and swap together. memory.stat's
            // total_swap is exact where memsw - usage is off by the per-CPU charge batches (256 KiB each).
            long memsw = number(v1mem.resolve("memory.memsw.usage_in_bytes"));
            if (memsw >= 0 && usage >= 0) {
                swap = st[0] >= 0 ? st[0] : Math.max(0, memsw - usage);
                long memswLimit = number(v1mem.resolve("memory.memsw.limit_in_bytes"));
                if (memswLimit >= 0 && memswLimit < StatsMath.UNLIMITED && limit >= 0 && limit < StatsMath.UNLIMITED) {
                    swapLimit = Math.max(0, memswLimit - limit);
                }
            }
            inactive = st[1];
            rss = st[2];
            faults = st[3];
            major = st[4];
        } else if (v2 != null && Files.exists(v2.resolve("memory.current"))) {
            long[] st = statValues(v2.resolve("memory.stat"), "inactive_file", "anon", "pgfault", "pgmajfault");
            usage = number(v2.resolve("memory.current"));
            limit = number(v2.resolve("memory.max")); // "max" reads as -1: no limit
            swap = number(v2.resolve("memory.swap.current"));
            swapLimit = swap < 0 ? -1 : number(v2.resolve("memory.swap.max"));
            inactive = st[0];
            rss = st[1];
            faults = st[2];
            major = st[3];
        } else {
            usage = limit = inactive = rss = faults = major = -1;
        }

        long pids = number(root.resolve("pids").resolve(rel).resolve("pids.current"));
        if (pids < 0 && v2 != null) {
            pids = number(v2.resolve("pids.current"));
        }
        Path psi = unified == null ? null : unified.resolve(rel);
        return new CgroupSample(wall, mono, cpu, usage, limit >= StatsMath.UNLIMITED ? -1 : limit, inactive, rss,
                faults, major, pids, swap, swapLimit >= StatsMath.UNLIMITED ? -1 : swapLimit,
                psi == null ? null : Pressure.read(psi.resolve("cpu.pressure")),
                psi == null ? null : Pressure.read(psi.resolve("memory.pressure")),
                psi == null ? null : Pressure.read(psi.resolve("io.pressure")));
    }

    /**
     * A reading from a shim's cgroup v2 metrics (a VM shim's: the container's cgroup in the guest). Unlimited
     * values arrive as the largest uint64 (-1 as a long) and stay -1 here; PSI and swap are not in them.
     */
    public static CgroupSample of(dev.bollard.api.containerd.cgroups.v2.Metrics m) {
        long limit = m.getMemory().getUsageLimit();
        return new CgroupSample(epochNanos(), System.nanoTime(),
                m.hasCpu() ? m.getCpu().getUsageUsec() * 1000 : -1,
                m.hasMemory() ? m.getMemory().getUsage() : -1,
                limit < 0 || limit >= StatsMath.UNLIMITED ? -1 : limit,
                m.hasMemory() ? m.getMemory().getInactiveFile() : -1,
                m.hasMemory() ? m.getMemory().getAnon() : -1,
                -1, -1, m.hasPids() ? m.getPids().getCurrent() : -1, -1, -1, null, null, null);
    }

    /** The sum of readings (a VM pod's containers, for the pod): limits and PSI do not add up and are left out. */
    public static CgroupSample sum(java.util.List<CgroupSample> samples) {
        long cpu = 0, usage = 0, inactive = 0, rss = 0, pids = 0;
        for (var s : samples) {
            cpu += Math.max(0, s.cpuUsageNanos());
            usage += Math.max(0, s.memoryUsage());
            inactive += Math.max(0, s.inactiveFile());
            rss += Math.max(0, s.rss());
            pids += Math.max(0, s.pids());
        }
        return new CgroupSample(epochNanos(), System.nanoTime(), cpu, usage, -1, inactive, rss, -1, -1, pids, -1, -1,
                null, null, null);
    }

    static long epochNanos() {
        var now = java.time.Instant.now();
        return now.getEpochSecond() * 1_000_000_000L + now.getNano();
    }

    /** A file holding one number; -1 when it is missing or not a number (v2's "max"). */
    static long number(Path file) {
        try {
            return Long.parseLong(Files.readString(file).trim());
        } catch (IOException | NumberFormatException e) {
            return -1;
        }
    }

    /**
     * The values of {@code keys} in a flat-keyed file ({@code key value} lines, as memory.stat and cpu.stat are), in
     * their order; -1 for a key the file lacks or whose value is not a number, and for all when the file is missing.
     * Scanned as bytes for the few keys wanted: memory.stat has some 35 lines, read for every container a stats call
     * asks for.
     */
    static long[] statValues(Path file, String... keys) {
        long[] out = new long[keys.length];
        java.util.Arrays.fill(out, -1);
        byte[] b;
        try {
            b = Files.readAllBytes(file);
        } catch (IOException e) {
            return out;
        }
        int found = 0;
        for (int i = 0; i < b.length && found < keys.length; ) {
            int sp = i;
            while (sp < b.length && b[sp] != ' ' && b[sp] != '\n') {
                sp++;
            }
            int eol = sp;
            while (eol < b.length && b[eol] != '\n') {
                eol++;
            }
            for (int k = 0; k < keys.length; k++) {
                if (out[k] < 0 && keyIs(b, i, sp, keys[k])) {
                    out[k] = digits(b, sp + 1, eol);
                    found++;
                    break;
                }
            }
            i = eol + 1;
        }
        return out;
    }

    private static boolean keyIs(byte[] b, int from, int to, String key) {
        if (to - from != key.length()) {
            return false;
        }
        for (int j = 0; j < key.length(); j++) {
            if (b[from + j] != key.charAt(j)) {
                return false;
            }
        }
        return true;
    }

    /** The decimal number in b[from, to), surrounding blanks ignored; -1 when it is anything else. */
    private static long digits(byte[] b, int from, int to) {
        while (from < to && (b[from] == ' ' || b[from] == '\t')) {
            from++;
        }
        while (to > from && (b[to - 1] == ' ' || b[to - 1] == '\t' || b[to - 1] == '\r')) {
            to--;
        }
        if (from == to) {
            return -1;
        }
        long v = 0;
        for (int j = from; j < to; j++) {
            if (b[j] < '0' || b[j] > '9' || v > (Long.MAX_VALUE - (b[j] - '0')) / 10) {
                return -1; // not a number, or past a long (as Long.parseLong refuses it)
            }
            v = v * 10 + (b[j] - '0');
        }
        return v;
    }
}
