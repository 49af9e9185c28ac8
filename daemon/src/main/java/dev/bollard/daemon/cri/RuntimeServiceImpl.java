package dev.bollard.daemon.cri;

import dev.bollard.api.cri.v1.*;
import io.grpc.stub.StreamObserver;

/**
 * runtime.v1.RuntimeService: a router only. Each RPC family lives in its own class and this one forwards to it.
 * RPCs not overridden here answer UNIMPLEMENTED with their full method name (gRPC's default), until their issue lands.
 */
public final class RuntimeServiceImpl extends RuntimeServiceGrpc.RuntimeServiceImplBase {

    private final RuntimeInfoRpcs info;
    private final PodSandboxRpcs pods;
    private final ContainerRpcs containers;
    private final StatsRpcs stats;
    private final StreamingRpcs streaming;

    public RuntimeServiceImpl(RuntimeInfoRpcs info, PodSandboxRpcs pods, ContainerRpcs containers, StatsRpcs stats,
                              StreamingRpcs streaming) {
        this.info = info;
        this.pods = pods;
        this.containers = containers;
        this.stats = stats;
        this.streaming = streaming;
    }

    /**
     * The service before the pods, containers, stats and streaming are wired: for its method set and its Version and
     * Status handlers (the daemon serves these first, see server.LateServices); any other method must not be called.
     */
    public static io.grpc.BindableService versionAndStatusOnly(RuntimeInfoRpcs info) {
        return withListBytesReused(new RuntimeServiceImpl(info, null, null, null, null));
    }

    /**
     * ListContainers and ListPodSandbox answer the same message again while nothing changed ({@link LastAnswer}):
     * their responses go through a {@link LastBytesMarshaller}, which then sends the bytes it serialized last time.
     */
    public static io.grpc.BindableService withListBytesReused(RuntimeServiceImpl service) {
        return () -> LastBytesMarshaller.wrap(service.bindService(), java.util.Set.of(
                RuntimeServiceGrpc.getListContainersMethod().getFullMethodName(),
                RuntimeServiceGrpc.getListPodSandboxMethod().getFullMethodName()));
    }

    @Override
    public void version(VersionRequest request, StreamObserver<VersionResponse> observer) {
        Calls.unary(observer, () -> info.version(request));
    }

    @Override
    public void status(StatusRequest request, StreamObserver<StatusResponse> observer) {
        Calls.unary(observer, () -> info.status(request));
    }

    @Override
    public void runtimeConfig(RuntimeConfigRequest request, StreamObserver<RuntimeConfigResponse> observer) {
        Calls.unary(observer, () -> info.runtimeConfig(request));
    }

    @Override
    public void updateRuntimeConfig(UpdateRuntimeConfigRequest request, StreamObserver<UpdateRuntimeConfigResponse> observer) {
        Calls.unary(observer, () -> info.updateRuntimeConfig(request));
    }
    @Override
    public void runPodSandbox(RunPodSandboxRequest request, StreamObserver<RunPodSandboxResponse> observer) {
        Calls.unary(observer, () -> pods.run(request));
    }

    @Override
    public void stopPodSandbox(StopPodSandboxRequest request, StreamObserver<StopPodSandboxResponse> observer) {
        Calls.unary(observer, () -> pods.stop(request));
    }

    @Override
    public void removePodSandbox(RemovePodSandboxRequest request, StreamObserver<RemovePodSandboxResponse> observer) {
        Calls.unary(observer, () -> pods.remove(request));
    }

    @Override
    public void podSandboxStatus(PodSandboxStatusRequest request, StreamObserver<PodSandboxStatusResponse> observer) {
        if (request.getVerbose()) {
            // the verbose info reads the pod's spec from disk: not on the event loop, where status calls run once
            // recovery is done (CriServer.onEventLoop)
            Thread.ofVirtual().name("pod-status-verbose").start(() -> Calls.unary(observer, () -> pods.status(request)));
            return;
        }
        Calls.unary(observer, () -> pods.status(request));
    }

    @Override
    public void updatePodSandboxResources(UpdatePodSandboxResourcesRequest request,
                                          StreamObserver<UpdatePodSandboxResourcesResponse> observer) {
        Calls.unary(observer, () -> pods.updateResources(request));
    }

    @Override
    public void listPodSandbox(ListPodSandboxRequest request, StreamObserver<ListPodSandboxResponse> observer) {
        Calls.unary(observer, () -> pods.list(request));
    }

    @Override
    public void streamPodSandboxes(StreamPodSandboxesRequest request, StreamObserver<StreamPodSandboxesResponse> observer) {
        Calls.stream(observer, () -> pods.stream(request, observer));
    }

    @Override
    public void createContainer(CreateContainerRequest request, StreamObserver<CreateContainerResponse> observer) {
        Calls.unary(observer, () -> containers.create(request));
    }

