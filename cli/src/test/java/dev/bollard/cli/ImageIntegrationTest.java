package dev.bollard.cli;

import dev.bollard.api.cri.v1.AuthConfig;
import dev.bollard.api.cri.v1.ImageFilter;
import dev.bollard.api.cri.v1.ImageFsInfoRequest;
import dev.bollard.api.cri.v1.ImageServiceGrpc;
import dev.bollard.api.cri.v1.ImageSpec;
import dev.bollard.api.cri.v1.ImageStatusRequest;
import dev.bollard.api.cri.v1.ListImagesRequest;
import dev.bollard.api.cri.v1.PullImageRequest;
import dev.bollard.api.cri.v1.RemoveImageRequest;
import dev.bollard.daemon.testkit.TestImages;
import dev.bollard.daemon.testkit.TestPush;
import dev.bollard.daemon.testkit.TestRegistry;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.unix.DomainSocketAddress;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The ImageService end to end: a real daemon process pulling from a real docker-registry through a certs.d
 * mirror for docker.io, called by a generated CRI client and by the CLI. Ordered: each step builds on the last.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
@LeakChecked
class ImageIntegrationTest {

    private Path dir;
    private TestRegistry registry;
    private DaemonProcess daemon;
    private EpollEventLoopGroup group;
    private ManagedChannel channel;
    private final TestImages.Image busybox = TestImages.busybox();
    private String id;

    @BeforeAll
    void start() throws Exception {
        dir = Files.createTempDirectory("bollard-img-");
        registry = TestRegistry.start(Files.createDirectories(dir.resolve("registry")));
        busybox.push(new TestPush(registry.apiRoot()), "library/busybox", "1.36");
        Path certsD = Files.createDirectories(dir.resolve("certs.d/docker.io"));
        Files.writeString(certsD.resolve("hosts.toml"), """
                server = "https://registry-1.docker.io"
                [host."http://%s"]
                  capabilities = ["pull", "resolve"]
                """.formatted(registry.host()));
        Files.writeString(dir.resolve("bollard.toml"), "[registry]\nconfig_path = \"" + dir.resolve("certs.d") + "\"\n");
        id = busybox.config().digest().toString();
        startDaemon();
    }

    private void startDaemon() throws Exception {
        daemon = DaemonProcess.start(dir);
        group = new EpollEventLoopGroup(1);
        channel = NettyChannelBuilder.forAddress(new DomainSocketAddress(daemon.socket.toString()))
                .channelType(EpollDomainSocketChannel.class).eventLoopGroup(group).usePlaintext().build();
    }

    private void stopDaemon() throws Exception {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        daemon.close();
    }

    @AfterAll
    void stop() throws Exception {
        stopDaemon();
        registry.close();
        TestFiles.deleteTree(dir);
    }

    private ImageServiceGrpc.ImageServiceBlockingStub images() {
        return ImageServiceGrpc.newBlockingStub(channel).withDeadlineAfter(60, TimeUnit.SECONDS);
    }

    /** The images but the builtin pause image, which the daemon imports at start. */
    private List<dev.bollard.api.cri.v1.Image> pulledImages() {
        return images().listImages(ListImagesRequest.getDefaultInstance()).getImagesList().stream()
                .filter(i -> !i.getRepoTagsList().contains("bollard.local/pause:builtin")).toList();
    }

    private String pauseId() {
        return images().imageStatus(ImageStatusRequest.newBuilder().setImage(spec("bollard.local/pause:builtin"))
                .build()).getImage().getId();
    }

    private static ImageSpec spec(String image) {
        return ImageSpec.newBuilder().setImage(image).build();
    }

    @Test
    @Order(1)
    void pullThroughTheMirrorReturnsTheImageId() {
        var r = images().pullImage(PullImageRequest.newBuilder().setImage(spec("busybox:1.36")).build());
        assertEquals(id, r.getImageRef(), "image_ref is the ID ListImages and ImageStatus report");
        var list = pulledImages();
        assertEquals(1, list.size());
        var image = list.getFirst();
        assertEquals(id, image.getId());
        assertEquals(List.of("docker.io/library/busybox:1.36"), image.getRepoTagsList());
        assertEquals(List.of("docker.io/library/busybox@" + busybox.manifest().digest()), image.getRepoDigestsList());
        assertFalse(image.hasUid(), "the config names no user");
    }

    @Test
    @Order(2)
    void statusByTagIdAndDigestAndAbsentImages() {
        for (String ref : List.of("busybox:1.36", "docker.io/library/busybox:1.36", id, id.substring(7),
                "docker.io/library/busybox@" + busybox.manifest().digest())) {
            var s = images().imageStatus(ImageStatusRequest.newBuilder().setImage(spec(ref)).build());
            assertEquals(id, s.getImage().getId(), ref);
        }
        var absent = images().imageStatus(ImageStatusRequest.newBuilder().setImage(spec("busybox:9")).build());
        assertFalse(absent.hasImage(), "an absent image is an empty response, not an error");
        var verbose = images().imageStatus(ImageStatusRequest.newBuilder().setImage(spec("busybox:1.36")).setVerbose(true).build());
        assertTrue(verbose.getInfoMap().get("info").contains("\"imageSpec\""), verbose.getInfoMap().toString());
        var filtered = images().listImages(ListImagesRequest.newBuilder()
                .setFilter(ImageFilter.newBuilder().setImage(spec("busybox:9"))).build());
        assertEquals(0, filtered.getImagesCount());
    }

