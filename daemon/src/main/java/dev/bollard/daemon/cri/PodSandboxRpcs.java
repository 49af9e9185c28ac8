package dev.bollard.daemon.cri;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.bollard.api.cri.v1.LinuxPodSandboxStatus;
import dev.bollard.api.cri.v1.ListPodSandboxRequest;
import dev.bollard.api.cri.v1.ListPodSandboxResponse;
import dev.bollard.api.cri.v1.Namespace;
import dev.bollard.api.cri.v1.PodIP;
import dev.bollard.api.cri.v1.PodSandbox;
import dev.bollard.api.cri.v1.PodSandboxFilter;
import dev.bollard.api.cri.v1.PodSandboxNetworkStatus;
import dev.bollard.api.cri.v1.PodSandboxState;
import dev.bollard.api.cri.v1.PodSandboxStatus;
import dev.bollard.api.cri.v1.PodSandboxStatusRequest;
import dev.bollard.api.cri.v1.PodSandboxStatusResponse;
import dev.bollard.api.cri.v1.RemovePodSandboxRequest;
import dev.bollard.api.cri.v1.RemovePodSandboxResponse;
import dev.bollard.api.cri.v1.RunPodSandboxRequest;
import dev.bollard.api.cri.v1.RunPodSandboxResponse;
import dev.bollard.api.cri.v1.StopPodSandboxRequest;
import dev.bollard.api.cri.v1.StopPodSandboxResponse;
import dev.bollard.api.cri.v1.StreamPodSandboxesRequest;
import dev.bollard.api.cri.v1.StreamPodSandboxesResponse;
import dev.bollard.api.cri.v1.UpdatePodSandboxResourcesRequest;
import dev.bollard.api.cri.v1.UpdatePodSandboxResourcesResponse;
import dev.bollard.daemon.sandbox.Sandbox;
import dev.bollard.daemon.lifecycle.Layout;
import dev.bollard.daemon.lifecycle.Lifecycle;
import dev.bollard.daemon.lifecycle.RemovePodSandbox;
import dev.bollard.daemon.lifecycle.RunPodSandbox;
import dev.bollard.daemon.lifecycle.StopPodSandbox;
import dev.bollard.daemon.lifecycle.UpdatePodSandboxResources;
import dev.bollard.daemon.sandbox.SandboxStore;
import dev.bollard.daemon.sandbox.SandboxState;
import io.grpc.stub.StreamObserver;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** RunPodSandbox, StopPodSandbox, RemovePodSandbox, PodSandboxStatus, ListPodSandbox, StreamPodSandboxes. */
public final class PodSandboxRpcs {

    /** Pods per message of StreamPodSandboxes: far below gRPC's 4 MiB message limit for any realistic pod. */
    static final int STREAM_BATCH = 100;

    private final SandboxStore sandboxes;
    private final ContainerRpcs containers;
    private final Layout layout;
    private final RunPodSandbox runPod;
    private final StopPodSandbox stopPod;
    private final RemovePodSandbox removePod;
    private final UpdatePodSandboxResources updateResources;

    public PodSandboxRpcs(Lifecycle lifecycle, ContainerRpcs containers) {
        this.sandboxes = lifecycle.sandboxes();
        this.containers = containers;
        this.layout = lifecycle.layout();
        this.runPod = lifecycle.runPod();
        this.stopPod = lifecycle.stopPod();
        this.removePod = lifecycle.removePod();
        this.updateResources = lifecycle.updatePodResources();
    }

    RunPodSandboxResponse run(RunPodSandboxRequest request) throws IOException, InterruptedException {
        if (!request.hasConfig()) {
            throw new IllegalArgumentException("config is required");
        }
        MetadataLimits.check(request.getConfig());
        var sandbox = runPod.run(request.getConfig(), request.getRuntimeHandler());
        return RunPodSandboxResponse.newBuilder().setPodSandboxId(sandbox.id()).build();
    }

    StopPodSandboxResponse stop(StopPodSandboxRequest request) throws IOException, InterruptedException {
        stopPod.stop(requireId(request.getPodSandboxId()));
        return StopPodSandboxResponse.getDefaultInstance();
    }

    RemovePodSandboxResponse remove(RemovePodSandboxRequest request) throws IOException, InterruptedException {
        removePod.remove(requireId(request.getPodSandboxId()));
        return RemovePodSandboxResponse.getDefaultInstance();
    }

    PodSandboxStatusResponse status(PodSandboxStatusRequest request) throws IOException {
        var sandbox = sandboxes.get(requireId(request.getPodSandboxId()));
        var response = PodSandboxStatusResponse.newBuilder().setStatus(status(sandbox))
                .setTimestamp(System.currentTimeMillis() * 1_000_000L);
        for (var c : containers.containersOf(sandbox.id())) {
            response.addContainersStatuses(c);
        }
        if (request.getVerbose()) {
            response.putInfo("info", info(sandbox).toString());
        }
        return response.build();
    }

    /** The last ListPodSandbox answer (see {@link LastAnswer}). */
    private final LastAnswer<PodSandboxFilter, ListPodSandboxResponse> lastList = new LastAnswer<>();

    /** The pods the filter matches; the last answer again while no pod or record changed since. */
    public ListPodSandboxResponse list(ListPodSandboxRequest request) {
        long version = sandboxes.version(); // read before anything the answer is built from
        return lastList.answer(request.getFilter(), version, 0,
                () -> ListPodSandboxResponse.newBuilder().addAllItems(matching(request.getFilter())).build());
    }

