package dev.bollard.daemon.container;

import dev.bollard.daemon.image.ImageRecord;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** image_ref: the repo digest the container was created by, else one of its repository, else any, else the ID. */
class ImageRefTest {

    private static final String ID = "sha256:" + "a".repeat(64);
    private static final String D1 = "sha256:" + "1".repeat(64);
    private static final String D2 = "sha256:" + "2".repeat(64);

    private static ImageRecord image(List<String> digests) {
        return new ImageRecord(1, ID, List.of("docker.io/library/busybox:1"), digests, 1, D1, List.of(), -1, "",
                false, Map.of(), 0);
    }

    @Test
    void withoutRepoDigestIsTheImageId() {
        assertEquals(ID, ImageRefs.imageRef(image(List.of()), "busybox:1"));
        assertEquals(ID, ImageRefs.imageRef(image(List.of()), ID));
    }

    @Test
    void prefersTheDigestAndRepositoryTheUserNamed() {
        var img = image(List.of("docker.io/library/busybox@" + D1, "quay.io/x/busybox@" + D2));
        assertEquals("quay.io/x/busybox@" + D2, ImageRefs.imageRef(img, "quay.io/x/busybox@" + D2));
        assertEquals("quay.io/x/busybox@" + D2, ImageRefs.imageRef(img, "quay.io/x/busybox:1"));
        assertEquals("docker.io/library/busybox@" + D1, ImageRefs.imageRef(img, "busybox"));
        assertEquals("docker.io/library/busybox@" + D1, ImageRefs.imageRef(img, ID));
        assertEquals("docker.io/library/busybox@" + D1, ImageRefs.imageRef(img, "other.io/y@" + D2));
    }
}
