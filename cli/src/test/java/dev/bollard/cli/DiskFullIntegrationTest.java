package dev.bollard.cli;

import dev.bollard.api.cri.v1.ImageFsInfoRequest;
import dev.bollard.api.cri.v1.ImageServiceGrpc;
import dev.bollard.api.cri.v1.ImageSpec;
import dev.bollard.api.cri.v1.LinuxPodSandboxConfig;
import dev.bollard.api.cri.v1.ListImagesRequest;
import dev.bollard.api.cri.v1.LinuxSandboxSecurityContext;
import dev.bollard.api.cri.v1.NamespaceMode;
import dev.bollard.api.cri.v1.NamespaceOption;
import dev.bollard.api.cri.v1.PodSandboxConfig;
import dev.bollard.api.cri.v1.PodSandboxMetadata;
import dev.bollard.api.cri.v1.PullImageRequest;
import dev.bollard.api.cri.v1.RemovePodSandboxRequest;
import dev.bollard.api.cri.v1.RunPodSandboxRequest;
import dev.bollard.api.cri.v1.RuntimeServiceGrpc;
import dev.bollard.api.cri.v1.StopPodSandboxRequest;
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
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A full image filesystem: {@code --root} on a real 64 MB tmpfs, a 90 MB image pulled again and again from a real
 * registry. Each pull fails with RESOURCE_EXHAUSTED naming the disk and leaves no partial download behind, so a
 * small pull and a pod (the builtin pause image, imported at start) work afterwards, also after a restart.
 */
class DiskFullIntegrationTest {

    private static final long MIB = 1 << 20;

    @Test
    void pullsBiggerThanTheDiskLeaveItUsableAndAnswerResourceExhausted() throws Exception {
        Path dir = Files.createTempDirectory("bollard-full-");
        Path root = Files.createDirectories(dir.resolve("root"));
        mount(root);
        TestRegistry registry = null;
        DaemonProcess daemon = null;
        try {
            registry = TestRegistry.start(Files.createDirectories(dir.resolve("registry")));
            var push = new TestPush(registry.apiRoot());
            String host = registry.host();
            // three incompressible 30 MB layers: the blobs alone are bigger than the disk
            var big = TestImages.image(dev.bollard.daemon.registry.Platform.LINUX_AMD64, false, List.of(
                    List.of(randomFile("a")), List.of(randomFile("b")), List.of(randomFile("c"))));
            big.push(push, "big", "1");
            TestImages.busybox().push(push, "small", "1");

            daemon = DaemonProcess.start(dir);
            var client = new Client(daemon);
            try {
                // imported in the background at start; pulls wait for it
                List<dev.bollard.api.cri.v1.Image> pause = List.of();
                for (long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
                     pause.isEmpty() && System.nanoTime() < deadline; Thread.sleep(100)) {
                    pause = client.images().listImages(ListImagesRequest.getDefaultInstance()).getImagesList()
                            .stream().filter(i -> i.getRepoTagsList().contains("bollard.local/pause:builtin")).toList();
                }
                assertEquals(1, pause.size(), "the builtin pause image is imported at start, before any pull");
                assertTrue(pause.getFirst().getPinned(), "pinned: kubelet's image GC leaves it alone");
                long baseline = used(root);
                assertTrue(baseline < 16 * MIB, "the fresh root, pause image included, is small: " + baseline);
                var usages = new ArrayList<Long>();
                for (int attempt = 0; attempt < 4; attempt++) {
                    var e = assertThrows(StatusRuntimeException.class, () -> client.images().pullImage(
                            PullImageRequest.newBuilder().setImage(spec(host + "/big:1")).build()));
                    assertEquals(Status.Code.RESOURCE_EXHAUSTED, e.getStatus().getCode(), e.getStatus().toString());
                    String message = e.getStatus().getDescription();
                    assertTrue(message.contains("no space left on the image filesystem " + root.resolve("image")),
                            "names the disk: " + message);
                    long now = used(root);
                    usages.add(now);
                    System.out.println("tmpfs usage after failed pull " + (attempt + 1) + ": " + now + " bytes (baseline " + baseline + ")");
                    assertTrue(now < baseline + 4 * MIB, "usage after failed pull " + (attempt + 1) + ": " + usages
                            + " (baseline " + baseline + ")");
                    assertEquals(List.of(), ingests(root), "no partial download stays after a full disk");
                    long reported = client.images().imageFsInfo(ImageFsInfoRequest.getDefaultInstance())
                            .getImageFilesystems(0).getUsedBytes().getValue();
                    assertTrue(reported >= bytesUnder(root.resolve("image")) - 64 * 1024,
                            "ImageFsInfo counts what is under the image root: " + reported);
                }

                client.images().pullImage(PullImageRequest.newBuilder()
                        .setImage(spec(host + "/small:1")).build());
                client.runAndRemovePod(dir);
            } finally {
                client.close();
            }
            daemon.close();
            daemon = DaemonProcess.start(dir);
            var again = new Client(daemon);
            try {
                again.runAndRemovePod(dir);
            } finally {
                again.close();
            }
        } finally {
            if (daemon != null) {
                daemon.close();
            }
            if (registry != null) {
                registry.close();
            }
            new ProcessBuilder("umount", "-l", root.toString()).inheritIO().start().waitFor();
            TestFiles.deleteTree(dir);
        }
    }

