package dev.bollard.daemon.container;

import dev.bollard.api.cri.v1.ContainerConfig;
import dev.bollard.daemon.image.ImageRecord;

/** The image_ref policy: which of an image's names a container reports. */
public final class ImageRefs {

    private ImageRefs() {
    }

    /** The reference containerd reports as image_ref: the repo digest when there is one, else the image ID. */
    public static String imageRef(ImageRecord image) {
        return imageRef(image, "");
    }

    /**
     * image_ref for a container created from {@code requested}: the repo digest it names when it is a digest
     * reference of this image, else a repo digest in the repository it names, else the image's first repo digest
     * (as containerd and CRI-O report), else, for an image pulled by no digest (imported, built), its ID.
     */
    public static String imageRef(ImageRecord image, String requested) {
        if (image.repoDigests().isEmpty()) {
            return image.id();
        }
        try {
            var ref = dev.bollard.daemon.image.ref.ImageReference.parse(requested);
            String byDigest = ref.withoutTag().toString();
            if (ref.digest().isPresent() && image.repoDigests().contains(byDigest)) {
                return byDigest;
            }
            for (String d : image.repoDigests()) {
                if (d.startsWith(ref.name() + "@")) {
                    return d;
                }
            }
        } catch (IllegalArgumentException e) {
            // an image ID or an empty name: no repository to prefer
        }
        return image.repoDigests().getFirst();
    }

    /** The image as the user named it: ImageSpec.user_specified_image when kubelet sets it, else ImageSpec.image. */
    public static String requestedImage(ContainerConfig config) {
        var spec = config.getImage();
        return spec.getUserSpecifiedImage().isEmpty() ? spec.getImage() : spec.getUserSpecifiedImage();
    }
}
