package dev.bollard.cli;

import dev.bollard.api.cri.v1.ContainerFilter;
import dev.bollard.api.cri.v1.ContainerStatus;
import dev.bollard.api.cri.v1.Image;
import dev.bollard.api.cri.v1.ImageSpec;
import dev.bollard.api.cri.v1.ImageStatusRequest;
import dev.bollard.api.cri.v1.LinuxContainerConfig;
import dev.bollard.api.cri.v1.LinuxContainerSecurityContext;
import dev.bollard.api.cri.v1.ListContainersRequest;
import dev.bollard.api.cri.v1.StatusRequest;
import dev.bollard.api.cri.v1.SupplementalGroupsPolicy;
import dev.bollard.api.cri.v1.PullImageRequest;
import dev.bollard.daemon.testkit.TestImages;
import dev.bollard.daemon.testkit.TestPush;
import dev.bollard.daemon.testkit.TestRegistry;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** What a container reports of its image (image, image_ref, image_id) and of its user (KEP-3619 policies). */
class ContainerIdentityIntegrationTest extends PodNodeTest {

    private Image imageStatus(String image) {
        var r = node.images().imageStatus(ImageStatusRequest.newBuilder()
                .setImage(ImageSpec.newBuilder().setImage(image)).build());
        assertTrue(r.hasImage(), "ImageStatus knows " + image);
        return r.getImage();
    }

    private void assertIdentity(String pod, String id, String requested, Image image) {
        ContainerStatus st = node.status(id);
        assertEquals(image.getId(), st.getImageId(), "ContainerStatus.image_id of a container created by " + requested);
        String expectedRef = image.getRepoDigestsCount() == 0 ? image.getId() : image.getRepoDigests(0);
        if (requested.contains("@")) {
            expectedRef = requested.contains("/") && image.getRepoDigestsList().contains(requested) ? requested
                    : expectedRef;
        }
        assertEquals(expectedRef, st.getImageRef(), "image_ref of a container created by " + requested);
        assertEquals(requested, st.getImage().getUserSpecifiedImage());
        if (image.getRepoTagsCount() > 0) {
            assertEquals(image.getRepoTags(0), st.getImage().getImage(), "the image is shown by its tag");
        }
        var listed = node.rt().listContainers(ListContainersRequest.newBuilder()
                .setFilter(ContainerFilter.newBuilder().setId(id)).build()).getContainers(0);
        assertEquals(image.getId(), listed.getImageId(), "Container.image_id");
        assertEquals(expectedRef, listed.getImageRef(), "Container.image_ref");
        assertEquals(pod, listed.getPodSandboxId());
    }

    @Test
    void imageIdentityByTagByIdAndByDigest() throws Exception {
        var podConfig = node.pod("identity").build();
        String pod = node.runPod(podConfig);
        try {
            Image image = imageStatus(PodTestNode.IMAGE);
            String byTag = node.createAndStart(pod, podConfig, PodTestNode.container("bytag", "sleep", "3600").build());
            assertIdentity(pod, byTag, PodTestNode.IMAGE, image);

            String byId = node.createAndStart(pod, podConfig, PodTestNode.container("byid", "sleep", "3600")
                    .setImage(ImageSpec.newBuilder().setImage(image.getId())).build());
            assertIdentity(pod, byId, image.getId(), image);

            // kubelet's way: image = the ID PullImage returned, user_specified_image = what the pod spec says.
            String byKubelet = node.createAndStart(pod, podConfig, PodTestNode.container("bykubelet", "sleep", "3600")
                    .setImage(ImageSpec.newBuilder().setImage(image.getId()).setUserSpecifiedImage(PodTestNode.IMAGE))
                    .build());
            assertIdentity(pod, byKubelet, PodTestNode.IMAGE, image);

            if (image.getRepoDigestsCount() > 0) {
                String digest = image.getRepoDigests(0);
                String byDigest = node.createAndStart(pod, podConfig, PodTestNode.container("bydigest", "sleep", "3600")
                        .setImage(ImageSpec.newBuilder().setImage(digest)).build());
                assertIdentity(pod, byDigest, digest, image);
            } else {
                assertEquals(image.getId(), node.status(byTag).getImageRef(),
                        "an imported image has no repo digest: image_ref is its ID");
            }
        } finally {
            node.removePod(pod);
        }
    }

