package dev.bollard.daemon.stats;

import dev.bollard.api.cri.v1.ContainerAttributes;
import dev.bollard.api.cri.v1.ContainerStats;
import dev.bollard.api.cri.v1.CpuUsage;
import dev.bollard.api.cri.v1.LinuxPodSandboxStats;
import dev.bollard.api.cri.v1.MemoryUsage;
import dev.bollard.api.cri.v1.Metric;
import dev.bollard.api.cri.v1.MetricDescriptor;
import dev.bollard.api.cri.v1.NetworkInterfaceUsage;
import dev.bollard.api.cri.v1.NetworkUsage;
import dev.bollard.api.cri.v1.PodSandboxAttributes;
import dev.bollard.api.cri.v1.PodSandboxStats;
import dev.bollard.api.cri.v1.UInt64Value;
import dev.bollard.api.cri.v1.IoUsage;
import dev.bollard.api.cri.v1.PsiData;
import dev.bollard.api.cri.v1.PsiStats;
import dev.bollard.api.cri.v1.SwapUsage;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CriMetricsTest {

    private static UInt64Value u64(long v) {
        return UInt64Value.newBuilder().setValue(v).build();
    }

    private static PodSandboxStats pod(long availableBytes) {
        var container = ContainerStats.newBuilder().setAttributes(ContainerAttributes.newBuilder().setId("c1"))
                .setCpu(CpuUsage.newBuilder().setTimestamp(5).setUsageCoreNanoSeconds(u64(2_999_999_999L)))
                .setMemory(MemoryUsage.newBuilder().setTimestamp(6).setWorkingSetBytes(u64(1000))
                        .setAvailableBytes(u64(availableBytes)).setUsageBytes(u64(1500)).setRssBytes(u64(800))
                        .setPageFaults(u64(40)).setMajorPageFaults(u64(3))
                        .setPsi(PsiStats.newBuilder().setSome(PsiData.newBuilder().setTotal(7_500_000_000L))))
                .setSwap(SwapUsage.newBuilder().setTimestamp(8).setSwapUsageBytes(u64(4096)))
                .setIo(IoUsage.newBuilder().setTimestamp(9).setPsi(PsiStats.newBuilder()
                        .setSome(PsiData.newBuilder().setTotal(3_000_000_000L))
                        .setFull(PsiData.newBuilder().setTotal(1_999_999_999L))));
        var net = NetworkUsage.newBuilder().setTimestamp(7).addInterfaces(NetworkInterfaceUsage.newBuilder()
                .setName("eth0").setRxBytes(u64(100)).setTxBytes(u64(200)).setRxErrors(u64(1)).setTxErrors(u64(2)));
        return PodSandboxStats.newBuilder().setAttributes(PodSandboxAttributes.newBuilder().setId("p1"))
                .setLinux(LinuxPodSandboxStats.newBuilder().setNetwork(net).addContainers(container)).build();
    }

    private static Map<String, Metric> byName(List<Metric> metrics) {
        return metrics.stream().collect(Collectors.toMap(m -> m.getName() + m.getLabelValuesList(), Function.identity()));
    }

    @Test
    void containerValuesKeepTheirUnitsAndTimestamps() {
        var m = CriMetrics.of(pod(3000));
        assertEquals("p1", m.getPodSandboxId());
        var c = byName(m.getContainerMetrics(0).getMetricsList());
        assertEquals(2, c.get("container_cpu_usage_seconds_total[]").getValue().getValue(), "whole seconds, truncated");
        assertEquals(5, c.get("container_cpu_usage_seconds_total[]").getTimestamp());
        assertEquals(1000, c.get("container_memory_working_set_bytes[]").getValue().getValue());
        assertEquals(1500, c.get("container_memory_usage_bytes[]").getValue().getValue());
        assertEquals(800, c.get("container_memory_rss[]").getValue().getValue());
        assertEquals(4000, c.get("container_spec_memory_limit_bytes[]").getValue().getValue(), "working set + available");
        assertEquals(40, c.get("container_memory_failures_total[pgfault, container]").getValue().getValue());
        assertEquals(3, c.get("container_memory_failures_total[pgmajfault, container]").getValue().getValue());
        assertEquals(4096, c.get("container_memory_swap[]").getValue().getValue());
        assertEquals(8, c.get("container_memory_swap[]").getTimestamp());
        assertEquals(7, c.get("container_pressure_memory_waiting_seconds_total[]").getValue().getValue());
        assertFalse(c.containsKey("container_pressure_memory_stalled_seconds_total[]"), "no full line: no sample");
        assertFalse(c.containsKey("container_pressure_cpu_waiting_seconds_total[]"), "no CPU PSI: no sample");
        assertEquals(3, c.get("container_pressure_io_waiting_seconds_total[]").getValue().getValue());
        assertEquals(1, c.get("container_pressure_io_stalled_seconds_total[]").getValue().getValue());
        assertEquals(9, c.get("container_pressure_io_stalled_seconds_total[]").getTimestamp());
        var p = byName(m.getMetricsList());
        assertEquals(100, p.get("container_network_receive_bytes_total[eth0]").getValue().getValue());
        assertEquals(200, p.get("container_network_transmit_bytes_total[eth0]").getValue().getValue());
        assertEquals(2, p.get("container_network_transmit_errors_total[eth0]").getValue().getValue());
        assertEquals(7, p.get("container_network_receive_bytes_total[eth0]").getTimestamp());
    }

    @Test
    void anUnlimitedContainerHasNoLimitSample() {
        var c = byName(CriMetrics.of(pod(Long.MAX_VALUE - 4096)).getContainerMetrics(0).getMetricsList());
        assertFalse(c.containsKey("container_spec_memory_limit_bytes[]"), c.keySet().toString());
    }

    @Test
    void everySampleIsDescribedWithItsLabels() {
        Map<String, MetricDescriptor> descriptors = CriMetrics.DESCRIPTORS.stream()
                .collect(Collectors.toMap(MetricDescriptor::getName, Function.identity()));
        var m = CriMetrics.of(pod(3000));
        var all = new java.util.ArrayList<>(m.getMetricsList());
        all.addAll(m.getContainerMetrics(0).getMetricsList());
        assertTrue(all.size() > 10);
        for (var sample : all) {
            var d = descriptors.get(sample.getName());
            assertTrue(d != null, "undescribed: " + sample.getName());
            assertEquals(d.getLabelKeysCount(), sample.getLabelValuesCount(), sample.toString());
        }
    }
}
