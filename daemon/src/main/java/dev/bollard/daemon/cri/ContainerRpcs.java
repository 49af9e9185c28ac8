package dev.bollard.daemon.cri;

import com.google.gson.JsonObject;
import dev.bollard.api.cri.v1.LinuxContainerResources;
import dev.bollard.daemon.image.ImageRecord;
import com.google.protobuf.ByteString;
import dev.bollard.api.cri.v1.Container;
import dev.bollard.api.cri.v1.ContainerFilter;
import dev.bollard.api.cri.v1.ContainerResources;
import dev.bollard.api.cri.v1.ContainerState;
import dev.bollard.api.cri.v1.ContainerStatus;
import dev.bollard.api.cri.v1.ContainerStatusRequest;
import dev.bollard.api.cri.v1.ContainerStatusResponse;
import dev.bollard.api.cri.v1.ContainerUser;
import dev.bollard.api.cri.v1.CreateContainerRequest;
import dev.bollard.api.cri.v1.CreateContainerResponse;
import dev.bollard.api.cri.v1.ExecSyncRequest;
import dev.bollard.api.cri.v1.ExecSyncResponse;
import dev.bollard.api.cri.v1.ImageSpec;
import dev.bollard.api.cri.v1.LinuxContainerUser;
import dev.bollard.api.cri.v1.ListContainersRequest;
import dev.bollard.api.cri.v1.ListContainersResponse;
import dev.bollard.api.cri.v1.RemoveContainerRequest;
import dev.bollard.api.cri.v1.RemoveContainerResponse;
import dev.bollard.api.cri.v1.ReopenContainerLogRequest;
import dev.bollard.api.cri.v1.ReopenContainerLogResponse;
import dev.bollard.api.cri.v1.StartContainerRequest;
import dev.bollard.api.cri.v1.StartContainerResponse;
import dev.bollard.api.cri.v1.StopContainerRequest;
import dev.bollard.api.cri.v1.StopContainerResponse;
import dev.bollard.api.cri.v1.StreamContainersRequest;
import dev.bollard.api.cri.v1.StreamContainersResponse;
import dev.bollard.api.cri.v1.UpdateContainerResourcesRequest;
import dev.bollard.api.cri.v1.UpdateContainerResourcesResponse;
import dev.bollard.daemon.container.ContainerStore;
import dev.bollard.daemon.container.ImageRefs;
import dev.bollard.daemon.lifecycle.CheckpointContainer;
import dev.bollard.daemon.lifecycle.CreateContainer;
import dev.bollard.daemon.lifecycle.ExecContainer;
import dev.bollard.daemon.lifecycle.Lifecycle;
import dev.bollard.daemon.lifecycle.RemoveContainer;
import dev.bollard.daemon.lifecycle.ReopenContainerLog;
import dev.bollard.daemon.lifecycle.StartContainer;
import dev.bollard.daemon.lifecycle.StopContainer;
import dev.bollard.daemon.lifecycle.UpdateContainerResources;
import dev.bollard.daemon.image.ImageManager;
import io.grpc.stub.StreamObserver;

import java.io.IOException;
import java.util.List;

/**
 * CreateContainer, StartContainer, StopContainer, RemoveContainer, ListContainers, StreamContainers,
 * ContainerStatus, UpdateContainerResources, ReopenContainerLog, ExecSync.
 */
public final class ContainerRpcs {

    static final int STREAM_BATCH = 100;

    private final ContainerStore containers;
    private final ImageManager images;
    private final CreateContainer createContainer;
    private final StartContainer startContainer;
    private final StopContainer stopContainer;
    private final RemoveContainer removeContainer;
    private final UpdateContainerResources updateResources;
    private final ReopenContainerLog reopenLog;
    private final ExecContainer execContainer;
    private final CheckpointContainer checkpointContainer;

    public ContainerRpcs(Lifecycle lifecycle, ImageManager images) {
        this.containers = lifecycle.containers();
        this.images = images;
        this.createContainer = lifecycle.createContainer();
        this.startContainer = lifecycle.startContainer();
        this.stopContainer = lifecycle.stopContainer();
        this.removeContainer = lifecycle.removeContainer();
        this.updateResources = lifecycle.updateContainerResources();
        this.reopenLog = lifecycle.reopenContainerLog();
        this.execContainer = lifecycle.execContainer();
        this.checkpointContainer = lifecycle.checkpointContainer();
    }

    CreateContainerResponse create(CreateContainerRequest request) throws IOException {
        if (!request.hasConfig()) {
            throw new IllegalArgumentException("config is required");
        }
        MetadataLimits.check(request.getConfig());
        var c = createContainer.create(PodSandboxRpcs.requireId(request.getPodSandboxId()), request.getConfig());
        return CreateContainerResponse.newBuilder().setContainerId(c.id()).build();
    }

    dev.bollard.api.cri.v1.CheckpointContainerResponse checkpoint(dev.bollard.api.cri.v1.CheckpointContainerRequest request)
            throws IOException {
        checkpointContainer.checkpoint(requireId(request.getContainerId()), request.getLocation(), request.getTimeout());
        return dev.bollard.api.cri.v1.CheckpointContainerResponse.getDefaultInstance();
    }