    private static void mount(Path root) throws Exception {
        var p = new ProcessBuilder("mount", "-t", "tmpfs", "-o", "size=64m,mode=0711", "tmpfs", root.toString())
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertEquals(0, p.waitFor(), "mount tmpfs: " + out);
    }

    private static TestImages.Entry randomFile(String name) {
        byte[] data = new byte[30 * (int) MIB];
        ThreadLocalRandom.current().nextBytes(data);
        return TestImages.Entry.file("data/" + name, data, 0644);
    }

    private static long used(Path mount) throws Exception {
        var store = Files.getFileStore(mount);
        return store.getTotalSpace() - store.getUnallocatedSpace();
    }

    private static List<String> ingests(Path root) throws Exception {
        try (var s = Files.list(root.resolve("image/content/ingest"))) {
            return s.map(p -> p.getFileName().toString()).toList();
        }
    }

    private static long bytesUnder(Path dir) throws Exception {
        try (var s = Files.walk(dir)) {
            return s.filter(Files::isRegularFile).mapToLong(p -> p.toFile().length()).sum();
        }
    }

    private static ImageSpec spec(String image) {
        return ImageSpec.newBuilder().setImage(image).build();
    }

    /** A CRI client on the daemon's socket. */
    private static final class Client implements AutoCloseable {
        final EpollEventLoopGroup group = new EpollEventLoopGroup(1);
        final ManagedChannel channel;

        Client(DaemonProcess daemon) {
            channel = NettyChannelBuilder.forAddress(new DomainSocketAddress(daemon.socket.toString()))
                    .channelType(EpollDomainSocketChannel.class).eventLoopGroup(group).usePlaintext().build();
        }

        ImageServiceGrpc.ImageServiceBlockingStub images() {
            return ImageServiceGrpc.newBlockingStub(channel).withDeadlineAfter(120, TimeUnit.SECONDS);
        }

        RuntimeServiceGrpc.RuntimeServiceBlockingStub rt() {
            return RuntimeServiceGrpc.newBlockingStub(channel).withDeadlineAfter(60, TimeUnit.SECONDS);
        }

        /** A host-network pod (no CNI needed) runs on the builtin pause image, then goes. */
        void runAndRemovePod(Path dir) throws Exception {
            String name = "full-" + UUID.randomUUID().toString().substring(0, 8);
            var config = PodSandboxConfig.newBuilder()
                    .setMetadata(PodSandboxMetadata.newBuilder().setName(name).setNamespace("test")
                            .setUid(UUID.randomUUID().toString()))
                    .setHostname(name).setLogDirectory(Files.createDirectories(dir.resolve("logs/" + name)).toString())
                    .setLinux(LinuxPodSandboxConfig.newBuilder().setSecurityContext(LinuxSandboxSecurityContext
                            .newBuilder().setNamespaceOptions(NamespaceOption.newBuilder().setNetwork(NamespaceMode.NODE))))
                    .build();
            String id = rt().runPodSandbox(RunPodSandboxRequest.newBuilder().setConfig(config).build()).getPodSandboxId();
            assertFalse(id.isEmpty());
            rt().stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(id).build());
            rt().removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(id).build());
        }

        @Override
        public void close() throws Exception {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        }
    }
}