    void stream(StreamPodSandboxesRequest request, StreamObserver<StreamPodSandboxesResponse> observer) {
        var all = matching(request.getFilter());
        for (int i = 0; i < all.size(); i += STREAM_BATCH) {
            observer.onNext(StreamPodSandboxesResponse.newBuilder()
                    .addAllPodSandboxes(all.subList(i, Math.min(all.size(), i + STREAM_BATCH))).build());
        }
    }

    private List<PodSandbox> matching(PodSandboxFilter filter) {
        return sandboxes.list().stream()
                .filter(s -> CriFilters.idMatches(filter.getId(), s.id()))
                .filter(s -> !filter.hasState() || state(s) == filter.getState().getState())
                .filter(s -> CriFilters.labelsMatch(filter.getLabelSelectorMap(), s.config().getLabelsMap()))
                .sorted((a, b) -> Long.compare(b.record().createdAt(), a.record().createdAt()))
                .map(PodSandboxRpcs::item)
                .toList();
    }

    /** A pod's List item and the record it was built from. */
    private record ItemMemo(dev.bollard.daemon.sandbox.SandboxRecord record, PodSandbox item) {
    }

    /** The pod's List item, built again only when its record changed (the config never does). */
    private static PodSandbox item(Sandbox s) {
        var r = s.record();
        if (s.criListMemo() instanceof ItemMemo m && m.record() == r) {
            return m.item();
        }
        var c = s.config();
        var item = PodSandbox.newBuilder().setId(s.id()).setMetadata(c.getMetadata()).setState(state(r))
                .setCreatedAt(r.createdAt()).putAllLabels(c.getLabelsMap())
                .putAllAnnotations(c.getAnnotationsMap()).setRuntimeHandler(r.runtimeHandler()).build();
        s.criListMemo(new ItemMemo(r, item));
        return item;
    }

    static PodSandboxState state(Sandbox s) {
        return state(s.record());
    }

    private static PodSandboxState state(dev.bollard.daemon.sandbox.SandboxRecord r) {
        return r.state() == SandboxState.READY ? PodSandboxState.SANDBOX_READY : PodSandboxState.SANDBOX_NOTREADY;
    }

    /** A pod's status message and the record it was built from. */
    private record StatusMemo(dev.bollard.daemon.sandbox.SandboxRecord record, PodSandboxStatus status) {
    }

    /**
     * The pod's status, built again only when its record changed (every state change replaces it; the config never
     * changes): kubelet asks for every pod's status on every relist.
     */
    public static PodSandboxStatus status(Sandbox s) {
        var r = s.record();
        if (s.criMemo() instanceof StatusMemo m && m.record() == r) {
            return m.status();
        }
        var status = build(s, r);
        s.criMemo(new StatusMemo(r, status));
        return status;
    }

    private static PodSandboxStatus build(Sandbox s, dev.bollard.daemon.sandbox.SandboxRecord r) {
        var c = s.config();
        var network = PodSandboxNetworkStatus.newBuilder();
        List<String> ips = r.ips();
        if (!ips.isEmpty()) {
            network.setIp(ips.getFirst());
            ips.stream().skip(1).forEach(ip -> network.addAdditionalIps(PodIP.newBuilder().setIp(ip)));
        }
        return PodSandboxStatus.newBuilder().setId(s.id()).setMetadata(c.getMetadata()).setState(state(r))
                .setCreatedAt(r.createdAt()).setNetwork(network)
                .setLinux(LinuxPodSandboxStatus.newBuilder().setNamespaces(Namespace.newBuilder()
                        .setOptions(c.getLinux().getSecurityContext().getNamespaceOptions())))
                .putAllLabels(c.getLabelsMap()).putAllAnnotations(c.getAnnotationsMap())
                .setRuntimeHandler(r.runtimeHandler()).build();
    }

    /** The verbose info crictl inspectp shows, shaped like containerd's. */
    private JsonObject info(Sandbox s) throws IOException {
        var r = s.record();
        var o = new JsonObject();
        o.addProperty("pid", r.pid());
        o.addProperty("processStatus", s.ready() ? "running" : "stopped");
        o.addProperty("netNamespacePath", r.netns());
        o.addProperty("netNamespaceClosed", r.netns().isEmpty() || !Files.exists(Path.of(r.netns())));
        o.addProperty("image", r.image());
        o.addProperty("runtimeHandler", r.runtimeHandler());
        o.addProperty("runtimeType", "io.containerd.runc.v2");
        o.addProperty("cgroupParent", r.cgroupParent());
        var applied = s.resources();
        if (applied != null) {
            var res = new JsonObject();
            res.addProperty("cpuShares", applied.cpuShares());
            res.addProperty("cpuQuota", applied.cpuQuota());
            res.addProperty("cpuPeriod", applied.cpuPeriod());
            res.addProperty("memoryLimitInBytes", applied.memoryLimit());
            res.addProperty("cpusetCpus", applied.cpusetCpus());
            res.addProperty("cpusetMems", applied.cpusetMems());
            o.add("podResources", res);
        }
        var ips = new JsonArray();
        r.ips().forEach(ips::add);
        o.add("ips", ips);
        o.add("config", r.config());
        Path spec = layout.podBundle(s.id()).resolve("config.json");
        if (Files.exists(spec)) {
            o.add("runtimeSpec", JsonParser.parseString(Files.readString(spec)));
        }
        return o;
    }

    UpdatePodSandboxResourcesResponse updateResources(UpdatePodSandboxResourcesRequest request) throws IOException {
        updateResources.update(requireId(request.getPodSandboxId()), request.getOverhead(), request.hasOverhead(),
                request.getResources(), request.hasResources());
        return UpdatePodSandboxResourcesResponse.getDefaultInstance();
    }

    static String requireId(String id) {
        if (id.isEmpty()) {
            throw new IllegalArgumentException("pod_sandbox_id is required");
        }
        return id;
    }
}