    StartContainerResponse start(StartContainerRequest request) throws IOException {
        try {
            startContainer.start(requireId(request.getContainerId()));
        } catch (IOException e) {
            throw dev.bollard.daemon.runtime.RuntimeRefusals.classify(e, "starting container "
                    + request.getContainerId()).orElseThrow(() -> e);
        }
        return StartContainerResponse.getDefaultInstance();
    }

    StopContainerResponse stop(StopContainerRequest request) throws IOException, InterruptedException {
        if (request.getTimeout() < 0) {
            throw new IllegalArgumentException("timeout must not be negative (got " + request.getTimeout() + ")");
        }
        stopContainer.stop(requireId(request.getContainerId()), request.getTimeout());
        return StopContainerResponse.getDefaultInstance();
    }

    RemoveContainerResponse remove(RemoveContainerRequest request) throws IOException, InterruptedException {
        removeContainer.remove(requireId(request.getContainerId()));
        return RemoveContainerResponse.getDefaultInstance();
    }

    /** The last ListContainers answer (see {@link LastAnswer}). */
    private final LastAnswer<ContainerFilter, ListContainersResponse> lastList = new LastAnswer<>();

    /**
     * The containers the filter matches; the last answer again while no container, record or image changed since,
     * else built from each container's kept item ({@link #item}).
     */
    public ListContainersResponse list(ListContainersRequest request) {
        long version = containers.version(); // both read before anything the answer is built from
        long imagesVersion = images.version();
        return lastList.answer(request.getFilter(), version, imagesVersion,
                () -> ListContainersResponse.newBuilder().addAllContainers(matching(request.getFilter())).build());
    }

    void stream(StreamContainersRequest request, StreamObserver<StreamContainersResponse> observer) {
        var all = matching(request.getFilter());
        for (int i = 0; i < all.size(); i += STREAM_BATCH) {
            observer.onNext(StreamContainersResponse.newBuilder()
                    .addAllContainers(all.subList(i, Math.min(all.size(), i + STREAM_BATCH))).build());
        }
    }

    private List<Container> matching(ContainerFilter filter) {
        return containers.list().stream()
                .filter(c -> CriFilters.idMatches(filter.getId(), c.id()))
                .filter(c -> CriFilters.idMatches(filter.getPodSandboxId(), c.record().sandboxId()))
                .filter(c -> !filter.hasState() || state(c) == filter.getState().getState())
                .filter(c -> CriFilters.labelsMatch(filter.getLabelSelectorMap(), c.config().getLabelsMap()))
                .sorted((a, b) -> Long.compare(b.record().createdAt(), a.record().createdAt()))
                .map(this::item)
                .toList();
    }

    /** A container's List item and what it was built from (the record by identity, the image by value). */
    private record ItemMemo(dev.bollard.daemon.container.ContainerRecord record, java.util.Optional<ImageRecord> image,
                            Container item) {
    }

    /** The container's List item, built again only when its record or its image changed (the config never does). */
    private Container item(dev.bollard.daemon.container.Container c) {
        var r = c.record();
        var image = images.resolve(r.imageId());
        if (c.criListMemo() instanceof ItemMemo m && m.record() == r && m.image().equals(image)) {
            return m.item();
        }
        var item = build(c, r, image);
        c.criListMemo(new ItemMemo(r, image, item));
        return item;
    }

    private static Container build(dev.bollard.daemon.container.Container c,
                                   dev.bollard.daemon.container.ContainerRecord r,
                                   java.util.Optional<ImageRecord> image) {
        return Container.newBuilder().setId(c.id()).setPodSandboxId(r.sandboxId()).setMetadata(c.config().getMetadata())
                .setImage(imageSpec(c, image)).setImageRef(imageRef(c, image)).setImageId(r.imageId())
                .setState(state(r.state())).setCreatedAt(r.createdAt()).putAllLabels(c.config().getLabelsMap())
                .putAllAnnotations(c.config().getAnnotationsMap()).build();
    }

    ContainerStatusResponse status(ContainerStatusRequest request) {
        var c = containers.get(requireId(request.getContainerId()));
        var response = ContainerStatusResponse.newBuilder().setStatus(status(c));
        if (request.getVerbose()) {
            var info = new JsonObject();
            info.addProperty("sandboxID", c.record().sandboxId());
            info.addProperty("pid", c.record().pid());
            info.addProperty("image", c.record().imageId());
            info.add("config", c.record().config());
            info.add("runtimeSpec", c.spec());
            response.putInfo("info", info.toString());
        }
        return response.build();
    }

    /** The statuses of a pod's containers, for PodSandboxStatus. */
    List<ContainerStatus> containersOf(String podId) {
        return containers.ofPod(podId).stream().map(this::status).toList();
    }

    /** A container's status message and everything it was built from (compared by identity, the image by value). */
    private record StatusMemo(dev.bollard.daemon.container.ContainerRecord record, JsonObject spec,
                              LinuxContainerResources resources, java.util.Optional<ImageRecord> image,
                              ContainerStatus status) {
    }

