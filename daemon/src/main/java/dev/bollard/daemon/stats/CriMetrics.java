package dev.bollard.daemon.stats;

import dev.bollard.api.cri.v1.UInt64Value;
import dev.bollard.api.cri.v1.ContainerMetrics;
import dev.bollard.api.cri.v1.ContainerStats;
import dev.bollard.api.cri.v1.Metric;
import dev.bollard.api.cri.v1.MetricDescriptor;
import dev.bollard.api.cri.v1.MetricType;
import dev.bollard.api.cri.v1.PodSandboxMetrics;
import dev.bollard.api.cri.v1.PodSandboxStats;
import dev.bollard.api.cri.v1.PsiStats;

import java.util.List;

/**
 * The CRI's pod metrics (ListMetricDescriptors / ListPodSandboxMetrics), which kubelet exports under cAdvisor's
 * names when it takes pod and container stats from the CRI. Built from the same {@link StatsCollector} readings as
 * the stats RPCs, so both views agree. Values are unsigned integers on the wire: CPU seconds are whole seconds
 * (truncated), as the names' unit demands.
 */
public final class CriMetrics {

    public static final String CPU_USAGE = "container_cpu_usage_seconds_total";
    public static final String MEMORY_USAGE = "container_memory_usage_bytes";
    public static final String MEMORY_WORKING_SET = "container_memory_working_set_bytes";
    public static final String MEMORY_RSS = "container_memory_rss";
    public static final String MEMORY_LIMIT = "container_spec_memory_limit_bytes";
    public static final String PAGE_FAULTS = "container_memory_failures_total";
    public static final String FS_USAGE = "container_fs_usage_bytes";
    public static final String PROCESSES = "container_processes";
    public static final String MEMORY_SWAP = "container_memory_swap";
    /** PSI as cAdvisor names it: "waiting" is the kernel's some, "stalled" its full. */
    public static final String CPU_WAITING = "container_pressure_cpu_waiting_seconds_total";
    public static final String CPU_STALLED = "container_pressure_cpu_stalled_seconds_total";
    public static final String MEMORY_WAITING = "container_pressure_memory_waiting_seconds_total";
    public static final String MEMORY_STALLED = "container_pressure_memory_stalled_seconds_total";
    public static final String IO_WAITING = "container_pressure_io_waiting_seconds_total";
    public static final String IO_STALLED = "container_pressure_io_stalled_seconds_total";
    public static final String NET_RX_BYTES = "container_network_receive_bytes_total";
    public static final String NET_RX_ERRORS = "container_network_receive_errors_total";
    public static final String NET_TX_BYTES = "container_network_transmit_bytes_total";
    public static final String NET_TX_ERRORS = "container_network_transmit_errors_total";

    /** The fixed set, as the CRI asks: what ListPodSandboxMetrics may return, nothing else. */
    public static final List<MetricDescriptor> DESCRIPTORS = List.of(
            descriptor(CPU_USAGE, "Cumulative cpu time consumed in seconds."),
            descriptor(MEMORY_USAGE, "Current memory usage in bytes, including all memory regardless of when it was accessed."),
            descriptor(MEMORY_WORKING_SET, "Current working set in bytes (usage minus inactive file cache)."),
            descriptor(MEMORY_RSS, "Size of RSS in bytes (anonymous memory and swap cache)."),
            descriptor(MEMORY_LIMIT, "Memory limit for the container in bytes (absent when unlimited)."),
            descriptor(PAGE_FAULTS, "Cumulative count of memory allocation failures (page faults), by failure type and scope.",
                    "failure_type", "scope"),
            descriptor(FS_USAGE, "Number of bytes consumed by the container's writable layer.", "device"),
            descriptor(PROCESSES, "Number of processes running inside the pod sandbox's cgroup."),
            descriptor(MEMORY_SWAP, "Container swap usage in bytes."),
            descriptor(CPU_WAITING, "Total time in seconds tasks in the container have waited due to CPU congestion."),
            descriptor(CPU_STALLED, "Total time in seconds no task in the container could make progress due to CPU congestion."),
            descriptor(MEMORY_WAITING, "Total time in seconds tasks in the container have waited due to memory congestion."),
            descriptor(MEMORY_STALLED, "Total time in seconds no task in the container could make progress due to memory congestion."),
            descriptor(IO_WAITING, "Total time in seconds tasks in the container have waited due to IO congestion."),
            descriptor(IO_STALLED, "Total time in seconds no task in the container could make progress due to IO congestion."),
            descriptor(NET_RX_BYTES, "Cumulative count of bytes received.", "interface"),
            descriptor(NET_RX_ERRORS, "Cumulative count of errors encountered while receiving.", "interface"),
            descriptor(NET_TX_BYTES, "Cumulative count of bytes transmitted.", "interface"),
            descriptor(NET_TX_ERRORS, "Cumulative count of errors encountered while transmitting.", "interface"));

    /** A memory limit at or above this is "unlimited" (cgroup v1 reports a page-rounded 2^63-1). */
    private static final long UNLIMITED = 1L << 62;

    private CriMetrics() {
    }

    private static MetricDescriptor descriptor(String name, String help, String... labelKeys) {
        return MetricDescriptor.newBuilder().setName(name).setHelp(help).addAllLabelKeys(List.of(labelKeys)).build();
    }

