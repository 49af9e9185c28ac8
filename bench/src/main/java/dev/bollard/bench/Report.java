package dev.bollard.bench;

import com.google.gson.GsonBuilder;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.ToDoubleFunction;

/**
 * A workload's results: the side-by-side table (metric | runtime A | runtime B | ratio A/B, medians over the
 * successful rounds, then every round) on stdout, and everything as JSON in the results directory.
 */
final class Report {

    private record Metric(String label, String unit, double scale, String format, ToDoubleFunction<PullBench.Round> f) {
    }

    private static final List<Metric> METRICS = List.of(
            new Metric("pull time", "s", 1, "%.2f", PullBench.Round::pullSeconds),
            new Metric("peak RSS during pull", "MB", 1e6, "%.1f", r -> r.peakRss()),
            new Metric("RSS before pull", "MB", 1e6, "%.1f", r -> r.rssBefore()),
            new Metric("VmHWM after pull", "MB", 1e6, "%.1f", r -> r.hwm()),
            new Metric("daemon CPU during pull", "s", 1, "%.2f", PullBench.Round::cpuSeconds),
            new Metric("daemon CPU / pull time", "cores", 1, "%.2f",
                    r -> r.pullSeconds() > 0 ? r.cpuSeconds() / r.pullSeconds() : Double.NaN),
            new Metric("registry CPU during pull", "s", 1, "%.2f", PullBench.Round::registryCpuSeconds),
            new Metric("root size after pull", "MB", 1e6, "%.1f", r -> r.rootBytes()));

    private final String workload;
    private final Instant when = Instant.now();
    private final List<DaemonUnderTest> daemons;
    private final List<PullBench.Round> rounds;
    private final Map<String, Object> extra = new LinkedHashMap<>();

    Report(String workload, List<DaemonUnderTest> daemons, List<PullBench.Round> rounds) {
        this.workload = workload;
        this.daemons = daemons;
        this.rounds = rounds;
    }

    void put(String key, Object value) {
        extra.put(key, value);
    }

    private List<PullBench.Round> ok(String runtime) {
        return rounds.stream().filter(r -> r.ok() && r.runtime().equals(runtime)).toList();
    }

    static double median(List<Double> xs) {
        if (xs.isEmpty()) {
            return Double.NaN;
        }
        var s = xs.stream().sorted().toList();
        int n = s.size();
        return n % 2 == 1 ? s.get(n / 2) : (s.get(n / 2 - 1) + s.get(n / 2)) / 2;
    }

    private double median(String runtime, Metric m) {
        return median(ok(runtime).stream().map(r -> m.f().applyAsDouble(r) / m.scale()).toList());
    }

    void print(PrintStream out) {
        var names = daemons.stream().map(DaemonUnderTest::name).toList();
        var rows = new ArrayList<List<String>>();
        var header = new ArrayList<String>();
        header.add("metric (median of " + rounds.stream().filter(PullBench.Round::ok).map(PullBench.Round::round)
                .distinct().count() + " rounds)");
        header.addAll(names);
        if (ratioHeader(names) != null) {
            header.add(ratioHeader(names));
        }
        rows.add(header);
        for (Metric m : METRICS) {
            var row = new ArrayList<String>();
            row.add(m.label() + " (" + m.unit() + ")");
            var vals = names.stream().map(n -> median(n, m)).toList();
            vals.forEach(v -> row.add(Double.isNaN(v) ? "-" : m.format().formatted(v)));
            if (names.size() >= 2) {
                row.add(ratioText(m.label(), vals));
            }
            rows.add(row);
        }
        int maxRound = rounds.stream().mapToInt(PullBench.Round::round).max().orElse(0);
        for (Metric m : METRICS.subList(0, 2)) {
            for (int i = 1; i <= maxRound; i++) {
                int round = i;
                var row = new ArrayList<String>();
                row.add(m.label() + ", round " + i + " (" + m.unit() + ")");
                var vals = names.stream().map(n -> rounds.stream()
                        .filter(r -> r.runtime().equals(n) && r.round() == round).findFirst()
                        .map(r -> r.ok() ? m.f().applyAsDouble(r) / m.scale() : Double.NaN).orElse(Double.NaN)).toList();
                vals.forEach(v -> row.add(Double.isNaN(v) ? "FAILED" : m.format().formatted(v)));
                if (names.size() >= 2) {
                    row.add(ratioText(m.label(), vals));
                }
                rows.add(row);
            }
        }
        out.println();
        out.print(markdown(rows));
        for (String n : names) {
            var oks = ok(n);
            if (oks.isEmpty() || oks.getFirst().cpuByThread().size() < 2) {
                continue;
            }
            out.println();
            out.println(n + ": CPU seconds during the pull by thread group (threads alive at the end; per round):");
            for (var r : oks) {
                var top = new ArrayList<String>();
                r.cpuByThread().entrySet().stream().limit(8)
                        .forEach(e -> top.add(e.getKey() + "=" + e.getValue()));
                out.println("  round " + r.round() + ": " + String.join(", ", top));
            }
        }
        for (var r : rounds) {
            if (r.ok() && r.logLine() != null) {
                out.println("  " + r.runtime() + " round " + r.round() + " log: " + r.logLine().strip());
            }
        }
    }

