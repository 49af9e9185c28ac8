package dev.bollard.bench;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

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
import java.util.concurrent.Callable;

/**
 * One table over several workloads' result files (workload | metric | runtime… | ratio), written as
 * {@code all-<time>.json} beside the PNG charts drawn from the same files: per-step latency of the pod lifecycle,
 * the density memory bars, the CRI calls' latency and throughput. {@code bench/run.sh report <json>…} redraws them
 * from results already written; {@code all} calls it on the files of its run.
 */
@Command(name = "report", mixinStandardHelpOptions = true,
        description = "One table and the PNG charts from result JSON files (e.g. bench/results/pods-….json cri-….json).")
final class Summary implements Callable<Integer> {

    @Parameters(paramLabel = "JSON", description = "Result files of the workloads (pull, pods, cri, daemon).")
    List<Path> files;

    @Option(names = "--results-dir", required = true, description = "Where the table JSON and the charts go.")
    Path resultsDir;

    // accepted (bench/run.sh passes them to every subcommand) and unused
    @Option(names = {"--checkout", "--work-dir", "--cache-dir"}, hidden = true)
    List<String> ignored;

    @Override
    public Integer call() throws IOException {
        write(files, resultsDir, Instant.now(), null, System.out);
        return 0;
    }

    /** A result file, parsed. */
    private record Result(Path file, String workload, List<String> runtimes, JsonObject json) {
    }