    @Override
    public void startContainer(StartContainerRequest request, StreamObserver<StartContainerResponse> observer) {
        Calls.unary(observer, () -> containers.start(request));
    }

    @Override
    public void stopContainer(StopContainerRequest request, StreamObserver<StopContainerResponse> observer) {
        Calls.unary(observer, () -> containers.stop(request));
    }

    @Override
    public void removeContainer(RemoveContainerRequest request, StreamObserver<RemoveContainerResponse> observer) {
        Calls.unary(observer, () -> containers.remove(request));
    }

    @Override
    public void listContainers(ListContainersRequest request, StreamObserver<ListContainersResponse> observer) {
        Calls.unary(observer, () -> containers.list(request));
    }

    @Override
    public void streamContainers(StreamContainersRequest request, StreamObserver<StreamContainersResponse> observer) {
        Calls.stream(observer, () -> containers.stream(request, observer));
    }

    @Override
    public void containerStatus(ContainerStatusRequest request, StreamObserver<ContainerStatusResponse> observer) {
        Calls.unary(observer, () -> containers.status(request));
    }

    @Override
    public void updateContainerResources(UpdateContainerResourcesRequest request,
                                         StreamObserver<UpdateContainerResourcesResponse> observer) {
        Calls.unary(observer, () -> containers.update(request));
    }

    @Override
    public void reopenContainerLog(ReopenContainerLogRequest request, StreamObserver<ReopenContainerLogResponse> observer) {
        Calls.unary(observer, () -> containers.reopenLog(request));
    }

    @Override
    public void checkpointContainer(CheckpointContainerRequest request,
                                    StreamObserver<CheckpointContainerResponse> observer) {
        Calls.unary(observer, () -> containers.checkpoint(request));
    }

    @Override
    public void execSync(ExecSyncRequest request, StreamObserver<ExecSyncResponse> observer) {
        Calls.unary(observer, () -> containers.execSync(request));
    }

    @Override
    public void exec(ExecRequest request, StreamObserver<ExecResponse> observer) {
        Calls.unary(observer, () -> streaming.exec(request));
    }

    @Override
    public void attach(AttachRequest request, StreamObserver<AttachResponse> observer) {
        Calls.unary(observer, () -> streaming.attach(request));
    }

    @Override
    public void portForward(PortForwardRequest request, StreamObserver<PortForwardResponse> observer) {
        Calls.unary(observer, () -> streaming.portForward(request));
    }

    @Override
    public void containerStats(ContainerStatsRequest request, StreamObserver<ContainerStatsResponse> observer) {
        Calls.unary(observer, () -> stats.containerStats(request));
    }

    @Override
    public void listContainerStats(ListContainerStatsRequest request, StreamObserver<ListContainerStatsResponse> observer) {
        Calls.unary(observer, () -> stats.listContainerStats(request));
    }

    @Override
    public void streamContainerStats(StreamContainerStatsRequest request,
                                     StreamObserver<StreamContainerStatsResponse> observer) {
        Calls.stream(observer, () -> stats.streamContainerStats(request, observer));
    }

    @Override
    public void podSandboxStats(PodSandboxStatsRequest request, StreamObserver<PodSandboxStatsResponse> observer) {
        Calls.unary(observer, () -> stats.podSandboxStats(request));
    }

    @Override
    public void listPodSandboxStats(ListPodSandboxStatsRequest request, StreamObserver<ListPodSandboxStatsResponse> observer) {
        Calls.unary(observer, () -> stats.listPodSandboxStats(request));
    }

    @Override
    public void streamPodSandboxStats(StreamPodSandboxStatsRequest request,
                                      StreamObserver<StreamPodSandboxStatsResponse> observer) {
        Calls.stream(observer, () -> stats.streamPodSandboxStats(request, observer));
    }

    @Override
    public void listMetricDescriptors(ListMetricDescriptorsRequest request,
                                      StreamObserver<ListMetricDescriptorsResponse> observer) {
        Calls.unary(observer, () -> stats.listMetricDescriptors(request));
    }

    @Override
    public void listPodSandboxMetrics(ListPodSandboxMetricsRequest request,
                                      StreamObserver<ListPodSandboxMetricsResponse> observer) {
        Calls.unary(observer, () -> stats.listPodSandboxMetrics(request));
    }

    @Override
    public void streamPodSandboxMetrics(StreamPodSandboxMetricsRequest request,
                                        StreamObserver<StreamPodSandboxMetricsResponse> observer) {
        Calls.stream(observer, () -> stats.streamPodSandboxMetrics(request, observer));
    }

    /** A long-lived stream: it ends when the client goes away, or is dropped for not keeping up. */
    @Override
    public void getContainerEvents(GetEventsRequest request, StreamObserver<ContainerEventResponse> observer) {
        stats.containerEvents(request, observer);
    }
}
