package dev.bollard.daemon.stats;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class StatsMathTest {

    @Test
    void workingSetIsUsageMinusInactiveFileFlooredAtZero() {
        assertEquals(700, StatsMath.workingSet(1000, 300));
        assertEquals(0, StatsMath.workingSet(100, 300), "inactive file above usage (counted at other times)");
        assertEquals(1000, StatsMath.workingSet(1000, -1), "no inactive_file counter: all usage is working set");
    }

    @Test
    void availableOnlyUnderALimit() {
        assertEquals(300, StatsMath.available(1000, 700));
        assertEquals(0, StatsMath.available(1000, 1200));
        assertEquals(-1, StatsMath.available(-1, 700), "no limit");
        assertEquals(-1, StatsMath.available(9223372036854771712L, 700), "v1's unlimited value");
    }

    @Test
    void nanoCoresFromTwoSamples() {
        // 0.5 s of CPU over 1 s of wall time: half a core
        assertEquals(500_000_000L, StatsMath.nanoCores(1_000_000_000L, 10_000_000_000L, 1_500_000_000L, 11_000_000_000L));
        // 4 s of CPU over 2 s: two cores
        assertEquals(2_000_000_000L, StatsMath.nanoCores(0, 0, 4_000_000_000L, 2_000_000_000L));
        assertEquals(-1, StatsMath.nanoCores(5, 100, 10, 100), "no time passed");
        assertEquals(-1, StatsMath.nanoCores(50, 100, 10, 200), "counter went back: a new cgroup");
        assertEquals(-1, StatsMath.nanoCores(-1, 100, 10, 200), "no earlier counter");
    }

    @Test
    void procNetDevParses() {
        String text = """
                Inter-|   Receive                                                |  Transmit
                 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
                    lo:     672       8    0    0    0     0          0         0      672       8    0    0    0     0       0          0
                  eth0: 18446744073709551615     41    3    0    0     0          0         0     2346      25    7    0    0     0       0          0
                """;
        var all = NetDev.parse(text);
        assertEquals(2, all.size());
        assertEquals(new NetDev.Counters("lo", 672, 0, 672, 0), all.get(0));
        var eth0 = all.get(1);
        assertEquals("eth0", eth0.name());
        assertEquals("18446744073709551615", Long.toUnsignedString(eth0.rxBytes()), "a full 64-bit counter");
        assertEquals(3, eth0.rxErrors());
        assertEquals(2346, eth0.txBytes());
        assertEquals(7, eth0.txErrors());
        assertThrows(IllegalArgumentException.class, () -> NetDev.parse("eth0: 1 2 3\n"));
    }

    @Test
    void cgroupV1FilesAreRead(@TempDir Path root) throws Exception {
        Path cpu = Files.createDirectories(root.resolve("cpuacct/pod/c1"));
        Files.writeString(cpu.resolve("cpuacct.usage"), "123456789\n");
        Path mem = Files.createDirectories(root.resolve("memory/pod/c1"));
        Files.writeString(mem.resolve("memory.usage_in_bytes"), "10000\n");
        Files.writeString(mem.resolve("memory.limit_in_bytes"), "9223372036854771712\n");
        Files.writeString(mem.resolve("memory.stat"), """
                cache 1
                rss 2
                total_rss 4000
                total_inactive_file 2500
                total_pgfault 77
                total_pgmajfault 3
                """);
        Path pids = Files.createDirectories(root.resolve("pids/pod/c1"));
        Files.writeString(pids.resolve("pids.current"), "4\n");

        var s = CgroupSample.read(root, "/pod/c1");
        assertEquals(123456789, s.cpuUsageNanos());
        assertEquals(10000, s.memoryUsage());
        assertEquals(-1, s.memoryLimit(), "v1's huge value means no limit");
        assertEquals(7500, s.workingSet());
        assertEquals(4000, s.rss());
        assertEquals(77, s.pageFaults());
        assertEquals(3, s.majorPageFaults());
        assertEquals(4, s.pids());
        assertTrue(s.found());
        assertFalse(CgroupSample.read(root, "/pod/gone").found());
    }

    @Test
    void cgroupV2FilesAreReadWhereV1IsMissing(@TempDir Path root) throws Exception {
        Files.writeString(root.resolve("cgroup.controllers"), "cpu memory pids\n");
        Path g = Files.createDirectories(root.resolve("pod/c1"));
        Files.writeString(g.resolve("cpu.stat"), "usage_usec 2000\nuser_usec 1500\n");
        Files.writeString(g.resolve("memory.current"), "8192\n");
        Files.writeString(g.resolve("memory.max"), "16384\n");
        Files.writeString(g.resolve("memory.stat"), "anon 4096\ninactive_file 1024\npgfault 9\npgmajfault 1\n");
        Files.writeString(g.resolve("pids.current"), "2\n");

        var s = CgroupSample.read(root, "/pod/c1");
        assertEquals(2_000_000, s.cpuUsageNanos());
        assertEquals(7168, s.workingSet());
        assertEquals(16384, s.memoryLimit());
        assertEquals(9216, StatsMath.available(s.memoryLimit(), s.workingSet()));
        assertEquals(4096, s.rss());
        assertEquals(2, s.pids());
    }

    @Test
    void layerUsageCountsBytesAndInodes(@TempDir Path dir) throws Exception {
        Files.createDirectories(dir.resolve("tmp"));
        Files.write(dir.resolve("tmp/a"), new byte[1000]);
        Files.write(dir.resolve("b"), new byte[24]);
        Files.createSymbolicLink(dir.resolve("link"), Path.of("b"));
        var u = LayerUsage.measure(dir);
        assertEquals(1024, u.usedBytes());
        assertEquals(5, u.inodesUsed(), "root, tmp, tmp/a, b, link");
        assertEquals(0, LayerUsage.measure(dir.resolve("missing")).inodesUsed());
    }

    @Test
    void swapOfV1IsMemoryPlusSwapMinusMemoryAndItsLimitTheDifferenceOfTheLimits(@TempDir Path root) throws Exception {
        Path mem = Files.createDirectories(root.resolve("memory/pod/c1"));
        Files.writeString(mem.resolve("memory.usage_in_bytes"), "10000\n");
        Files.writeString(mem.resolve("memory.limit_in_bytes"), "65536\n");
        Files.writeString(mem.resolve("memory.memsw.usage_in_bytes"), "14096\n");
        Files.writeString(mem.resolve("memory.memsw.limit_in_bytes"), "81920\n");
        Files.writeString(mem.resolve("memory.stat"), "total_inactive_file 0\n");
        var s = CgroupSample.read(root, "/pod/c1");
        assertEquals(4096, s.swapUsage());
        assertEquals(16384, s.swapLimit());
        assertEquals(12288, s.swapAvailable());

        Files.writeString(mem.resolve("memory.memsw.limit_in_bytes"), "9223372036854771712\n");
        var unlimited = CgroupSample.read(root, "/pod/c1");
        assertEquals(4096, unlimited.swapUsage());
        assertEquals(-1, unlimited.swapAvailable(), "no swap limit: nothing to subtract from");

        // memory.stat's exact count wins over the difference of two separately read (batched) counters.
        Files.writeString(mem.resolve("memory.stat"), "total_inactive_file 0\ntotal_swap 0\n");
        assertEquals(0, CgroupSample.read(root, "/pod/c1").swapUsage());

        Files.delete(mem.resolve("memory.memsw.usage_in_bytes"));
        assertEquals(-1, CgroupSample.read(root, "/pod/c1").swapUsage(), "no swap accounting: no swap figures");
    }

    @Test
    void swapOfV2IsSwapCurrentUnderSwapMax(@TempDir Path root) throws Exception {
        Files.writeString(root.resolve("cgroup.controllers"), "memory\n");
        Path g = Files.createDirectories(root.resolve("pod/c1"));
        Files.writeString(g.resolve("memory.current"), "8192\n");
        Files.writeString(g.resolve("memory.max"), "max\n");
        Files.writeString(g.resolve("memory.swap.current"), "1024\n");
        Files.writeString(g.resolve("memory.swap.max"), "4096\n");
        var s = CgroupSample.read(root, "/pod/c1");
        assertEquals(1024, s.swapUsage());
        assertEquals(3072, s.swapAvailable());
        Files.writeString(g.resolve("memory.swap.max"), "max\n");
        assertEquals(-1, CgroupSample.read(root, "/pod/c1").swapAvailable());
    }

    @Test
    void pressureIsReadFromTheHybridUnifiedTreeAndAbsentWhereTheKernelHasNone(@TempDir Path root) throws Exception {
        Files.createDirectories(root.resolve("cpuacct/pod/c1"));
        Files.writeString(root.resolve("cpuacct/pod/c1/cpuacct.usage"), "5\n");
        Files.createDirectories(root.resolve("unified"));
        Files.writeString(root.resolve("unified/cgroup.controllers"), "\n");
        Path g = Files.createDirectories(root.resolve("unified/pod/c1"));
        Files.writeString(g.resolve("cpu.pressure"), "some avg10=1.50 avg60=0.25 avg300=0.05 total=1234\n");
        Files.writeString(g.resolve("memory.pressure"), """
                some avg10=0.00 avg60=0.00 avg300=0.00 total=10
                full avg10=0.00 avg60=0.00 avg300=0.00 total=7
                """);
        var s = CgroupSample.read(root, "/pod/c1");
        assertEquals(5, s.cpuUsageNanos(), "v1 counters still come from v1 on a hybrid node");
        assertEquals(new Pressure.Line(1234, 1.5, 0.25, 0.05), s.cpuPressure().some());
        assertEquals(null, s.cpuPressure().full(), "a kernel whose cpu.pressure has no full line");
        assertEquals(7, s.memoryPressure().full().totalMicros());
        assertEquals(null, s.ioPressure(), "no io.pressure file: no IO figures at all, not zeros");
        assertEquals(null, CgroupSample.read(root, "/pod/other").cpuPressure());

        var psi = StatsCollector.psi(s.cpuPressure());
        assertEquals(1_234_000, psi.getSome().getTotal(), "the CRI counts nanoseconds, the kernel microseconds");
        assertEquals(1.5, psi.getSome().getAvg10());
        assertFalse(psi.hasFull());
    }

    @Test
    void pressureLinesThatDoNotParseAreLeftOut() {
        assertEquals(null, Pressure.parse(""));
        assertEquals(null, Pressure.parse("some avg10=x avg60=0 avg300=0 total=1\n"));
        var p = Pressure.parse("some avg10=0.10 avg60=0.20 avg300=0.30 total=5 extra=9\nfull garbage\n");
        assertEquals(new Pressure.Line(5, 0.1, 0.2, 0.3), p.some());
        assertEquals(null, p.full());
    }

    @Test
    void theCollectorStopsSamplingWhenClosed(@TempDir Path root) throws Exception {
        var collector = new StatsCollector(root, null, null, java.time.Duration.ofMillis(10));
        assertTrue(collector.sampling());
        collector.close();
        assertFalse(collector.sampling(), "close waits for the sampling thread to end");
    }

    @Test
    void statValuesFindTheWantedKeysInAnyOrderAndMarkWhatIsMissingOrNotANumber(@TempDir Path tmp) throws Exception {
        Path stat = tmp.resolve("memory.stat");
        java.nio.file.Files.writeString(stat, "cache 4096\nrss 8192\ntotal_rss 12288\nhierarchical_memory_limit "
                + "9223372036854771712\nodd x1\ntotal_pgfault 77 \nhuge 99999999999999999999\n");
        assertEquals(java.util.List.of(77L, 12288L, -1L, -1L, 9223372036854771712L, -1L, 4096L),
                java.util.Arrays.stream(CgroupSample.statValues(stat, "total_pgfault", "total_rss", "total_swap", "odd",
                        "hierarchical_memory_limit", "huge", "cache")).boxed().toList());
        assertEquals(-1, CgroupSample.statValues(stat, "rs")[0], "a prefix of a key is not the key");
        assertEquals(java.util.List.of(-1L, -1L), java.util.Arrays.stream(CgroupSample.statValues(
                tmp.resolve("missing"), "a", "b")).boxed().toList());
    }
}
