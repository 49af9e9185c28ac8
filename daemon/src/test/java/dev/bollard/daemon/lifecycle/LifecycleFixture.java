package dev.bollard.daemon.lifecycle;

import com.google.gson.JsonObject;
import dev.bollard.api.containerd.types.Mount;
import dev.bollard.api.cri.v1.ContainerConfig;
import dev.bollard.api.cri.v1.ContainerMetadata;
import dev.bollard.api.cri.v1.ImageSpec;
import dev.bollard.api.cri.v1.PodSandboxConfig;
import dev.bollard.api.cri.v1.PodSandboxMetadata;
import dev.bollard.daemon.config.ConfigLoader;
import dev.bollard.daemon.container.Container;
import dev.bollard.daemon.container.ContainerRecord;
import dev.bollard.daemon.container.ContainerState;
import dev.bollard.daemon.container.Rootfs;
import dev.bollard.daemon.image.ImageManager;
import dev.bollard.daemon.linux.CgroupLayout;
import dev.bollard.daemon.oci.NodeProfile;
import dev.bollard.daemon.oci.SpecBuilder;
import dev.bollard.daemon.registry.HostsConfig;
import dev.bollard.daemon.registry.RegistryClient;
import dev.bollard.daemon.runtime.CgroupDriver;
import dev.bollard.daemon.runtime.RuntimeHandlers;
import dev.bollard.daemon.sandbox.Sandbox;
import dev.bollard.daemon.store.IdIndex;
import dev.bollard.daemon.store.ProtoJson;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.List;

/**
 * The lifecycle wired as the daemon wires it, on a temporary directory, with a fake node ({@link FakePodHost}), fake
 * shims ({@link FakeTaskServices}) and an infra image that needs no registry: no root, no processes.
 */
final class LifecycleFixture {

    final Path root;
    final Path state;
    final FakePodHost host = new FakePodHost();
    final FakeTaskServices tasks = new FakeTaskServices();
    final Lifecycle.Stores stores;
    final Lifecycle lifecycle;
    final ImageManager images;
    volatile boolean failInfraImage;
    volatile boolean failInfraRootfs;

    LifecycleFixture(Path dir) throws Exception {
        this(dir, null);
    }

    /** @param previous a fixture whose directories this one reopens, as a restarted daemon would */
    LifecycleFixture(Path dir, LifecycleFixture previous) throws Exception {
        this(dir, previous, "");
    }

    /** @param handlerToml more keys of the fake handler's table, e.g. {@code pods_per_shim = 2} */
    LifecycleFixture(Path dir, LifecycleFixture previous, String handlerToml) throws Exception {
        this.root = dir.resolve("root");
        this.state = dir.resolve("state");
        this.stores = Lifecycle.Stores.open(root, state, Clock.systemUTC());
        var config = ConfigLoader.parse("""
                [runtime]
                default_runtime = "fake"
                [runtimes.fake]
                shim = "/bin/true"
                binary_name = "/bin/true"
                """ + handlerToml, "test");
        var layout = new CgroupLayout(CgroupLayout.Mode.UNIFIED, List.of(), "/sys/fs/cgroup");
        var handlers = new RuntimeHandlers(config, CgroupDriver.CGROUPFS, layout, state.resolve("runtimes"));
        this.images = previous != null ? previous.images : new ImageManager(root.resolve("image"),
                new HostsConfig(dir.resolve("certs.d")), RegistryClient.Options.defaults(), 1, Clock.systemUTC());
        this.lifecycle = Lifecycle.wire(stores, tasks, handlers, host, new SpecBuilder(NodeProfile.detect()), images,
                infraImage(), 1 << 20);
    }

    private InfraImage infraImage() {
        return new InfraImage() {
            @Override
            public String reference() {
                return "test.local/pause:1";
            }

            @Override
            public Resolved resolve() throws java.io.IOException {
                if (failInfraImage) {
                    throw new java.io.IOException("fake: the sandbox image cannot be pulled");
                }
                return new Resolved() {
                    @Override
                    public String imageId() {
                        return "sha256:" + "a".repeat(64);
                    }

                    @Override
                    public List<String> args() {
                        return List.of("/pause");
                    }

                    @Override
                    public List<Mount> prepareRootfs(Path dir) throws java.io.IOException {
                        if (failInfraRootfs) {
                            throw new java.io.IOException("fake: no rootfs");
                        }
                        Files.createDirectories(dir);
                        return List.of();
                    }
                };
            }
        };
    }

