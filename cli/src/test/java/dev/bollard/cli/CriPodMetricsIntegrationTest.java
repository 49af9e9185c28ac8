package dev.bollard.cli;

import dev.bollard.api.cri.v1.ContainerMetrics;
import dev.bollard.api.cri.v1.ListMetricDescriptorsRequest;
import dev.bollard.api.cri.v1.ListPodSandboxMetricsRequest;
import dev.bollard.api.cri.v1.Metric;
import dev.bollard.api.cri.v1.MetricDescriptor;
import dev.bollard.api.cri.v1.MetricType;
import dev.bollard.api.cri.v1.PodSandboxMetrics;
import dev.bollard.api.cri.v1.PodSandboxStatusRequest;
import dev.bollard.api.cri.v1.StreamPodSandboxMetricsRequest;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The CRI's pod metrics (kubelet's PodAndContainerStatsFromCRI path) of a real pod. */
class CriPodMetricsIntegrationTest extends PodNodeTest {

    @Test
    void descriptorsAreCadvisorNamesWithHelp() {
        var descriptors = node.rt().listMetricDescriptors(ListMetricDescriptorsRequest.getDefaultInstance())
                .getDescriptorsList();
        var names = descriptors.stream().map(MetricDescriptor::getName).toList();
        assertTrue(names.containsAll(List.of("container_cpu_usage_seconds_total", "container_memory_working_set_bytes",
                "container_memory_usage_bytes", "container_memory_rss", "container_network_receive_bytes_total",
                "container_network_transmit_bytes_total", "container_fs_usage_bytes")), names.toString());
        assertEquals(names.size(), Set.copyOf(names).size(), "unique names: " + names);
        for (var d : descriptors) {
            assertFalse(d.getHelp().isBlank(), "help of " + d.getName());
        }
        assertEquals(List.of("interface"), descriptor(descriptors, "container_network_receive_bytes_total").getLabelKeysList());
    }

