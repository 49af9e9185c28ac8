package dev.bollard.cli;

import dev.bollard.api.cri.v1.ContainerConfig;
import dev.bollard.api.cri.v1.CreateContainerRequest;
import dev.bollard.api.cri.v1.ImageSpec;
import dev.bollard.api.cri.v1.ImageStatusRequest;
import dev.bollard.api.cri.v1.Mount;
import dev.bollard.api.cri.v1.PodSandboxConfig;
import dev.bollard.api.cri.v1.RemoveContainerRequest;
import dev.bollard.api.cri.v1.RemoveImageRequest;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Image volumes (Mount.image, KEP-4639): a second image mounted read-only into a container, whole or a sub path. */
class ImageVolumeIntegrationTest extends PodNodeTest {

    static final String DATA_IMAGE = "bollard.local/volume-data:test";

    /** Builds and imports the data image unless it is there (the tests run in any order; one removes it). */
    private void importDataImage() throws Exception {
        if (node.images().imageStatus(ImageStatusRequest.newBuilder()
                .setImage(ImageSpec.newBuilder().setImage(DATA_IMAGE)).build()).hasImage()) {
            return;
        }
        Path rootfs = Files.createDirectories(node.dir.resolve("data-image/rootfs"));
        Files.createDirectories(rootfs.resolve("data/sub"));
        Files.writeString(rootfs.resolve("data/greeting.txt"), "hello from an image volume\n");
        Files.writeString(rootfs.resolve("data/sub/inner.txt"), "inner file\n");
        Files.writeString(rootfs.resolve("data/late.txt"), "read only after GC\n");
        if (!Files.isSymbolicLink(rootfs.resolve("escape"))) {
            Files.createSymbolicLink(rootfs.resolve("escape"), Path.of("/etc"));
        }
        Path tar = node.dir.resolve("data-image/data.tar");
        var build = DaemonProcess.run(node.dir, "image", "build", rootfs.toString(), "--name", DATA_IMAGE,
                "-o", tar.toString());
        assertEquals(0, build.exit(), build.err());
        var imported = DaemonProcess.run(node.dir, "-r", node.daemon.endpoint(), "image", "import", tar.toString());
        assertEquals(0, imported.exit(), imported.err());
    }

    private static Mount imageMount(String containerPath, String image, String subPath) {
        return Mount.newBuilder().setContainerPath(containerPath).setImage(ImageSpec.newBuilder().setImage(image))
                .setImageSubPath(subPath).build();
    }

    private List<String> volumeMounts() throws Exception {
        return node.mountsUnderDir().stream().filter(m -> m.contains("/volumes/")).toList();
    }

    private StatusRuntimeException createFails(String pod, PodSandboxConfig podConfig, ContainerConfig config) {
        return assertThrows(StatusRuntimeException.class, () -> node.rt().createContainer(CreateContainerRequest
                .newBuilder().setPodSandboxId(pod).setConfig(config).setSandboxConfig(podConfig).build()));
    }

    @Test
    void anImageIsMountedReadOnlyWholeOrBySubPathAndUnmountedAtRemoval() throws Exception {
        importDataImage();
        var podConfig = node.pod("imagevol").build();
        String pod = node.runPod(podConfig);
        String id = node.createAndStart(pod, podConfig, PodTestNode.container("reader", "sleep", "3600")
                .addMounts(imageMount("/vol", DATA_IMAGE, ""))
                .addMounts(imageMount("/sub", DATA_IMAGE, "data/sub")).build());

        assertEquals("hello from an image volume\n", node.sh(id, "cat /vol/data/greeting.txt"));
        assertEquals("inner file\n", node.sh(id, "cat /sub/inner.txt"));
        assertEquals("inner.txt\n", node.sh(id, "ls /sub"));
        assertTrue(node.sh(id, "touch /vol/data/new 2>&1; echo rc=$?").contains("Read-only file system"));
        assertTrue(node.sh(id, "echo x > /sub/inner.txt 2>&1; echo rc=$?").contains("Read-only file system"));
        assertTrue(node.sh(id, "grep -E ' /(vol|sub) ' /proc/self/mounts").contains(" ro,"),
                node.sh(id, "cat /proc/self/mounts"));
        assertEquals(2, volumeMounts().size(), volumeMounts().toString());

        // a restarted daemon knows the volumes from the record: image GC keeps the snapshots a volume stacks,
        // even once the image itself is removed
        node.restart(java.time.Duration.ZERO);
        String imageId = node.images().imageStatus(ImageStatusRequest.newBuilder()
                .setImage(ImageSpec.newBuilder().setImage(DATA_IMAGE)).build()).getImage().getId();
        node.images().removeImage(RemoveImageRequest.newBuilder()
                .setImage(ImageSpec.newBuilder().setImage(imageId)).build());
        // a file looked up for the first time now: the overlay finds it only if its snapshot is still on disk
        assertEquals("read only after GC\n", node.sh(id, "cat /vol/data/late.txt 2>&1"));

        node.rt().removeContainer(RemoveContainerRequest.newBuilder().setContainerId(id).build());
        assertTrue(volumeMounts().isEmpty(), "image volumes left mounted: " + volumeMounts());
        node.removePod(pod);
    }

