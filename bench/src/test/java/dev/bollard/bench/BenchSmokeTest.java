package dev.bollard.bench;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import javax.imageio.ImageIO;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Keeps every workload working: {@code all --smoke} (tiny numbers) against Bollard only, run from this JVM's
 * classpath (the code under test, no packaging). It asserts what the run produced (a result file per workload,
 * rows for each in the one table, readable PNG charts, nothing left behind), never a timing.
 */
class BenchSmokeTest {

    @TempDir
    Path tmp;

    @Test
    void everyWorkloadRunsWithTinyNumbers() throws Exception {
        assumeTrue("root".equals(System.getProperty("user.name")), "the benchmarks run daemons, mounts and netns as root");
        Path checkout = Path.of("").toAbsolutePath().getParent();
        // short: the daemons' sockets live below it (107-byte limit)
        Path work = Files.createTempDirectory(Path.of("/tmp"), "bbsmoke");
        Path results = tmp.resolve("results");
        int code = new CommandLine(new Main()).setOverwrittenOptionsAllowed(true).execute("all", "--smoke",
                "--only", "bollard", "--checkout", checkout.toString(), "--work-dir", work.toString(),
                "--results-dir", results.toString(), "--cache-dir", tmp.resolve("cache").toString(),
                "--bollard-classpath", System.getProperty("java.class.path"));
        assertEquals(0, code, "bollard-bench all --smoke exit code (its output above says which workload failed)");

        Path smoke = results.resolve("smoke");
        List<Path> summaries;
        try (var s = Files.list(smoke)) {
            summaries = s.filter(p -> p.getFileName().toString().matches("all-\\d{8}-\\d{6}\\.json")).toList();
        }
        assertEquals(1, summaries.size(), "one all-<time>.json");
        JsonObject all = JsonParser.parseString(Files.readString(summaries.getFirst())).getAsJsonObject();
        Set<String> workloads = new HashSet<>();
        all.getAsJsonArray("table").forEach(e -> {
            JsonObject row = e.getAsJsonObject();
            workloads.add(row.get("workload").getAsString());
            assertTrue(row.has("Bollard"), "a Bollard column in " + row);
        });
        assertEquals(Set.of("pull", "pods", "cri", "daemon", "cold"), workloads);
        for (var f : all.getAsJsonArray("results")) {
            assertTrue(Files.isRegularFile(smoke.resolve(f.getAsString())), "result file " + f);
        }
        var charts = all.getAsJsonArray("charts");
        assertEquals(4, charts.size(), "pods latency, density memory, CRI latency and throughput: " + charts);
        for (var c : charts) {
            var img = ImageIO.read(smoke.resolve(c.getAsString()).toFile());
            assertNotNull(img, "a PNG: " + c);
            assertEquals(1200, img.getWidth());
        }
        // each workload removed its own directory; nothing is mounted below the run's
        try (var s = Files.list(work)) {
            assertEquals(List.of(), s.toList(), "left in the work directory");
        }
        assertTrue(Files.readAllLines(Path.of("/proc/self/mountinfo")).stream().noneMatch(l -> l.contains(work.toString())));
        Files.delete(work);
    }

    /**
     * The soak (not part of {@code all}: its point is length) for a few cycles, every one after the warm-up faulted:
     * seed 6 draws each kind of fault twice. Its leak account must read zero; the memory limit is lifted, as a
     * few cycles measure nothing (the JIT is still compiling).
     */
    @Test
    void theSoakRunsAFewFaultedCyclesAndLeavesNothing() throws Exception {
        assumeTrue("root".equals(System.getProperty("user.name")), "the benchmarks run daemons, mounts and netns as root");
        Path checkout = Path.of("").toAbsolutePath().getParent();
        Path work = Files.createTempDirectory(Path.of("/tmp"), "bbsoak");
        Path results = tmp.resolve("soak-results");
        int code = new CommandLine(new Main()).setOverwrittenOptionsAllowed(true).execute("soak",
                "--cycles", "7", "--fault-rate", "1", "--seed", "6", "--rss-cycle", "2", "--settle-ms", "500",
                "--memory-growth-limit", "1000", "--only", "bollard", "--checkout", checkout.toString(),
                "--work-dir", work.toString(), "--results-dir", results.toString(),
                "--cache-dir", tmp.resolve("cache").toString(), "--bollard-classpath", System.getProperty("java.class.path"));
        assertEquals(0, code, "bollard-bench soak exit code (its output above says what was left or went wrong)");
        List<Path> files;
        try (var s = Files.list(results)) {
            files = s.filter(p -> p.getFileName().toString().matches("soak-\\d{8}-\\d{6}\\.json")).toList();
        }
        assertEquals(1, files.size(), "one soak-<time>.json");
        JsonObject soak = JsonParser.parseString(Files.readString(files.getFirst())).getAsJsonObject();
        var faults = soak.getAsJsonObject("faultsInjected");
        for (String f : List.of("CNI_ADD", "SHIM_KILL", "STOP_DURING_CREATE")) {
            assertEquals(2, faults.get(f).getAsInt(), f + " injected twice: " + faults);
        }
        assertEquals(0, soak.getAsJsonArray("unexpected").size(), "cycles not as expected: " + soak.get("unexpected"));
        var kinds = new HashSet<String>();
        for (var l : soak.getAsJsonArray("leaks")) {
            var leak = l.getAsJsonObject();
            kinds.add(leak.get("kind").getAsString());
            assertEquals(0, leak.get("count").getAsInt(), "left: " + leak);
        }
        assertTrue(kinds.size() >= 12, "every kind of leak accounted: " + kinds);
        assertTrue(soak.getAsJsonObject("memoryLast").get("liveHeapBytes").getAsLong() > 0,
                "the live heap read through jcmd: " + soak.get("memoryLast"));
        assertFalse(Files.exists(work), "the soak's work directory removed");
        assertTrue(Files.readAllLines(Path.of("/proc/self/mountinfo")).stream().noneMatch(l -> l.contains(work.toString())));
    }
}