    private static String ratio(double a, double b) {
        return Double.isNaN(a) || Double.isNaN(b) || b == 0 ? "-" : "%.2f".formatted(a / b);
    }

    /**
     * The ratio column's header: the first runtime against the second, or, with more (both containerds), against
     * the better of the others in that row. Null with one runtime (no column).
     */
    static String ratioHeader(List<String> names) {
        if (names.size() < 2) {
            return null;
        }
        return names.size() == 2 ? "ratio " + names.get(0) + "/" + names.get(1)
                : "ratio " + names.get(0) + "/better of " + String.join(", ", names.subList(1, names.size()));
    }

    /**
     * The first value over the best of the others: the lowest, or the highest where {@code label} says higher is
     * better (calls/s). NaN where the first or every other one is missing.
     */
    static double ratioToBest(String label, List<Double> vals) {
        if (vals.size() < 2 || vals.getFirst() == null || vals.getFirst().isNaN()) {
            return Double.NaN;
        }
        boolean higherIsBetter = label.contains("higher is better");
        double best = Double.NaN;
        for (Double v : vals.subList(1, vals.size())) {
            if (v == null || v.isNaN() || v == 0) {
                continue;
            }
            best = Double.isNaN(best) ? v : higherIsBetter ? Math.max(best, v) : Math.min(best, v);
        }
        return Double.isNaN(best) ? Double.NaN : vals.getFirst() / best;
    }

    static String ratioText(String label, List<Double> vals) {
        double r = ratioToBest(label, vals);
        return Double.isNaN(r) ? "-" : "%.2f".formatted(r);
    }

    static Double ratioJson(String label, List<Double> vals) {
        double r = ratioToBest(label, vals);
        return Double.isNaN(r) ? null : Math.round(r * 1000) / 1000.0;
    }

    static String markdown(List<List<String>> rows) {
        int cols = rows.getFirst().size();
        int[] w = new int[cols];
        for (var row : rows) {
            for (int i = 0; i < cols; i++) {
                w[i] = Math.max(w[i], row.get(i).length());
            }
        }
        var sb = new StringBuilder();
        for (int k = 0; k < rows.size(); k++) {
            var row = rows.get(k);
            sb.append('|');
            for (int i = 0; i < cols; i++) {
                String c = row.get(i);
                sb.append(' ').append(i == 0 ? pad(c, w[i], false) : pad(c, w[i], true)).append(" |");
            }
            sb.append('\n');
            if (k == 0) {
                sb.append('|');
                for (int i = 0; i < cols; i++) {
                    sb.append(i == 0 ? " " + "-".repeat(w[i]) + " |" : " " + "-".repeat(w[i] - 1) + ": |");
                }
                sb.append('\n');
            }
        }
        return sb.toString();
    }

    private static String pad(String s, int w, boolean right) {
        String fill = " ".repeat(Math.max(0, w - s.length()));
        return right ? fill + s : s + fill;
    }