    /** One pod's metrics: network and processes at the sandbox level, CPU, memory and filesystem per container. */
    public static PodSandboxMetrics of(PodSandboxStats stats) {
        var b = PodSandboxMetrics.newBuilder().setPodSandboxId(stats.getAttributes().getId());
        var linux = stats.getLinux();
        if (linux.hasNetwork()) {
            var net = linux.getNetwork();
            long ts = net.getTimestamp();
            for (var i : net.getInterfacesList()) {
                b.addMetrics(metric(NET_RX_BYTES, ts, MetricType.COUNTER, i.getRxBytes().getValue(), i.getName()));
                b.addMetrics(metric(NET_RX_ERRORS, ts, MetricType.COUNTER, i.getRxErrors().getValue(), i.getName()));
                b.addMetrics(metric(NET_TX_BYTES, ts, MetricType.COUNTER, i.getTxBytes().getValue(), i.getName()));
                b.addMetrics(metric(NET_TX_ERRORS, ts, MetricType.COUNTER, i.getTxErrors().getValue(), i.getName()));
            }
        }
        if (linux.hasProcess()) {
            b.addMetrics(metric(PROCESSES, linux.getProcess().getTimestamp(), MetricType.GAUGE,
                    linux.getProcess().getProcessCount().getValue()));
        }
        for (var c : linux.getContainersList()) {
            b.addContainerMetrics(of(c));
        }
        return b.build();
    }

    static ContainerMetrics of(ContainerStats c) {
        var b = ContainerMetrics.newBuilder().setContainerId(c.getAttributes().getId());
        if (c.hasCpu() && c.getCpu().hasUsageCoreNanoSeconds()) {
            b.addMetrics(metric(CPU_USAGE, c.getCpu().getTimestamp(), MetricType.COUNTER,
                    c.getCpu().getUsageCoreNanoSeconds().getValue() / 1_000_000_000L));
        }
        if (c.hasMemory()) {
            var m = c.getMemory();
            long ts = m.getTimestamp();
            if (m.hasUsageBytes()) {
                b.addMetrics(metric(MEMORY_USAGE, ts, MetricType.GAUGE, m.getUsageBytes().getValue()));
            }
            if (m.hasWorkingSetBytes()) {
                b.addMetrics(metric(MEMORY_WORKING_SET, ts, MetricType.GAUGE, m.getWorkingSetBytes().getValue()));
                if (m.hasAvailableBytes()) {
                    long limit = m.getWorkingSetBytes().getValue() + m.getAvailableBytes().getValue();
                    if (limit < UNLIMITED) {
                        b.addMetrics(metric(MEMORY_LIMIT, ts, MetricType.GAUGE, limit));
                    }
                }
            }
            if (m.hasRssBytes()) {
                b.addMetrics(metric(MEMORY_RSS, ts, MetricType.GAUGE, m.getRssBytes().getValue()));
            }
            if (m.hasPageFaults() && m.hasMajorPageFaults()) {
                // memory.stat's pgfault (all faults) and pgmajfault, as cAdvisor labels them
                b.addMetrics(metric(PAGE_FAULTS, ts, MetricType.COUNTER, m.getPageFaults().getValue(),
                        "pgfault", "container"));
                b.addMetrics(metric(PAGE_FAULTS, ts, MetricType.COUNTER, m.getMajorPageFaults().getValue(),
                        "pgmajfault", "container"));
            }
        }
        if (c.hasSwap() && c.getSwap().hasSwapUsageBytes()) {
            b.addMetrics(metric(MEMORY_SWAP, c.getSwap().getTimestamp(), MetricType.GAUGE,
                    c.getSwap().getSwapUsageBytes().getValue()));
        }
        if (c.hasCpu() && c.getCpu().hasPsi()) {
            pressure(b, c.getCpu().getTimestamp(), c.getCpu().getPsi(), CPU_WAITING, CPU_STALLED);
        }
        if (c.hasMemory() && c.getMemory().hasPsi()) {
            pressure(b, c.getMemory().getTimestamp(), c.getMemory().getPsi(), MEMORY_WAITING, MEMORY_STALLED);
        }
        if (c.hasIo() && c.getIo().hasPsi()) {
            pressure(b, c.getIo().getTimestamp(), c.getIo().getPsi(), IO_WAITING, IO_STALLED);
        }
        if (c.hasWritableLayer()) {
            var fs = c.getWritableLayer();
            String device = fs.getFsId().getMountpoint();
            b.addMetrics(metric(FS_USAGE, fs.getTimestamp(), MetricType.GAUGE, fs.getUsedBytes().getValue(), device));
        }
        return b.build();
    }

    /** Stall totals in whole seconds (the CRI carries nanoseconds), only for the lines the kernel has. */
    private static void pressure(ContainerMetrics.Builder b, long ts, PsiStats psi, String waiting, String stalled) {
        if (psi.hasSome()) {
            b.addMetrics(metric(waiting, ts, MetricType.COUNTER, psi.getSome().getTotal() / 1_000_000_000L));
        }
        if (psi.hasFull()) {
            b.addMetrics(metric(stalled, ts, MetricType.COUNTER, psi.getFull().getTotal() / 1_000_000_000L));
        }
    }

    private static Metric metric(String name, long timestamp, MetricType type, long value, String... labelValues) {
        return Metric.newBuilder().setName(name).setTimestamp(timestamp).setMetricType(type)
                .addAllLabelValues(List.of(labelValues)).setValue(UInt64Value.newBuilder().setValue(value)).build();
    }
}