    /**
     * The container's status, built again only when its record (every state change replaces it), its spec, its
     * resources or its image (a tag added or removed) changed since the last call: kubelet asks for every
     * container's status on every relist.
     */
    public ContainerStatus status(dev.bollard.daemon.container.Container c) {
        var r = c.record();
        var spec = c.spec();
        var resources = c.resources();
        var image = images.resolve(r.imageId());
        if (c.criMemo() instanceof StatusMemo m && m.record() == r && m.spec() == spec && m.resources() == resources
                && m.image().equals(image)) {
            return m.status();
        }
        var b = ContainerStatus.newBuilder().setId(c.id()).setMetadata(c.config().getMetadata()).setState(state(c))
                .setCreatedAt(r.createdAt()).setStartedAt(r.startedAt()).setFinishedAt(r.finishedAt())
                .setExitCode(r.exitCode()).setImage(imageSpec(c, image)).setImageRef(imageRef(c, image))
                .setImageId(r.imageId()).setReason(r.reason()).setMessage(r.message())
                .putAllLabels(c.config().getLabelsMap())
                .putAllAnnotations(c.config().getAnnotationsMap()).addAllMounts(c.config().getMountsList())
                .setLogPath(r.logPath())
                .setResources(ContainerResources.newBuilder().setLinux(resources));
        user(spec).ifPresent(b::setUser);
        var status = b.build();
        c.criMemo(new StatusMemo(r, spec, resources, image, status));
        return status;
    }

    /** The image as the CRI reports it: a tag of the image when it still has one, and what the user asked for. */
    private static ImageSpec imageSpec(dev.bollard.daemon.container.Container c, java.util.Optional<ImageRecord> image) {
        var r = c.record();
        String shown = image.flatMap(i -> i.repoTags().stream().findFirst()).orElse(r.image());
        return ImageSpec.newBuilder().setImage(shown).setUserSpecifiedImage(ImageRefs.requestedImage(c.config()))
                .putAllAnnotations(c.config().getImage().getAnnotationsMap()).build();
    }

    /**
     * image_ref as of now (the image may have gained a repo digest by a later pull); the one recorded at creation
     * once the image is gone.
     */
    private static String imageRef(dev.bollard.daemon.container.Container c, java.util.Optional<ImageRecord> image) {
        return image.map(c::imageRef).orElse(c.record().imageRef());
    }

    private static java.util.Optional<ContainerUser> user(JsonObject spec) {
        if (!spec.has("process") || !spec.getAsJsonObject("process").has("user")) {
            return java.util.Optional.empty();
        }
        var u = spec.getAsJsonObject("process").getAsJsonObject("user");
        var linux = LinuxContainerUser.newBuilder()
                .setUid(u.has("uid") ? u.get("uid").getAsLong() : 0)
                .setGid(u.has("gid") ? u.get("gid").getAsLong() : 0);
        if (u.has("additionalGids")) {
            u.getAsJsonArray("additionalGids").forEach(g -> linux.addSupplementalGroups(g.getAsLong()));
        }
        return java.util.Optional.of(ContainerUser.newBuilder().setLinux(linux).build());
    }

    static ContainerState state(dev.bollard.daemon.container.Container c) {
        return state(c.state());
    }

    private static ContainerState state(dev.bollard.daemon.container.ContainerState s) {
        return switch (s) {
            case CREATED -> ContainerState.CONTAINER_CREATED;
            case RUNNING -> ContainerState.CONTAINER_RUNNING;
            case EXITED -> ContainerState.CONTAINER_EXITED;
            case UNKNOWN -> ContainerState.CONTAINER_UNKNOWN;
        };
    }

    UpdateContainerResourcesResponse update(UpdateContainerResourcesRequest request) throws IOException {
        try {
            updateResources.update(requireId(request.getContainerId()), request.getLinux());
        } catch (IOException e) {
            throw dev.bollard.daemon.runtime.RuntimeRefusals.classify(e, "updating the resources of container "
                    + request.getContainerId()).orElseThrow(() -> e);
        }
        return UpdateContainerResourcesResponse.getDefaultInstance();
    }

    ReopenContainerLogResponse reopenLog(ReopenContainerLogRequest request) throws IOException {
        reopenLog.reopen(requireId(request.getContainerId()));
        return ReopenContainerLogResponse.getDefaultInstance();
    }

    ExecSyncResponse execSync(ExecSyncRequest request) throws IOException, InterruptedException {
        if (request.getTimeout() < 0) {
            throw new IllegalArgumentException("timeout must not be negative (got " + request.getTimeout() + ")");
        }
        var result = execContainer.execSync(requireId(request.getContainerId()), request.getCmdList(), request.getTimeout());
        var fitted = dev.bollard.daemon.container.io.ExecOutputLimit.fit(result.stdout(), result.stderr());
        return ExecSyncResponse.newBuilder().setStdout(ByteString.copyFrom(fitted.stdout()))
                .setStderr(ByteString.copyFrom(fitted.stderr())).setExitCode(result.exitCode()).build();
    }

    static String requireId(String id) {
        if (id.isEmpty()) {
            throw new IllegalArgumentException("container_id is required");
        }
        return id;
    }
}