    /** Prints the table, writes {@code all-<time>.json} and the charts; returns the JSON's path. */
    static Path write(List<Path> files, Path resultsDir, Instant when, Map<String, Object> extra, PrintStream out)
            throws IOException {
        var results = new ArrayList<Result>();
        for (Path f : files) {
            JsonObject j = JsonParser.parseString(Files.readString(f)).getAsJsonObject();
            results.add(new Result(f, j.get("workload").getAsString(),
                    List.copyOf(j.getAsJsonObject("runtimes").keySet()), j));
        }
        var runtimes = results.stream().flatMap(r -> r.runtimes().stream()).distinct().toList();
        var rows = new ArrayList<List<String>>();
        var header = new ArrayList<>(List.of("workload", "metric"));
        header.addAll(runtimes);
        if (Report.ratioHeader(runtimes) != null) {
            header.add(Report.ratioHeader(runtimes));
        }
        rows.add(header);
        var table = new ArrayList<Map<String, Object>>();
        for (var r : results) {
            JsonObject t = r.json().has("table") ? r.json().getAsJsonObject("table")
                    : r.json().has("medians") ? r.json().getAsJsonObject("medians") : new JsonObject();
            for (var e : t.entrySet()) {
                String metric = e.getKey();
                // the one table keeps p50 and p99 of each step; the workload's own file has p90 too
                if (r.workload().equals("pods") && metric.contains(" p90 ") && !metric.startsWith("total")) {
                    continue;
                }
                JsonObject v = e.getValue().getAsJsonObject();
                var row = new ArrayList<>(List.of(r.workload(), metric));
                var entry = new LinkedHashMap<String, Object>();
                entry.put("workload", r.workload());
                entry.put("metric", metric);
                for (String n : runtimes) {
                    JsonElement x = v.get(n);
                    row.add(x == null || x.isJsonNull() ? "-" : number(x.getAsDouble()));
                    entry.put(n, x == null || x.isJsonNull() ? null : x.getAsDouble());
                }
                if (runtimes.size() >= 2) {
                    // against the better of the others, worked out again from the values (older files hold a
                    // ratio to one runtime only)
                    var vals = runtimes.stream().map(n -> v.get(n) == null || v.get(n).isJsonNull() ? Double.NaN
                            : v.get(n).getAsDouble()).toList();
                    row.add(Report.ratioText(metric, vals));
                    entry.put("ratio", Report.ratioJson(metric, vals));
                }
                rows.add(row);
                table.add(entry);
            }
        }
        out.println();
        out.println("Ratios: below 1 means " + (runtimes.isEmpty() ? "the first" : runtimes.getFirst())
                + " took less (time, memory, CPU); for calls/s (higher is better) above 1 is better.");
        out.print(Report.markdown(rows));

        String stamp = DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss").withZone(ZoneOffset.UTC).format(when);
        var charts = new ArrayList<String>();
        for (var r : results) {
            switch (r.workload()) {
                case "pods" -> {
                    charts.add(podsLatency(r, resultsDir.resolve("all-" + stamp + "-pods-latency.png")));
                    if (r.json().has("density") && !r.json().getAsJsonArray("density").isEmpty()) {
                        charts.add(densityMemory(r, resultsDir.resolve("all-" + stamp + "-density-memory.png")));
                    }
                }
                case "cri" -> {
                    charts.add(criLatency(r, resultsDir.resolve("all-" + stamp + "-cri-latency.png")));
                    charts.add(criThroughput(r, resultsDir.resolve("all-" + stamp + "-cri-throughput.png")));
                }
                default -> {
                }
            }
        }
        charts.forEach(c -> out.println("chart: " + c));
        var json = new LinkedHashMap<String, Object>();
        json.put("workload", "all");
        json.put("time", when.toString());
        if (extra != null) {
            json.putAll(extra);
        }
        json.put("results", files.stream().map(f -> f.getFileName().toString()).toList());
        json.put("charts", charts.stream().map(c -> Path.of(c).getFileName().toString()).toList());
        json.put("table", table);
        Files.createDirectories(resultsDir);
        Path file = resultsDir.resolve("all-" + stamp + ".json");
        Path tmp = resultsDir.resolve(file.getFileName() + ".tmp");
        Files.writeString(tmp, new GsonBuilder().setPrettyPrinting().serializeNulls().disableHtmlEscaping()
                .serializeSpecialFloatingPointValues().create().toJson(json) + "\n");
        Files.move(tmp, file, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        out.println("results: " + file);
        return file;
    }

    private static String number(double v) {
        double a = Math.abs(v);
        return a >= 1000 || v == Math.rint(v) && a >= 10 ? "%.0f".formatted(v) : a >= 10 ? "%.1f".formatted(v) : "%.2f".formatted(v);
    }

    private static String podsLatency(Result r, Path png) throws IOException {
        var steps = new ArrayList<String>();
        r.json().getAsJsonObject("method").getAsJsonArray("cycleSteps").forEach(s -> steps.add(s.getAsString()));
        steps.add("total cycle");
        var groups = new ArrayList<Charts.Group<Charts.Dist>>();
        for (String step : steps) {
            var by = new LinkedHashMap<String, Charts.Dist>();
            for (String n : r.runtimes()) {
                var xs = new ArrayList<Double>();
                for (JsonElement c : r.json().getAsJsonArray("cycles")) {
                    JsonObject o = c.getAsJsonObject();
                    if (!o.get("ok").getAsBoolean() || !o.get("runtime").getAsString().equals(n)) {
                        continue;
                    }
                    xs.add(step.equals("total cycle") ? o.get("totalMillis").getAsDouble()
                            : o.getAsJsonObject("stepMillis").get(step).getAsDouble());
                }
                by.put(n, new Charts.Dist(Report.percentile(xs, 0.1), Report.percentile(xs, 0.5),
                        Report.percentile(xs, 0.9), Report.percentile(xs, 0.99)));
            }
            groups.add(new Charts.Group<>(step, by));
        }
        int cycles = r.json().getAsJsonObject("method").get("cycles").getAsInt();
        Charts.latency(png, "Pod lifecycle: latency per CRI call, " + cycles + " cycles per runtime", r.runtimes(), groups);
        return png.toString();
    }

    private static String densityMemory(Result r, Path png) throws IOException {
        record B(String label, String key) {
        }
        var bars = List.of(new B("daemon RSS, idle", "daemonRssIdle"), new B("daemon RSS, with pods", "daemonRssLoaded"),
                new B("daemon PSS, with pods", "daemonPssLoaded"), new B("shims' PSS, sum", "shimPss"),
                new B("shims' RSS, sum", "shimRss"));
        var groups = new ArrayList<Charts.Group<Double>>();
        var perPod = new ArrayList<String>();
        int pods = 0;
        for (JsonElement e : r.json().getAsJsonArray("density")) {
            JsonObject d = e.getAsJsonObject();
            if (d.get("ok").getAsBoolean()) {
                pods = d.get("pods").getAsInt();
                double pss = (d.get("daemonPssLoaded").getAsDouble() - d.get("daemonPssIdle").getAsDouble()
                        + d.get("shimPss").getAsDouble()) / pods / 1e6;
                double rss = (d.get("daemonRssLoaded").getAsDouble() - d.get("daemonRssIdle").getAsDouble()
                        + d.get("shimRss").getAsDouble()) / pods / 1e6;
                perPod.add("%s %.2f MB PSS / %.2f MB RSS".formatted(d.get("runtime").getAsString(), pss, rss));
            }
        }
        for (B b : bars) {
            var by = new LinkedHashMap<String, Double>();
            for (JsonElement e : r.json().getAsJsonArray("density")) {
                JsonObject d = e.getAsJsonObject();
                if (d.get("ok").getAsBoolean()) {
                    by.put(d.get("runtime").getAsString(), d.get(b.key()).getAsDouble() / 1e6);
                }
            }
            groups.add(new Charts.Group<>(b.label(), by));
        }
        Charts.bars(png, "Density: memory with " + pods + " pods (one sleep container each)",
                "per pod (daemon growth + shim): " + String.join(", ", perPod), "MB", r.runtimes(), groups);
        return png.toString();
    }

    private static List<JsonObject> calls(Result r) {
        var out = new ArrayList<JsonObject>();
        r.json().getAsJsonArray("calls").forEach(e -> out.add(e.getAsJsonObject()));
        return out;
    }

    private static String criLatency(Result r, Path png) throws IOException {
        var groups = new ArrayList<Charts.Group<Charts.Dist>>();
        var names = calls(r).stream().map(o -> o.get("call").getAsString()).distinct().toList();
        for (String call : names) {
            var by = new LinkedHashMap<String, Charts.Dist>();
            for (JsonObject o : calls(r)) {
                if (o.get("call").getAsString().equals(call)) {
                    by.put(o.get("runtime").getAsString(), new Charts.Dist(o.get("p10").getAsDouble(),
                            o.get("p50").getAsDouble(), o.get("p90").getAsDouble(), o.get("p99").getAsDouble()));
                }
            }
            groups.add(new Charts.Group<>(call, by));
        }
        JsonObject m = r.json().getAsJsonObject("method");
        Charts.latency(png, "CRI calls with %d pods: latency, %s concurrent clients".formatted(m.get("pods").getAsInt(),
                m.get("clients").getAsString().split(" ")[0]), r.runtimes(), groups);
        return png.toString();
    }

    private static String criThroughput(Result r, Path png) throws IOException {
        var groups = new ArrayList<Charts.Group<Double>>();
        var names = calls(r).stream().map(o -> o.get("call").getAsString()).distinct().toList();
        for (String call : names) {
            var by = new LinkedHashMap<String, Double>();
            for (JsonObject o : calls(r)) {
                if (o.get("call").getAsString().equals(call)) {
                    by.put(o.get("runtime").getAsString(), o.get("callsPerSecond").getAsDouble());
                }
            }
            groups.add(new Charts.Group<>(call, by));
        }
        JsonObject m = r.json().getAsJsonObject("method");
        Charts.bars(png, "CRI calls with %d pods: throughput (higher is better)".formatted(m.get("pods").getAsInt()),
                m.get("clients").getAsString().split(" ")[0] + " concurrent clients, closed loop", "calls/s",
                r.runtimes(), groups);
        return png.toString();
    }
}