    Path write(Path dir) throws IOException {
        var json = new LinkedHashMap<String, Object>(extra);
        var medians = new LinkedHashMap<String, Object>();
        for (Metric m : METRICS) {
            var e = new LinkedHashMap<String, Object>();
            for (var d : daemons) {
                double v = median(d.name(), m);
                e.put(d.name(), Double.isNaN(v) ? null : Double.valueOf(m.format().formatted(v)));
            }
            if (daemons.size() >= 2) {
                e.put("ratio", ratioJson(m.label(), daemons.stream().map(d -> median(d.name(), m)).toList()));
            }
            medians.put(m.label() + " (" + m.unit() + ")", e);
        }
        json.put("medians", medians);
        json.put("rounds", rounds);
        return writeJson(dir, workload, when, daemons, json);
    }

    /** One row of a workload's side-by-side table: a value per runtime (NaN when there is none). */
    record Row(String label, String format, Map<String, Double> values) {
    }

    /** The rows as text: metric | one column per runtime | ratio first/second (with two runtimes). */
    static String markdown(String header, List<String> names, List<Row> rows) {
        var out = new ArrayList<List<String>>();
        var h = new ArrayList<String>();
        h.add(header);
        h.addAll(names);
        if (ratioHeader(names) != null) {
            h.add(ratioHeader(names));
        }
        out.add(h);
        for (Row r : rows) {
            var row = new ArrayList<String>();
            row.add(r.label());
            var vals = names.stream().map(n -> r.values().getOrDefault(n, Double.NaN)).toList();
            vals.forEach(v -> row.add(v == null || Double.isNaN(v) ? "-" : r.format().formatted(v)));
            if (names.size() >= 2) {
                row.add(ratioText(r.label(), vals));
            }
            out.add(row);
        }
        return markdown(out);
    }

    /** The rows as the JSON {@code table}: label → {runtime: value, ..., ratio}. */
    static Map<String, Object> tableJson(List<String> names, List<Row> rows) {
        var table = new LinkedHashMap<String, Object>();
        for (Row r : rows) {
            var e = new LinkedHashMap<String, Object>();
            for (String n : names) {
                Double v = r.values().get(n);
                e.put(n, v == null || v.isNaN() ? null : Double.valueOf(r.format().formatted(v)));
            }
            if (names.size() >= 2) {
                e.put("ratio", ratioJson(r.label(), names.stream().map(n -> r.values().get(n)).toList()));
            }
            table.put(r.label(), e);
        }
        return table;
    }

    /**
     * Writes {@code json} (with workload, time, machine and runtime versions first) as
     * {@code <dir>/<workload>-<UTC time>.json}, atomically.
     */
    static Path writeJson(Path dir, String workload, Instant when, List<DaemonUnderTest> daemons,
                          Map<String, Object> body) throws IOException {
        var json = new LinkedHashMap<String, Object>();
        json.put("workload", workload);
        json.put("time", when.toString());
        json.put("machine", Machine.describe());
        var versions = new LinkedHashMap<String, Object>();
        for (var d : daemons) {
            versions.put(d.name(), d.version());
        }
        json.put("runtimes", versions);
        json.putAll(body);
        Files.createDirectories(dir);
        String stamp = DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss").withZone(ZoneOffset.UTC).format(when);
        Path file = dir.resolve(workload + "-" + stamp + ".json");
        Path tmp = dir.resolve(file.getFileName() + ".tmp");
        Files.writeString(tmp, new GsonBuilder().setPrettyPrinting().serializeNulls().disableHtmlEscaping()
                .serializeSpecialFloatingPointValues().create().toJson(json) + "\n");
        Files.move(tmp, file, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        return file;
    }

    /** Nearest-rank percentile of unsorted values. */
    static double percentile(List<Double> xs, double q) {
        if (xs.isEmpty()) {
            return Double.NaN;
        }
        var s = xs.stream().sorted().toList();
        int rank = (int) Math.ceil(q * s.size());
        return s.get(Math.max(0, Math.min(s.size() - 1, rank - 1)));
    }

    /** Nearest-rank percentile of sorted values. */
    static double percentileSorted(long[] sorted, double q) {
        if (sorted.length == 0) {
            return Double.NaN;
        }
        int rank = (int) Math.ceil(q * sorted.length);
        return sorted[Math.max(0, Math.min(sorted.length - 1, rank - 1))];
    }
}
