package dev.bollard.daemon.sandbox;

import dev.bollard.api.cri.v1.LinuxContainerResources;
import dev.bollard.daemon.linux.Cgroups;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A pod's own resources (KEP-1287, UpdatePodSandboxResources): the containers' sum plus the pod overhead, written
 * to the pod's cgroup parent in every hierarchy that has the control file (v1 {@code cpu.shares},
 * {@code cpu.cfs_period_us}/{@code cpu.cfs_quota_us}, {@code memory.limit_in_bytes}, {@code cpuset.cpus}/{@code mems};
 * v2 {@code cpu.weight}, {@code cpu.max}, {@code memory.max}, {@code cpuset.cpus}/{@code mems}). Writing the same
 * values again changes nothing, so the call is idempotent.
 *
 * @param cpuShares   0 when not set
 * @param cpuQuota    microseconds per period; 0 when not set, -1 unlimited
 * @param cpuPeriod   microseconds; 0 when not set
 * @param memoryLimit bytes; 0 when not set
 */
public record PodResources(long cpuShares, long cpuQuota, long cpuPeriod, long memoryLimit, String cpusetCpus,
                           String cpusetMems) {

    static final long DEFAULT_PERIOD = 100_000;

    /**
     * The pod's total: {@code resources} plus {@code overhead}. A limit {@code resources} leaves unset stays unset
     * (overhead only adds to a limit that exists) unless the request carries overhead alone; the cpusets come
     * from {@code resources}, else from the overhead.
     *
     * @throws IllegalArgumentException naming the field when a value is negative (other than quota -1)
     */
    public static PodResources of(LinuxContainerResources overhead, boolean hasOverhead,
                                  LinuxContainerResources resources, boolean hasResources) {
        validate(overhead, "overhead");
        validate(resources, "resources");
        var base = hasResources ? resources : overhead;
        var extra = hasResources && hasOverhead ? overhead : LinuxContainerResources.getDefaultInstance();
        long period = base.getCpuPeriod();
        long quota = base.getCpuQuota();
        if (quota > 0 && extra.getCpuQuota() > 0) {
            // Overhead quota counted in the pod's period.
            long extraPeriod = extra.getCpuPeriod() > 0 ? extra.getCpuPeriod() : DEFAULT_PERIOD;
            long podPeriod = period > 0 ? period : DEFAULT_PERIOD;
            quota += extra.getCpuQuota() * podPeriod / extraPeriod;
        }
        long memory = base.getMemoryLimitInBytes();
        if (memory > 0) {
            memory += extra.getMemoryLimitInBytes();
        }
        long shares = base.getCpuShares() + extra.getCpuShares();
        String cpus = base.getCpusetCpus().isEmpty() ? extra.getCpusetCpus() : base.getCpusetCpus();
        String mems = base.getCpusetMems().isEmpty() ? extra.getCpusetMems() : base.getCpusetMems();
        return new PodResources(shares, quota, period, memory, cpus, mems);
    }

    private static void validate(LinuxContainerResources r, String field) {
        nonNegative(r.getCpuShares(), field + ".cpu_shares");
        nonNegative(r.getCpuPeriod(), field + ".cpu_period");
        nonNegative(r.getMemoryLimitInBytes(), field + ".memory_limit_in_bytes");
        if (r.getCpuQuota() < -1) {
            throw new IllegalArgumentException(field + ".cpu_quota must be -1 or positive, got " + r.getCpuQuota());
        }
        if (r.getCpuPeriod() != 0 && (r.getCpuPeriod() < 1000 || r.getCpuPeriod() > 1_000_000)) {
            throw new IllegalArgumentException(field + ".cpu_period must be within 1000..1000000 µs, got "
                    + r.getCpuPeriod());
        }
        for (var set : List.of(Map.entry("cpuset_cpus", r.getCpusetCpus()), Map.entry("cpuset_mems", r.getCpusetMems()))) {
            if (!set.getValue().isEmpty() && !set.getValue().matches("\\d+(-\\d+)?(,\\d+(-\\d+)?)*")) {
                throw new IllegalArgumentException(field + "." + set.getKey() + ": want a list like 0-2,4, got \""
                        + set.getValue() + "\"");
            }
        }
    }

    private static void nonNegative(long v, String field) {
        if (v < 0) {
            throw new IllegalArgumentException(field + " must not be negative, got " + v);
        }
    }

    /** The v1 control files and their values, in the order they are written. */
    Map<String, String> v1Files() {
        var f = new LinkedHashMap<String, String>();
        if (cpuShares > 0) {
            f.put("cpu.shares", Long.toString(Math.max(2, cpuShares)));
        }
        if (cpuPeriod > 0) {
            f.put("cpu.cfs_period_us", Long.toString(cpuPeriod));
        }
        if (cpuQuota != 0) {
            f.put("cpu.cfs_quota_us", Long.toString(cpuQuota));
        }
        if (memoryLimit > 0) {
            f.put("memory.limit_in_bytes", Long.toString(memoryLimit));
        }
        cpusets(f);
        return f;
    }

    /** The v2 control files and their values. */
    Map<String, String> v2Files() {
        var f = new LinkedHashMap<String, String>();
        if (cpuShares > 0) {
            // The conversion runc and the kubelet use: shares 2..262144 onto weight 1..10000.
            long shares = Math.min(262_144, Math.max(2, cpuShares));
            f.put("cpu.weight", Long.toString(1 + ((shares - 2) * 9999) / 262_142));
        }
        if (cpuQuota != 0 || cpuPeriod > 0) {
            String quota = cpuQuota > 0 ? Long.toString(cpuQuota) : "max";
            f.put("cpu.max", quota + " " + (cpuPeriod > 0 ? cpuPeriod : DEFAULT_PERIOD));
        }
        if (memoryLimit > 0) {
            f.put("memory.max", Long.toString(memoryLimit));
        }
        cpusets(f);
        return f;
    }

    private void cpusets(Map<String, String> f) {
        if (!cpusetCpus.isEmpty()) {
            f.put("cpuset.cpus", cpusetCpus);
        }
        if (!cpusetMems.isEmpty()) {
            f.put("cpuset.mems", cpusetMems);
        }
    }

    /**
     * Writes the values into the cgroup {@code cgroupParent} of every hierarchy that has the control file.
     *
     * @return the files written
     * @throws IOException naming the file, the value and the kernel's answer when a write is refused
     */
    public List<Path> apply(String cgroupParent) throws IOException {
        var written = new ArrayList<Path>();
        for (Path h : Cgroups.hierarchies()) {
            Path dir = Cgroups.dir(h, cgroupParent);
            if (!Files.isDirectory(dir)) {
                continue;
            }
            boolean unified = Files.exists(h.resolve("cgroup.controllers"));
            var files = unified ? v2Files() : v1Files();
            var entries = new ArrayList<>(files.entrySet());
            for (int i = 0; i < entries.size(); i++) {
                var e = entries.get(i);
                Path file = dir.resolve(e.getKey());
                if (!Files.exists(file)) {
                    continue;
                }
                try {
                    write(file, e.getValue());
                } catch (IOException first) {
                    // A shorter period with the old quota can exceed the parent's bandwidth: quota first, then period.
                    if (e.getKey().equals("cpu.cfs_period_us") && files.containsKey("cpu.cfs_quota_us")) {
                        write(dir.resolve("cpu.cfs_quota_us"), files.get("cpu.cfs_quota_us"));
                        write(file, e.getValue());
                        written.add(dir.resolve("cpu.cfs_quota_us"));
                        i++; // the quota is written already
                    } else {
                        throw first;
                    }
                }
                written.add(file);
            }
        }
        return written;
    }

    private static void write(Path file, String value) throws IOException {
        try {
            Files.writeString(file, value, StandardCharsets.US_ASCII);
        } catch (IOException e) {
            throw new IOException("cannot write " + value + " to " + file + ": " + e.getMessage(), e);
        }
    }
}
