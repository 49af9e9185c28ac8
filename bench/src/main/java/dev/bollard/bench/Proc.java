package dev.bollard.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.TreeMap;

/** What {@code /proc/<pid>} says about a daemon: memory, CPU time, CPU time per thread name. */
final class Proc {

    /** USER_HZ: the unit of the times in {@code /proc/<pid>/stat}; 100 on every Linux architecture we run on. */
    static final double TICKS_PER_SECOND = 100.0;

    private Proc() {
    }

    /** VmRSS in bytes, or -1 once the process is gone. */
    static long rssBytes(long pid) {
        return statusKb(pid, "VmRSS:") * 1024;
    }

    /** VmHWM (peak resident set since start) in bytes, or -1 once the process is gone. */
    static long hwmBytes(long pid) {
        return statusKb(pid, "VmHWM:") * 1024;
    }

    /**
     * Proportional set size in bytes ({@code Pss} of {@code /proc/<pid>/smaps_rollup}): shared pages split among
     * the processes mapping them, so the shims' common binary is not counted once per shim; -1 once gone.
     */
    static long pssBytes(long pid) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "smaps_rollup"))) {
                if (line.startsWith("Pss:")) {
                    String v = line.substring(4).trim();
                    return Long.parseLong(v.substring(0, v.indexOf(' '))) * 1024;
                }
            }
            return -1;
        } catch (IOException e) {
            return -1;
        }
    }

    /** The NUL-separated command line of a process as a list, empty once it is gone (or for a kernel thread). */
    static java.util.List<String> cmdline(long pid) {
        try {
            String s = Files.readString(Path.of("/proc", Long.toString(pid), "cmdline"), StandardCharsets.UTF_8);
            return s.isEmpty() ? java.util.List.of() : java.util.List.of(s.split("\0"));
        } catch (IOException e) {
            return java.util.List.of();
        }
    }

    /** Pids of the processes whose command line satisfies {@code match}. */
    static java.util.List<Long> find(java.util.function.Predicate<java.util.List<String>> match) {
        var out = new java.util.ArrayList<Long>();
        try (var s = Files.list(Path.of("/proc"))) {
            for (Path p : (Iterable<Path>) s::iterator) {
                String n = p.getFileName().toString();
                if (n.chars().allMatch(Character::isDigit) && match.test(cmdline(Long.parseLong(n)))) {
                    out.add(Long.parseLong(n));
                }
            }
        } catch (IOException e) {
            return out;
        }
        return out;
    }

    private static long statusKb(long pid, String key) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "status"))) {
                if (line.startsWith(key)) {
                    // "VmRSS:   1234 kB", but "Threads:  12" has no unit
                    return Long.parseLong(line.substring(key.length()).trim().split("\\s+")[0]);
                }
            }
            return -1;
        } catch (IOException e) {
            return -1;
        }
    }

    /**
     * User and system CPU time of the process and of its reaped children (containerd may run unpigz), in seconds;
     * -1 once the process is gone.
     */
    static double cpuSeconds(long pid) {
        try {
            String[] f = statFields(Files.readString(Path.of("/proc", Long.toString(pid), "stat")));
            // fields after "(comm)": state=0 ... utime=11 stime=12 cutime=13 cstime=14
            return (Long.parseLong(f[11]) + Long.parseLong(f[12]) + Long.parseLong(f[13]) + Long.parseLong(f[14]))
                    / TICKS_PER_SECOND;
        } catch (IOException e) {
            return -1;
        }
    }

    /**
     * The process's own user + system CPU time (utime + stime, no children) in clock ticks
     * ({@link #TICKS_PER_SECOND}); -1 once it is gone.
     */
    static long cpuTicks(long pid) {
        try {
            String[] f = statFields(Files.readString(Path.of("/proc", Long.toString(pid), "stat")));
            return Long.parseLong(f[11]) + Long.parseLong(f[12]);
        } catch (IOException e) {
            return -1;
        }
    }

    /** Thread count of the process, or -1. */
    static int threads(long pid) {
        return (int) statusKb(pid, "Threads:");
    }

    /**
     * CPU seconds per thread group, a group being the thread name without its trailing number
     * ({@code C2 CompilerThread0} → {@code C2 CompilerThread}, {@code ForkJoinPool-1-worker-3} →
     * {@code ForkJoinPool-1-worker-}). Threads that ended are not listed (their time is in {@link #cpuSeconds}).
     */
    static Map<String, Double> cpuByThreadGroup(long pid) {
        Map<String, Double> groups = new HashMap<>();
        Path tasks = Path.of("/proc", Long.toString(pid), "task");
        try (var s = Files.list(tasks)) {
            for (Path t : (Iterable<Path>) s::iterator) {
                try {
                    String stat = Files.readString(t.resolve("stat"), StandardCharsets.UTF_8);
                    String name = stat.substring(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
                    String[] f = statFields(stat);
                    double sec = (Long.parseLong(f[11]) + Long.parseLong(f[12])) / TICKS_PER_SECOND;
                    groups.merge(label(name), sec, Double::sum);
                } catch (NoSuchFileException gone) {
                    // the thread ended while we listed
                }
            }
        } catch (IOException e) {
            return Map.of();
        }
        return groups;
    }

    /**
     * A thread's group. The kernel keeps 15 characters of a name, so JVM names arrive cut
     * ({@code ForkJoinPool-1-worker-3} → {@code ForkJoinPool-1-}); the known ones get a readable label.
     */
    static String label(String comm) {
        String n = comm.replaceAll("[0-9]+$", "");
        if (n.startsWith("ForkJoinPool")) {
            return "ForkJoinPool (virtual-thread carriers)";
        }
        if (n.startsWith("C2 CompilerThre")) {
            return "JIT C2";
        }
        if (n.startsWith("C1 CompilerThre")) {
            return "JIT C1";
        }
        if (n.startsWith("HttpClient-") && n.contains("-Se")) {
            return "HttpClient selector";
        }
        if (n.startsWith("HttpClient-")) {
            return "HttpClient workers";
        }
        if (n.equals("VM Thread") || n.startsWith("GC Thread") || n.startsWith("G1 ")) {
            return "VM/GC";
        }
        if (n.startsWith("grpc-") || n.startsWith("epollEventLoop")) {
            return "gRPC/Netty";
        }
        return n.isEmpty() ? comm : n;
    }

    /** {@code after - before} per group, only groups that used at least 10 ms, largest first. */
    static Map<String, Double> delta(Map<String, Double> before, Map<String, Double> after) {
        var out = new TreeMap<String, Double>();
        after.forEach((k, v) -> {
            double d = v - before.getOrDefault(k, 0.0);
            if (d >= 0.01) {
                out.put(k, Math.round(d * 100) / 100.0);
            }
        });
        var sorted = new java.util.LinkedHashMap<String, Double>();
        out.entrySet().stream().sorted(Map.Entry.<String, Double>comparingByValue().reversed())
                .forEach(e -> sorted.put(e.getKey(), e.getValue()));
        return sorted;
    }

    private static String[] statFields(String stat) {
        return stat.substring(stat.lastIndexOf(')') + 2).trim().split(" ");
    }
}
