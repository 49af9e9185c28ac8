package dev.bollard.daemon.lifecycle;

import com.google.gson.JsonObject;
import dev.bollard.api.cri.v1.ContainerConfig;
import dev.bollard.api.cri.v1.NamespaceMode;
import dev.bollard.daemon.container.CheckpointArchive;
import dev.bollard.daemon.container.Container;
import dev.bollard.daemon.container.ContainerRecord;
import dev.bollard.daemon.container.ContainerState;
import dev.bollard.daemon.container.ContainerStore;
import dev.bollard.daemon.container.IdMappedMounts;
import dev.bollard.daemon.container.ImageRefs;
import dev.bollard.daemon.container.ImageVolumes;
import dev.bollard.daemon.container.Rootfs;
import dev.bollard.daemon.errors.AlreadyExistsException;
import dev.bollard.daemon.errors.FailedPreconditionException;
import dev.bollard.daemon.errors.NotFoundException;
import dev.bollard.daemon.image.ImageConfigs;
import dev.bollard.daemon.image.ImageManager;
import dev.bollard.daemon.image.ImageRecord;
import dev.bollard.daemon.log.Log;
import dev.bollard.daemon.oci.PodContext;
import dev.bollard.daemon.oci.RequestBounds;
import dev.bollard.daemon.store.Modes;
import dev.bollard.daemon.oci.SpecBuilder;
import dev.bollard.daemon.oci.SpecInputs;
import dev.bollard.daemon.oci.SpecInputsResolver;
import dev.bollard.daemon.sandbox.LifecycleEvent;
import dev.bollard.daemon.sandbox.PodFiles;
import dev.bollard.daemon.sandbox.Sandbox;
import dev.bollard.daemon.sandbox.SandboxStore;
import dev.bollard.daemon.store.AtomicFiles;
import dev.bollard.daemon.store.CrashPoints;
import dev.bollard.daemon.store.IdIndex;
import dev.bollard.daemon.store.ProtoJson;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.List;
import java.util.Optional;

/**
 * CreateContainer: the bundle (OCI spec, writable layer, image volumes; with a checkpoint archive as the image, the
 * CRIU images to restore from) and the record. A failure leaves nothing: name released, mounts undone, directories
 * and record removed.
 */
public final class CreateContainer {

    private static final Log LOG = Log.get("container");

    private final Layout layout;
    private final Handlers handlers;
    private final ContainerStore containers;
    private final SandboxStore sandboxes;
    private final ImageManager images;
    private final SpecBuilder specs;
    private final String sandboxImageReference;
    private final Clock clock;

    public CreateContainer(Layout layout, Handlers handlers, ContainerStore containers, SandboxStore sandboxes,
                           ImageManager images, SpecBuilder specs, String sandboxImageReference, Clock clock) {
        this.layout = layout;
        this.handlers = handlers;
        this.containers = containers;
        this.sandboxes = sandboxes;
        this.images = images;
        this.specs = specs;
        this.sandboxImageReference = sandboxImageReference;
        this.clock = clock;
    }

