package dev.bollard.daemon.cri;

import dev.bollard.api.cri.v1.ContainerEventResponse;
import dev.bollard.api.cri.v1.ContainerEventType;
import dev.bollard.api.cri.v1.ContainerStats;
import dev.bollard.api.cri.v1.ContainerStatsFilter;
import dev.bollard.api.cri.v1.ContainerStatsRequest;
import dev.bollard.api.cri.v1.ContainerStatsResponse;
import dev.bollard.api.cri.v1.GetEventsRequest;
import dev.bollard.api.cri.v1.ListContainerStatsRequest;
import dev.bollard.api.cri.v1.ListContainerStatsResponse;
import dev.bollard.api.cri.v1.ListPodSandboxStatsRequest;
import dev.bollard.api.cri.v1.ListPodSandboxStatsResponse;
import dev.bollard.api.cri.v1.PodSandboxStats;
import dev.bollard.api.cri.v1.PodSandboxStatsFilter;
import dev.bollard.api.cri.v1.PodSandboxStatsRequest;
import dev.bollard.api.cri.v1.PodSandboxStatsResponse;
import dev.bollard.api.cri.v1.StreamContainerStatsRequest;
import dev.bollard.api.cri.v1.StreamContainerStatsResponse;
import dev.bollard.api.cri.v1.StreamPodSandboxStatsRequest;
import dev.bollard.api.cri.v1.StreamPodSandboxStatsResponse;
import dev.bollard.daemon.container.Container;
import dev.bollard.daemon.container.ContainerStore;
import dev.bollard.daemon.container.ContainerState;
import dev.bollard.daemon.sandbox.LifecycleEvent;
import dev.bollard.daemon.sandbox.SandboxStore;
import dev.bollard.api.cri.v1.ListMetricDescriptorsRequest;
import dev.bollard.api.cri.v1.ListMetricDescriptorsResponse;
import dev.bollard.api.cri.v1.ListPodSandboxMetricsRequest;
import dev.bollard.api.cri.v1.ListPodSandboxMetricsResponse;
import dev.bollard.api.cri.v1.PodSandboxMetrics;
import dev.bollard.api.cri.v1.StreamPodSandboxMetricsRequest;
import dev.bollard.api.cri.v1.StreamPodSandboxMetricsResponse;
import dev.bollard.daemon.stats.ContainerEvents;
import dev.bollard.daemon.stats.CriMetrics;
import dev.bollard.daemon.stats.StatsCollector;
import io.grpc.stub.StreamObserver;

import java.util.List;

/**
 * ContainerStats, ListContainerStats, StreamContainerStats, PodSandboxStats, ListPodSandboxStats,
 * StreamPodSandboxStats (answered from {@link StatsCollector}'s cache), the CRI pod metrics built from the same
 * readings ({@link CriMetrics}: ListMetricDescriptors, ListPodSandboxMetrics, StreamPodSandboxMetrics) and GetContainerEvents (fed by the
 * container manager's lifecycle hook through {@link ContainerEvents}).
 */
public final class StatsRpcs implements ContainerStore.Listener {

    static final int STREAM_BATCH = 100;

    private final StatsCollector collector;
    private final ContainerStore containers;
    private final SandboxStore sandboxes;
    private final ContainerRpcs containerRpcs;
    private final ContainerEvents events;

    public StatsRpcs(StatsCollector collector, ContainerStore containers, SandboxStore sandboxes,
                     ContainerRpcs containerRpcs, ContainerEvents events) {
        this.collector = collector;
        this.containers = containers;
        this.sandboxes = sandboxes;
        this.containerRpcs = containerRpcs;
        this.events = events;
        containers.listener(this);
        sandboxes.listener(this::sandboxChanged);
    }

    ContainerStatsResponse containerStats(ContainerStatsRequest request) {
        var c = containers.get(ContainerRpcs.requireId(request.getContainerId()));
        return ContainerStatsResponse.newBuilder().setStats(collector.containerStats(c)).build();
    }

    ListContainerStatsResponse listContainerStats(ListContainerStatsRequest request) {
        return ListContainerStatsResponse.newBuilder().addAllStats(matching(request.getFilter())).build();
    }

    void streamContainerStats(StreamContainerStatsRequest request, StreamObserver<StreamContainerStatsResponse> observer) {
        var all = matching(request.getFilter());
        for (int i = 0; i < all.size(); i += STREAM_BATCH) {
            observer.onNext(StreamContainerStatsResponse.newBuilder()
                    .addAllContainerStats(all.subList(i, Math.min(all.size(), i + STREAM_BATCH))).build());
        }
    }