    @Test
    void badImageVolumesAreRefusedAndLeaveNothingMounted() throws Exception {
        importDataImage();
        var podConfig = node.pod("badvol").build();
        String pod = node.runPod(podConfig);

        var missingImage = createFails(pod, podConfig, PodTestNode.container("a", "true")
                .addMounts(imageMount("/vol", "bollard.local/absent:none", "")).build());
        assertEquals(Status.Code.NOT_FOUND, missingImage.getStatus().getCode());
        assertTrue(missingImage.getStatus().getDescription().contains("bollard.local/absent:none"),
                missingImage.getStatus().getDescription());

        var missingSub = createFails(pod, podConfig, PodTestNode.container("b", "true")
                .addMounts(imageMount("/vol", DATA_IMAGE, "data/nope")).build());
        assertEquals(Status.Code.INVALID_ARGUMENT, missingSub.getStatus().getCode());
        assertTrue(missingSub.getStatus().getDescription().contains("data/nope"), missingSub.getStatus().getDescription());

        var escape = createFails(pod, podConfig, PodTestNode.container("c", "true")
                .addMounts(imageMount("/vol", DATA_IMAGE, "data/../../etc")).build());
        assertEquals(Status.Code.INVALID_ARGUMENT, escape.getStatus().getCode());
        assertTrue(escape.getStatus().getDescription().contains(".."), escape.getStatus().getDescription());

        var symlink = createFails(pod, podConfig, PodTestNode.container("d", "true")
                .addMounts(imageMount("/vol", DATA_IMAGE, "escape")).build());
        assertEquals(Status.Code.INVALID_ARGUMENT, symlink.getStatus().getCode());
        assertTrue(symlink.getStatus().getDescription().contains("symlink"), symlink.getStatus().getDescription());

        var both = createFails(pod, podConfig, PodTestNode.container("e", "true")
                .addMounts(imageMount("/vol", DATA_IMAGE, "").toBuilder().setHostPath("/tmp")).build());
        assertEquals(Status.Code.INVALID_ARGUMENT, both.getStatus().getCode());
        assertTrue(both.getStatus().getDescription().contains("mutually exclusive"), both.getStatus().getDescription());

        // the image volume is mounted by then; a later mount failing must take it down again
        var laterMount = createFails(pod, podConfig, PodTestNode.container("f", "true")
                .addMounts(imageMount("/vol", DATA_IMAGE, ""))
                .addMounts(Mount.newBuilder().setContainerPath("/host").setHostPath("/does/not/exist")).build());
        assertEquals(Status.Code.INVALID_ARGUMENT, laterMount.getStatus().getCode());
        assertTrue(laterMount.getStatus().getDescription().contains("/does/not/exist"),
                laterMount.getStatus().getDescription());

        assertTrue(volumeMounts().isEmpty(), "a failed create left image volumes mounted: " + volumeMounts());
        try (var left = Files.list(node.dir.resolve("state/containers"))) {
            assertFalse(left.findAny().isPresent(), "a failed create left a bundle");
        }
        node.removePod(pod);
    }
}