    public Container create(String podId, ContainerConfig config) throws IOException {
        if (podId.isEmpty()) {
            throw new IllegalArgumentException("pod_sandbox_id is required");
        }
        if (!config.hasMetadata() || config.getMetadata().getName().isEmpty()) {
            throw new IllegalArgumentException("config.metadata.name is required");
        }
        if (config.getImage().getImage().isEmpty()) {
            throw new IllegalArgumentException("config.image.image is required (container "
                    + config.getMetadata().getName() + ")");
        }
        Sandbox sandbox = sandboxes.get(podId);
        if (!sandbox.ready()) {
            throw new FailedPreconditionException("pod sandbox " + sandbox.id()
                    + " is not ready; a container can only be created in a ready pod");
        }
        // CRI-O style restore: the image is a checkpoint archive, the container the checkpointed one run again
        Path restoreFrom = CheckpointArchive.isArchivePath(config.getImage().getImage())
                ? Path.of(config.getImage().getImage()) : null;
        CheckpointArchive.Metadata checkpoint = null;
        if (restoreFrom != null) {
            checkpoint = CheckpointArchive.readMetadata(restoreFrom);
            CheckpointContainer.requireCriu(handlers, sandbox, "restore a container from checkpoint archive " + restoreFrom);
            config = CheckpointArchive.restoredConfig(config, checkpoint);
        }
        RequestBounds.checkContainer(config);
        String imageName = checkpoint == null ? config.getImage().getImage() : checkpoint.imageId();
        String notFound = checkpoint == null ? "image \"" + imageName + "\" not found; pull it first"
                : "image \"" + checkpoint.imageName() + "\" (" + imageName + "), which checkpoint archive " + restoreFrom
                + " was taken from, not found; pull it first";
        ImageRecord image = images.resolve(imageName).orElseThrow(() -> new NotFoundException(notFound));
        var pm = sandbox.config().getMetadata();
        String name = String.join("_", config.getMetadata().getName(), pm.getName(), pm.getNamespace(), pm.getUid(),
                Integer.toString(config.getMetadata().getAttempt()));
        String id = IdIndex.newId();
        var holder = containers.reserveName(name, id);
        if (holder.isPresent()) {
            throw new AlreadyExistsException("container name \"" + name + "\" is reserved for container "
                    + holder.get());
        }
        Path bundle = layout.containerBundle(id);
        Path dir = layout.containerDir(id);
        try {
            var parsed = ImageConfigs.parse(images.config(image));
            var rootfs = Rootfs.of(images.snapshots(), image, dir.resolve("rootfs"));
            rootfs.prepare();
            Files.createDirectories(Modes.traversableDirectory(bundle).resolve("rootfs"));
            if (restoreFrom != null) {
                CheckpointArchive.extract(restoreFrom, bundle.resolve(CheckpointArchive.RESTORE_IMAGES), rootfs.upper());
            }
            var pod = context(sandbox);
            int targetPid = targetPid(config, sandbox);
            checkRecursiveReadOnly(config, sandbox);
            // image volumes are mounted in the bundle now, so the spec binds them like host paths
            var volumes = ImageVolumes.mount(config, images, bundle);
            var handler = new SpecInputs.Handler(handlers.privilegedWithoutHostDevices(sandbox),
                    handlers.standaloneContainers(sandbox));
            JsonObject spec = specs.containerSpec(pod, id, volumes.config(), parsed,
                    SpecInputsResolver.container(pod, volumes.config(), rootfs.files(), targetPid, handler));
            dev.bollard.daemon.cdi.CdiDevices.inject(spec, config); // CDI devices by name: device nodes, mounts, env, hooks
            // NRI plugins adjust the container (each waited for at most its request timeout)
            spec = dev.bollard.daemon.nri.NriHooks.current().createContainer(sandbox, id, config.getMetadata().getName(), config.getLabelsMap(), spec);
            var userns = SpecBuilder.podUserNamespace(sandbox.config());
            if (userns.isPresent()) {
                // the infra process lives in the pod's user namespace: its ns file is what the idmapped mounts take
                Path usernsFile = Path.of("/proc/" + sandbox.record().pid() + "/ns/user");
                rootfs = IdMappedMounts.rootfs(rootfs, bundle, usernsFile, userns.get());
                IdMappedMounts.volumes(spec, volumes.config(), bundle, usernsFile);
            }
            // A new file in the new bundle: nothing reads it before the record exists, which is the commit point;
            // the record's write makes it durable first, in the same journal commit as the record's own data.
            Path specFile = bundle.resolve("config.json");
            AtomicFiles.writeNew(specFile, spec.toString().getBytes(StandardCharsets.UTF_8));
            // A crash before the record leaves directories no record owns: the start-up scan removes them.
            CrashPoints.hit("CreateContainer.afterBundle");
            String logPath = "";
            String logDir = sandbox.config().getLogDirectory();
            if (!logDir.isEmpty() && !config.getLogPath().isEmpty()) {
                logPath = Path.of(logDir).resolve(config.getLogPath()).toString();
            }
            String stopSignal = SpecBuilder.stopSignal(parsed);
            var record = ContainerRecord.builder().id(id).sandboxId(sandbox.id()).name(name)
                    .config(ProtoJson.toJson(config)).image(config.getImage().getImage())
                    .imageRef(ImageRefs.imageRef(image, ImageRefs.requestedImage(config))).imageId(image.id())
                    .state(ContainerState.CREATED).createdAt(Tasks.nanos(clock)).logPath(logPath)
                    .lowerDirs(rootfs.lowers().stream().map(Path::toString).toList()).stopSignal(stopSignal)
                    .volumeLowerDirs(volumes.mounts().stream().flatMap(v -> v.lowers().stream()).map(Path::toString)
                            .toList())
                    .build();
            var c = new Container(record, config, spec, rootfs, stopSignal);
            insertInPod(sandbox, c, specFile);
            CrashPoints.hit("CreateContainer.afterRecord");
            LOG.info("container created", "id", id, "pod", sandbox.id(), "name", config.getMetadata().getName(),
                    "image", image.id());
            containers.tell(c, LifecycleEvent.CREATED);
            dev.bollard.daemon.nri.NriHooks.current().containerEvent(dev.bollard.api.nri.v1alpha1.Event.POST_CREATE_CONTAINER, sandbox, c);
            return c;
        } catch (IOException | RuntimeException e) {
            containers.releaseName(name, id);
            try {
                Tasks.unmountLeftovers(bundle); // image volumes, and the idmapped mounts of a pod with a user namespace
            } catch (IOException ue) {
                LOG.warn("cannot unmount a failed container's mounts", "id", id, "error", ue.getMessage());
            }
            Tasks.cleanupQuietly(bundle, dir);
            containers.deleteRecord(id);
            throw e;
        }
    }