    /** Running containers only, as the CRI says. */
    private List<ContainerStats> matching(ContainerStatsFilter filter) {
        return containers.list().stream()
                .filter(c -> c.state() == ContainerState.RUNNING)
                .filter(c -> CriFilters.idMatches(filter.getId(), c.id()))
                .filter(c -> CriFilters.idMatches(filter.getPodSandboxId(), c.record().sandboxId()))
                .filter(c -> CriFilters.labelsMatch(filter.getLabelSelectorMap(), c.config().getLabelsMap()))
                .map(collector::containerStats)
                .toList();
    }

    PodSandboxStatsResponse podSandboxStats(PodSandboxStatsRequest request) {
        var s = sandboxes.get(PodSandboxRpcs.requireId(request.getPodSandboxId()));
        return PodSandboxStatsResponse.newBuilder().setStats(collector.podStats(s, containers.ofPod(s.id()))).build();
    }

    ListPodSandboxStatsResponse listPodSandboxStats(ListPodSandboxStatsRequest request) {
        return ListPodSandboxStatsResponse.newBuilder().addAllStats(matchingPods(request.getFilter())).build();
    }

    void streamPodSandboxStats(StreamPodSandboxStatsRequest request,
                               StreamObserver<StreamPodSandboxStatsResponse> observer) {
        var all = matchingPods(request.getFilter());
        for (int i = 0; i < all.size(); i += STREAM_BATCH) {
            observer.onNext(StreamPodSandboxStatsResponse.newBuilder()
                    .addAllPodSandboxStats(all.subList(i, Math.min(all.size(), i + STREAM_BATCH))).build());
        }
    }

    /** Ready pods: a stopped pod has no cgroup or network left to measure. */
    private List<PodSandboxStats> matchingPods(PodSandboxStatsFilter filter) {
        return sandboxes.list().stream()
                .filter(s -> s.ready())
                .filter(s -> CriFilters.idMatches(filter.getId(), s.id()))
                .filter(s -> CriFilters.labelsMatch(filter.getLabelSelectorMap(), s.config().getLabelsMap()))
                .map(s -> collector.podStats(s, containers.ofPod(s.id())))
                .toList();
    }

    ListMetricDescriptorsResponse listMetricDescriptors(ListMetricDescriptorsRequest request) {
        return ListMetricDescriptorsResponse.newBuilder().addAllDescriptors(CriMetrics.DESCRIPTORS).build();
    }

    ListPodSandboxMetricsResponse listPodSandboxMetrics(ListPodSandboxMetricsRequest request) {
        return ListPodSandboxMetricsResponse.newBuilder().addAllPodMetrics(podMetrics()).build();
    }

    void streamPodSandboxMetrics(StreamPodSandboxMetricsRequest request,
                                 StreamObserver<StreamPodSandboxMetricsResponse> observer) {
        var all = podMetrics();
        for (int i = 0; i < all.size(); i += STREAM_BATCH) {
            observer.onNext(StreamPodSandboxMetricsResponse.newBuilder()
                    .addAllPodSandboxMetrics(all.subList(i, Math.min(all.size(), i + STREAM_BATCH))).build());
        }
    }

    /** Ready pods, from the same readings as their stats. */
    private List<PodSandboxMetrics> podMetrics() {
        return matchingPods(PodSandboxStatsFilter.getDefaultInstance()).stream().map(CriMetrics::of).toList();
    }

    void containerEvents(GetEventsRequest request, StreamObserver<ContainerEventResponse> observer) {
        events.subscribe(observer);
    }

    @Override
    public void changed(Container c, LifecycleEvent event) {
        var b = event(c.id(), event);
        sandboxes.find(c.record().sandboxId()).ifPresent(s -> b.setPodSandboxStatus(PodSandboxRpcs.status(s))
                .addAllContainersStatuses(containerRpcs.containersOf(s.id())));
        events.publish(b.build());
    }

    /**
     * A pod's own steps, as containerd reports them: the sandbox ID as the container ID, the pod's status attached
     * (also on DELETED, built from the removed pod: kubelet ignores events without it).
     */
    void sandboxChanged(dev.bollard.daemon.sandbox.Sandbox s, LifecycleEvent event) {
        events.publish(event(s.id(), event).setPodSandboxStatus(PodSandboxRpcs.status(s))
                .addAllContainersStatuses(containerRpcs.containersOf(s.id())).build());
    }

    private static ContainerEventResponse.Builder event(String id, LifecycleEvent event) {
        var type = switch (event) {
            case CREATED -> ContainerEventType.CONTAINER_CREATED_EVENT;
            case STARTED -> ContainerEventType.CONTAINER_STARTED_EVENT;
            case STOPPED -> ContainerEventType.CONTAINER_STOPPED_EVENT;
            case DELETED -> ContainerEventType.CONTAINER_DELETED_EVENT;
        };
        var now = java.time.Instant.now();
        return ContainerEventResponse.newBuilder().setContainerId(id).setContainerEventType(type)
                .setCreatedAt(now.getEpochSecond() * 1_000_000_000L + now.getNano());
    }
}
