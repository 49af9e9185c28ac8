package dev.bollard.daemon.metrics;

import dev.bollard.daemon.container.Container;
import dev.bollard.daemon.container.ContainerStore;
import dev.bollard.daemon.container.ContainerState;
import dev.bollard.daemon.sandbox.Sandbox;
import dev.bollard.daemon.sandbox.SandboxStore;
import dev.bollard.daemon.sandbox.SandboxState;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.instrumentation.jvm.JvmMetrics;
import io.prometheus.metrics.model.registry.PrometheusRegistry;

import java.util.EnumMap;

/**
 * The metrics an operator scrapes from {@code [metrics] address}: CRI call latency and errors, pods and containers
 * by state and live shims (read from the managers at scrape time, so nothing can drift), image pulls, and the
 * JVM's memory, GC and threads. A registry of its own, so tests and a second daemon in one JVM never share counts.
 */
public final class OperatorMetrics {

    /** Latency buckets from 0.5 ms (Version, List*) to 2 min (a large PullImage, a slow StopPodSandbox). */
    private static final double[] RPC_BUCKETS = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
            1, 2.5, 5, 10, 30, 60, 120};
    private static final double[] PULL_BUCKETS = {0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600};
    /** From 50 µs (a write the page cache absorbs) to 5 s (fsync behind a busy disk). */
    private static final double[] STORE_BUCKETS = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
            0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};

    private final PrometheusRegistry registry = new PrometheusRegistry();
    private final Histogram criLatency;
    private final Counter criErrors;
    private final Histogram pullDuration;
    private final Counter pullBytes;
    private final Counter pullFailures;
    private final Histogram storeLatency;

    public OperatorMetrics() {
        criLatency = Histogram.builder()
                .name("bollard_cri_request_duration_seconds")
                .help("Latency of CRI (and Bollard admin) gRPC calls, by full method name and gRPC status code.")
                .labelNames("method", "code")
                .classicOnly()
                .classicUpperBounds(RPC_BUCKETS)
                .register(registry);
        criErrors = Counter.builder()
                .name("bollard_cri_request_errors_total")
                .help("CRI calls that ended with a status other than OK, by method and gRPC status code.")
                .labelNames("method", "code")
                .register(registry);
        pullDuration = Histogram.builder()
                .name("bollard_image_pull_duration_seconds")
                .help("Duration of image pulls that succeeded, from resolve to the image being recorded.")
                .classicOnly()
                .classicUpperBounds(PULL_BUCKETS)
                .register(registry);
        pullBytes = Counter.builder()
                .name("bollard_image_pull_bytes_total")
                .help("Compressed bytes of the images pulled successfully (manifest sizes of their layers and config).")
                .register(registry);
        pullFailures = Counter.builder()
                .name("bollard_image_pull_failures_total")
                .help("Image pulls that failed.")
                .register(registry);
        storeLatency = Histogram.builder()
                .name("bollard_store_operation_duration_seconds")
                .help("Duration of the crash-safe store operations (each write is fsynced, then renamed in and its "
                        + "directory fsynced), by store (sandboxes, containers, images, files) and op (write, delete, load).")
                .labelNames("store", "op")
                .classicOnly()
                .classicUpperBounds(STORE_BUCKETS)
                .register(registry);
        JvmMetrics.builder().register(registry);
    }

    /** Times the store operations on files under the daemon's directories, until the handle is closed. */
    public AutoCloseable observeStores(java.nio.file.Path... dirs) {
        var handles = new java.util.ArrayList<AutoCloseable>();
        for (var dir : dirs) {
            handles.add(dev.bollard.daemon.store.StoreTimings.register(dir, this::storeOperation));
        }
        return () -> {
            for (var h : handles) {
                h.close();
            }
        };
    }

    public void storeOperation(String store, String op, long nanos) {
        storeLatency.labelValues(store, op).observe(nanos / 1e9);
    }

    /** Gauges read from the managers on each scrape. */
    public void observe(SandboxStore sandboxes, ContainerStore containers) {
        GaugeWithCallback.builder()
                .name("bollard_pods")
                .help("Pod sandboxes known to Bollard, by CRI state (READY, NOTREADY).")
                .labelNames("state")
                .callback(cb -> {
                    var counts = new EnumMap<SandboxState, Integer>(SandboxState.class);
                    for (SandboxState s : SandboxState.values()) {
                        counts.put(s, 0);
                    }
                    for (Sandbox s : sandboxes.list()) {
                        counts.merge(s.record().state(), 1, Integer::sum);
                    }
                    counts.forEach((state, n) -> cb.call(n, state.name()));
                })
                .register(registry);
        GaugeWithCallback.builder()
                .name("bollard_containers")
                .help("Containers known to Bollard, by CRI state (CREATED, RUNNING, EXITED, UNKNOWN).")
                .labelNames("state")
                .callback(cb -> {
                    var counts = new EnumMap<ContainerState, Integer>(ContainerState.class);
                    for (ContainerState s : ContainerState.values()) {
                        counts.put(s, 0);
                    }
                    for (Container c : containers.list()) {
                        counts.merge(c.state(), 1, Integer::sum);
                    }
                    counts.forEach((state, n) -> cb.call(n, state.name()));
                })
                .register(registry);
        GaugeWithCallback.builder()
                .name("bollard_shims")
                .help("Shims Bollard is connected to (one per pod whose shim has not been shut down, or per shared shim).")
                .callback(cb -> cb.call(sandboxes.list().stream().map(s -> s.shim()).filter(java.util.Objects::nonNull)
                        .map(dev.bollard.daemon.shim.ShimGroups.Member::processOf)
                        .distinct().count()))
                .register(registry);
    }

    public PrometheusRegistry registry() {
        return registry;
    }

    /** One finished gRPC call. */
    public void criCall(String method, String code, long nanos) {
        criLatency.labelValues(method, code).observe(nanos / 1e9);
        if (!"OK".equals(code)) {
            criErrors.labelValues(method, code).inc();
        }
    }

    public void imagePulled(long bytes, long nanos) {
        pullDuration.observe(nanos / 1e9);
        pullBytes.inc(bytes);
    }

    public void imagePullFailed() {
        pullFailures.inc();
    }
}