    /**
     * Makes the container visible under the pod's lock, which StopPodSandbox and RemovePodSandbox hold throughout:
     * a pod removed or stopped while the bundle was being made (a slow read) takes no container. Otherwise the
     * removal has already listed the pod's containers and this one would outlive its pod.
     */
    private void insertInPod(Sandbox sandbox, Container c, Path specFile) throws IOException {
        sandbox.lock().lock();
        try {
            if (sandbox.removed()) {
                throw new NotFoundException("pod sandbox " + sandbox.id() + " was removed while container "
                        + c.config().getMetadata().getName() + " was being created");
            }
            if (!sandbox.ready()) {
                throw new FailedPreconditionException("pod sandbox " + sandbox.id() + " was stopped while container "
                        + c.config().getMetadata().getName() + " was being created; a container can only be created "
                        + "in a ready pod");
            }
            containers.insert(c, List.of(specFile));
        } finally {
            sandbox.lock().unlock();
        }
    }

    /** What a container of this pod joins: its namespaces, files, /dev/shm and cgroup parent. */
    private PodContext context(Sandbox sandbox) {
        var r = sandbox.record();
        var files = PodFiles.in(layout.podDir(r.id()));
        boolean hostIpc = sandbox.config().getLinux().getSecurityContext().getNamespaceOptions().getIpc()
                == NamespaceMode.NODE;
        return new PodContext(r.id(), sandbox.config(),
                r.netns().isEmpty() ? Optional.empty() : Optional.of(Path.of(r.netns())), r.pid(), files.hostname(),
                files.hosts(), files.resolvConf(),
                hostIpc ? Optional.empty() : Optional.of(layout.podBundle(r.id()).resolve("shm")), r.cgroupParent(),
                r.runtimeHandler(), sandboxImageReference);
    }

    /** A recursive read-only mount on a handler that cannot make one would be read-only on top only: refused. */
    private void checkRecursiveReadOnly(ContainerConfig config, Sandbox sandbox) {
        for (int i = 0; i < config.getMountsCount(); i++) {
            var m = config.getMounts(i);
            if (m.getRecursiveReadOnly() && !handlers.features(sandbox).recursiveReadOnlyMounts()) {
                throw new IllegalArgumentException("mounts[" + i + "] (" + m.getContainerPath() + "): recursive_read_only "
                        + "is not supported by runtime handler \"" + sandbox.record().runtimeHandler() + "\"");
            }
        }
    }

    private int targetPid(ContainerConfig config, Sandbox sandbox) {
        var ns = config.getLinux().getSecurityContext().getNamespaceOptions();
        if (ns.getPid() != NamespaceMode.TARGET) {
            return 0;
        }
        var target = containers.find(ns.getTargetId()).orElseThrow(() -> new NotFoundException(
                "target container \"" + ns.getTargetId() + "\" of the PID namespace not found"));
        if (!target.record().sandboxId().equals(sandbox.id()) || target.state() != ContainerState.RUNNING) {
            throw new IllegalArgumentException("target container " + ns.getTargetId()
                    + " must be a running container of the same pod");
        }
        return target.record().pid();
    }
}