    @Test
    @Order(3)
    void badPullsAreClearErrors() {
        var missing = assertThrows(StatusRuntimeException.class, () -> images().pullImage(
                PullImageRequest.newBuilder().setImage(spec(registry.host() + "/nothing:1")).build()));
        assertEquals(Status.Code.NOT_FOUND, missing.getStatus().getCode());
        assertTrue(missing.getStatus().getDescription().contains("nothing"), missing.getStatus().getDescription());
        var empty = assertThrows(StatusRuntimeException.class, () -> images().pullImage(PullImageRequest.getDefaultInstance()));
        assertEquals(Status.Code.INVALID_ARGUMENT, empty.getStatus().getCode());
        var bad = assertThrows(StatusRuntimeException.class, () -> images().pullImage(
                PullImageRequest.newBuilder().setImage(spec("busybox:1.36")).setAuth(AuthConfig.newBuilder().setAuth("%%%")).build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, bad.getStatus().getCode());
    }

    @Test
    @Order(4)
    void imagesSurviveADaemonRestart() throws Exception {
        stopDaemon();
        startDaemon();
        var list = pulledImages();
        assertEquals(List.of(id), list.stream().map(i -> i.getId()).toList());
    }

    @Test
    @Order(5)
    void cliPullImagesInspectAndRmi() throws Exception {
        String direct = registry.host() + "/library/busybox:1.36";
        var pull = DaemonProcess.run(dir, "-r", daemon.endpoint(), "pull", direct);
        assertEquals(0, pull.exit(), pull.err());
        assertTrue(pull.out().endsWith("Image is up to date for " + id + "\n"), pull.out());
        for (var layer : busybox.layers()) {
            assertTrue(pull.out().contains(layer.digest().hex().substring(0, 12) + ": already exists\n"),
                    "plain progress lines when not on a terminal: " + pull.out());
        }

        var table = DaemonProcess.run(dir, "-r", daemon.endpoint(), "images");
        assertEquals(0, table.exit(), table.err());
        var lines = table.out().lines().toList();
        assertTrue(lines.getFirst().matches("IMAGE\\s+TAG\\s+IMAGE ID\\s+SIZE"), table.out());
        assertTrue(lines.stream().anyMatch(l -> l.matches("docker.io/library/busybox\\s+1.36\\s+" + id.substring(7, 20) + "\\s+\\S+B")), table.out());
        assertTrue(lines.stream().anyMatch(l -> l.startsWith(registry.host() + "/library/busybox ")), table.out());

        var quiet = DaemonProcess.run(dir, "-r", daemon.endpoint(), "images", "-q");
        assertEquals(List.of(id), quiet.out().lines().filter(l -> !l.equals(pauseId())).toList(),
                "one image with two tags (beside the pause image)");

        var inspect = DaemonProcess.run(dir, "-r", daemon.endpoint(), "inspecti", "busybox:1.36");
        assertEquals(0, inspect.exit(), inspect.err());
        assertTrue(inspect.out().contains("\"id\": \"" + id + "\""), inspect.out());

        var rmi = DaemonProcess.run(dir, "-r", daemon.endpoint(), "rmi", direct);
        assertEquals(0, rmi.exit(), rmi.err());
        var after = images().imageStatus(ImageStatusRequest.newBuilder().setImage(spec(id)).build()).getImage();
        assertEquals(List.of("docker.io/library/busybox:1.36"), after.getRepoTagsList(), "one of two tags: untagged only");

        var missing = DaemonProcess.run(dir, "-r", daemon.endpoint(), "inspecti", "busybox:9");
        assertEquals(1, missing.exit());
        assertEquals("bollard: no such image \"busybox:9\" present\n", missing.err());
    }

    @Test
    @Order(6)
    void exportImportAndRemoveAll() throws Exception {
        Path archive = dir.resolve("busybox-export.tar");
        var export = DaemonProcess.run(dir, "-r", daemon.endpoint(), "image", "export", "busybox:1.36", archive.toString());
        assertEquals(0, export.exit(), export.err());
        assertTrue(Files.size(archive) > busybox.layers().getFirst().size());

        assertTrue(images().imageFsInfo(ImageFsInfoRequest.getDefaultInstance()).getImageFilesystems(0)
                .getUsedBytes().getValue() > Files.size(Path.of("/bin/busybox")));
        images().removeImage(RemoveImageRequest.newBuilder().setImage(spec(id)).build());
        images().removeImage(RemoveImageRequest.newBuilder().setImage(spec(id)).build()); // idempotent
        assertEquals(0, pulledImages().size());
        try (var snapshots = Files.list(daemon.root.resolve("image/snapshots"))) {
            assertEquals(1, snapshots.filter(p -> !p.getFileName().toString().equals("tmp")).count(),
                    "snapshots collected but the pause image's one layer");
        }

        var imported = DaemonProcess.run(dir, "-r", daemon.endpoint(), "image", "import", archive.toString());
        assertEquals(0, imported.exit(), imported.err());
        assertEquals("Imported " + id + " docker.io/library/busybox:1.36\n", imported.out());
        assertEquals(id, images().imageStatus(ImageStatusRequest.newBuilder().setImage(spec("busybox:1.36")).build())
                .getImage().getId());
    }
}