    static PodSandboxConfig pod(String name) {
        return PodSandboxConfig.newBuilder().setMetadata(PodSandboxMetadata.newBuilder().setName(name)
                .setNamespace("default").setUid("uid-" + name).setAttempt(0)).setHostname(name).build();
    }

    Sandbox runPod(String name) throws Exception {
        return lifecycle.runPod().run(pod(name), "");
    }

    /**
     * A created container of {@code pod}, as CreateContainer leaves one (record written, bundle made); made directly,
     * since CreateContainer itself needs an image on the node.
     */
    Container createdContainer(Sandbox pod, String name) throws Exception {
        return createdContainer(pod, name, "sha256:" + "c".repeat(64));
    }

    Container createdContainer(Sandbox pod, String name, String imageId) throws Exception {
        String id = IdIndex.newId();
        var config = ContainerConfig.newBuilder().setMetadata(ContainerMetadata.newBuilder().setName(name))
                .setImage(ImageSpec.newBuilder().setImage("busybox")).build();
        Path bundle = Files.createDirectories(lifecycle.layout().containerBundle(id));
        Path lower = Files.createDirectories(root.resolve("snapshots").resolve("sha256-" + "b".repeat(64)));
        var rootfs = new Rootfs(List.of(lower), lifecycle.layout().containerDir(id).resolve("rootfs"));
        Files.createDirectories(bundle.resolve("rootfs"));
        String reserved = name + "_" + pod.config().getMetadata().getName();
        var record = ContainerRecord.builder().id(id).sandboxId(pod.id()).name(reserved)
                .config(ProtoJson.toJson(config)).image("busybox").imageId(imageId)
                .state(ContainerState.CREATED).createdAt(1).lowerDirs(List.of(lower.toString())).stopSignal("SIGTERM")
                .build();
        lifecycle.containers().reserveName(reserved, id);
        var c = new Container(record, config, new JsonObject(), rootfs, "SIGTERM");
        lifecycle.containers().insert(c);
        Files.writeString(bundle.resolve("config.json"), "{}");
        return c;
    }

    FakeTaskService shimOf(Sandbox pod) {
        return tasks.byPod.get(pod.id());
    }

    /** Nothing of any pod left: records, bundles, pod directories. */
    boolean noPodFiles() throws Exception {
        try (var records = Files.list(lifecycle.layout().sandboxRecords());
             var bundles = Files.list(lifecycle.layout().podBundles());
             var dirs = Files.list(lifecycle.layout().podDirs())) {
            return records.findAny().isEmpty() && bundles.findAny().isEmpty() && dirs.findAny().isEmpty();
        }
    }

    /** Imports a busybox image (from the host's static busybox) as docker.io/library/busybox:latest; returns its ID. */
    String importBusybox(Path dir) throws Exception {
        var busybox = dev.bollard.daemon.testkit.TestImages.busybox();
        Path archive = dir.resolve("busybox.tar");
        try (var os = Files.newOutputStream(archive);
             var tar = new org.apache.commons.compress.archivers.tar.TarArchiveOutputStream(os)) {
            var entries = new java.util.LinkedHashMap<String, byte[]>();
            entries.put("oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}".getBytes());
            entries.put("index.json", ("{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\""
                    + busybox.manifest().mediaType() + "\",\"digest\":\"" + busybox.manifest().digest()
                    + "\",\"size\":" + busybox.manifest().size() + ",\"annotations\":{\"io.containerd.image.name\":"
                    + "\"docker.io/library/busybox:latest\"}}]}").getBytes());
            var blobs = new java.util.ArrayList<>(List.of(busybox.manifest(), busybox.config()));
            blobs.addAll(busybox.layers());
            for (var blob : blobs) {
                entries.put("blobs/sha256/" + blob.digest().hex(), blob.bytes());
            }
            for (var e : entries.entrySet()) {
                var te = new org.apache.commons.compress.archivers.tar.TarArchiveEntry(e.getKey());
                te.setSize(e.getValue().length);
                tar.putArchiveEntry(te);
                tar.write(e.getValue());
                tar.closeArchiveEntry();
            }
        }
        return images.importArchive(archive, "").getFirst().id();
    }
}