    @Test
    void aRunningPodReportsCpuMemoryAndNetwork() throws Exception {
        var podConfig = node.pod("metrics").build();
        String pod = node.runPod(podConfig);
        // httpd answers the test's request (network traffic); the bounded busy loop makes CPU time reach a second.
        String app = node.createAndStart(pod, podConfig, PodTestNode.container("app", "sh", "-c",
                "httpd -p 8080 -h /www; timeout 4 sh -c 'while :; do :; done'; sleep 3600").build());
        String ip = node.rt().podSandboxStatus(PodSandboxStatusRequest.newBuilder().setPodSandboxId(pod).build())
                .getStatus().getNetwork().getIp();
        String body = get("http://" + ip + ":8080/index.html");
        assertEquals("hello from a bollard pod\n", body);

        var descriptors = node.rt().listMetricDescriptors(ListMetricDescriptorsRequest.getDefaultInstance())
                .getDescriptorsList();
        PodSandboxMetrics metrics = until(() -> podMetrics(pod), m -> m.flatMap(p -> container(p, app))
                .flatMap(c -> value(c.getMetricsList(), "container_cpu_usage_seconds_total")).orElse(0L) >= 1)
                .orElseThrow(() -> new AssertionError("no metrics for pod " + pod));
        ContainerMetrics c = container(metrics, app).orElseThrow();

        assertTrue(value(c.getMetricsList(), "container_cpu_usage_seconds_total").orElse(0L) >= 1,
                "a busy loop of 4 s: " + c);
        assertTrue(value(c.getMetricsList(), "container_memory_working_set_bytes").orElse(0L) > 0, c.toString());
        assertTrue(value(c.getMetricsList(), "container_memory_usage_bytes").orElse(0L) > 0, c.toString());
        assertTrue(value(c.getMetricsList(), "container_memory_rss").orElse(0L) > 0, c.toString());
        assertTrue(c.getMetricsList().stream().anyMatch(m -> m.getName().equals("container_fs_usage_bytes")), c.toString());
        assertEquals(MetricType.COUNTER, metric(c.getMetricsList(), "container_cpu_usage_seconds_total").getMetricType());
        assertEquals(MetricType.GAUGE, metric(c.getMetricsList(), "container_memory_working_set_bytes").getMetricType());

        Metric rx = metric(metrics.getMetricsList(), "container_network_receive_bytes_total");
        Metric tx = metric(metrics.getMetricsList(), "container_network_transmit_bytes_total");
        assertEquals(List.of("eth0"), rx.getLabelValuesList(), "the pod's CNI interface, lo left out: " + metrics);
        assertTrue(rx.getValue().getValue() > body.length(), "the request reached the pod: " + rx);
        assertTrue(tx.getValue().getValue() > body.length(), "the page left the pod: " + tx);
        assertTrue(rx.getTimestamp() > 0, "a cached sample carries its time: " + rx);

        // Every sample names a described metric, with one value per label key.
        Map<String, MetricDescriptor> byName = descriptors.stream()
                .collect(Collectors.toMap(MetricDescriptor::getName, Function.identity()));
        var all = new ArrayList<>(metrics.getMetricsList());
        metrics.getContainerMetricsList().forEach(cm -> all.addAll(cm.getMetricsList()));
        for (var m : all) {
            var d = byName.get(m.getName());
            assertTrue(d != null, "undescribed metric " + m.getName());
            assertEquals(d.getLabelKeysCount(), m.getLabelValuesCount(), m.toString());
        }

        var streamed = new ArrayList<PodSandboxMetrics>();
        node.rt().streamPodSandboxMetrics(StreamPodSandboxMetricsRequest.getDefaultInstance())
                .forEachRemaining(r -> streamed.addAll(r.getPodSandboxMetricsList()));
        assertTrue(streamed.stream().anyMatch(p -> p.getPodSandboxId().equals(pod)
                && container(p, app).isPresent()), streamed.toString());

        node.removePod(pod);
        assertTrue(podMetrics(pod).isEmpty(), "a removed pod has no metrics");
    }

    private Optional<PodSandboxMetrics> podMetrics(String pod) {
        return node.rt().listPodSandboxMetrics(ListPodSandboxMetricsRequest.getDefaultInstance()).getPodMetricsList()
                .stream().filter(p -> p.getPodSandboxId().equals(pod)).findFirst();
    }

    private static Optional<ContainerMetrics> container(PodSandboxMetrics p, String id) {
        return p.getContainerMetricsList().stream().filter(c -> c.getContainerId().equals(id)).findFirst();
    }

    private static Optional<Long> value(List<Metric> metrics, String name) {
        return metrics.stream().filter(m -> m.getName().equals(name)).findFirst().map(m -> m.getValue().getValue());
    }

    private static Metric metric(List<Metric> metrics, String name) {
        return metrics.stream().filter(m -> m.getName().equals(name)).findFirst()
                .orElseThrow(() -> new AssertionError("no " + name + " in " + metrics));
    }

    private static MetricDescriptor descriptor(List<MetricDescriptor> descriptors, String name) {
        return descriptors.stream().filter(d -> d.getName().equals(name)).findFirst().orElseThrow();
    }

    private static String get(String url) throws Exception {
        var http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (true) {
            try {
                return http.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(5)).build(),
                        HttpResponse.BodyHandlers.ofString()).body();
            } catch (java.io.IOException e) {
                if (System.nanoTime() > deadline) {
                    throw new AssertionError("GET " + url + " failed: " + e, e);
                }
                Thread.sleep(200); // httpd not listening yet
            }
        }
    }

    private static <T> T until(java.util.function.Supplier<T> read, java.util.function.Predicate<T> done)
            throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        T v = read.get();
        while (!done.test(v) && System.nanoTime() < deadline) {
            Thread.sleep(250);
            v = read.get();
        }
        return v;
    }
}