    @Test
    void pulledImageReportsTheRepoDigestItWasPulledBy() throws Exception {
        assumeTrue(TestRegistry.available(), "docker-registry is not installed");
        var busybox = TestImages.busybox();
        try (var registry = TestRegistry.start(java.nio.file.Files.createDirectories(node.dir.resolve("registry")))) {
            busybox.push(new TestPush(registry.apiRoot()), "library/busybox", "1.36");
            String tag = registry.host() + "/library/busybox:1.36";
            String pulled = node.images().pullImage(PullImageRequest.newBuilder()
                    .setImage(ImageSpec.newBuilder().setImage(tag)).build()).getImageRef();
            Image image = imageStatus(tag);
            assertEquals(pulled, image.getId(), "PullImage's image_ref is the image ID");
            assertEquals(1, image.getRepoDigestsCount(), image.toString());
            String digest = image.getRepoDigests(0);
            assertTrue(digest.startsWith(registry.host() + "/library/busybox@sha256:"), digest);

            var podConfig = node.pod("pulled").build();
            String pod = node.runPod(podConfig);
            try {
                for (String requested : java.util.List.of(tag, image.getId(), digest)) {
                    String id = node.createAndStart(pod, podConfig, PodTestNode.container(
                                    "c" + Integer.toHexString(requested.hashCode()), "/bin/busybox", "sleep", "3600")
                            .setImage(ImageSpec.newBuilder().setImage(requested)).build());
                    assertIdentity(pod, id, requested, image);
                    assertEquals(digest, node.status(id).getImageRef(), "image_ref of a container created by "
                            + requested + " is the repo digest");
                }
            } finally {
                node.removePod(pod);
            }
        }
    }

    private static LinuxContainerConfig.Builder asWww(SupplementalGroupsPolicy policy) {
        return LinuxContainerConfig.newBuilder().setSecurityContext(LinuxContainerSecurityContext.newBuilder()
                .setRunAsUsername("www").setSupplementalGroupsPolicy(policy));
    }

    @Test
    void supplementalGroupsPolicyStrictAndMerge() throws Exception {
        assertTrue(node.rt().status(StatusRequest.getDefaultInstance()).getFeatures().getSupplementalGroupsPolicy(),
                "the runtime says it honours the policy");
        var podConfig = node.pod("groups").build();
        String pod = node.runPod(podConfig);
        try {
            String strict = node.createAndStart(pod, podConfig, PodTestNode.container("strict", "sleep", "3600")
                    .setLinux(asWww(SupplementalGroupsPolicy.Strict)).build());
            String id = node.sh(strict, "id");
            assertEquals("uid=1000(www) gid=1000(www) groups=1000(www)\n", id);
            var user = node.status(strict).getUser().getLinux();
            assertEquals(1000, user.getUid());
            assertEquals(1000, user.getGid());
            assertFalse(user.getSupplementalGroupsList().contains(50L), user.toString());

            String merge = node.createAndStart(pod, podConfig, PodTestNode.container("merge", "sleep", "3600")
                    .setLinux(asWww(SupplementalGroupsPolicy.Merge)).build());
            assertEquals("uid=1000(www) gid=1000(www) groups=50(staff),1000(www)\n", node.sh(merge, "id"));
            var merged = node.status(merge).getUser().getLinux();
            assertTrue(merged.getSupplementalGroupsList().contains(50L), merged.toString());
        } finally {
            node.removePod(pod);
        }
    }
}
