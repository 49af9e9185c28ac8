package dev.bollard.daemon.container;

import dev.bollard.api.cri.v1.ContainerConfig;
import dev.bollard.api.cri.v1.Mount;
import dev.bollard.daemon.image.ImageManager;
import dev.bollard.daemon.image.ImageRecord;
import dev.bollard.daemon.linux.MountInfo;
import dev.bollard.daemon.linux.Syscalls;
import dev.bollard.daemon.log.Log;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.NoSuchElementException;

/**
 * Image volumes (CRI {@code Mount.image}, KEP-4639): each image is mounted read-only in the container's bundle at
 * {@code volumes/<n>}, as an overlay of its snapshots (lower dirs only, so nothing can be written), and the
 * container's spec bind-mounts that directory, or its {@code image_sub_path}, where the CRI mount says. An empty
 * directory is always the bottom lower dir: overlayfs wants two lower dirs when it has no upper one, and a
 * one-layer image then still shows its whiteouts as whiteouts.
 */
public final class ImageVolumes {

    private static final Log LOG = Log.get("container");

    /** The bundle directory the image volumes are mounted under, one directory each. */
    public static final String DIR = "volumes";

    /** One mounted image volume: the mount point in the bundle and the snapshots under it (kept through GC). */
    public record Mounted(Path mountPoint, Path source, List<Path> lowers) {
    }

    /** The config with each image mount turned into a read-only host_path mount of its mounted image, and the mounts. */
    public record Prepared(ContainerConfig config, List<Mounted> mounts) {
    }

    private ImageVolumes() {
    }

    static boolean any(ContainerConfig config) {
        return config.getMountsList().stream().anyMatch(ImageVolumes::isImage);
    }

    private static boolean isImage(Mount m) {
        return m.hasImage() && !m.getImage().getImage().isEmpty();
    }

    /**
     * Mounts every image volume of {@code config} under {@code bundle/volumes/}. On any failure, what was mounted
     * is unmounted again before the exception leaves.
     *
     * @throws IllegalArgumentException a host_path beside image, a bad image_sub_path
     * @throws NoSuchElementException   an image that is not on the node
     */
    public static Prepared mount(ContainerConfig config, ImageManager images, Path bundle) throws IOException {
        var builder = config.toBuilder();
        var mounted = new ArrayList<Mounted>();
        Path dir = bundle.resolve(DIR);
        try {
            for (int i = 0; i < config.getMountsCount(); i++) {
                Mount m = config.getMounts(i);
                String field = "mounts[" + i + "]";
                if (!isImage(m)) {
                    if (!m.getImageSubPath().isEmpty()) {
                        throw new IllegalArgumentException(field + ".image_sub_path is only used with image");
                    }
                    continue;
                }
                if (!m.getHostPath().isEmpty()) {
                    throw new IllegalArgumentException(field + ": host_path and image are mutually exclusive");
                }
                List<String> sub = subPath(m.getImageSubPath(), field);
                String ref = m.getImage().getImage();
                ImageRecord image = images.resolve(ref).orElseThrow(() -> new NoSuchElementException(
                        field + ".image \"" + ref + "\" not found; pull it first"));
                var lowers = Rootfs.snapshotChain(images.snapshots(), image);
                if (lowers.isEmpty()) {
                    throw new IllegalArgumentException(field + ".image \"" + ref + "\" has no layers to mount");
                }
                Path empty = dir.resolve("empty");
                Files.createDirectories(empty);
                Path target = dir.resolve(Integer.toString(i));
                Files.createDirectories(target);
                var lowerdir = new ArrayList<String>();
                lowers.forEach(l -> lowerdir.add(l.toString()));
                lowerdir.add(empty.toString());
                Syscalls.mount("overlay", target, "overlay", Syscalls.MS_RDONLY | Syscalls.MS_NODEV | Syscalls.MS_NOSUID,
                        "lowerdir=" + String.join(":", lowerdir));
                Path source = resolveSubPath(target, sub, field, ref);
                mounted.add(new Mounted(target, source, lowers));
                builder.setMounts(i, m.toBuilder().clearImage().clearImageSubPath().setHostPath(source.toString())
                        .setReadonly(true).build());
            }
        } catch (IOException | RuntimeException e) {
            unmountQuietly(bundle);
            throw e;
        }
        return new Prepared(builder.build(), List.copyOf(mounted));
    }

    /** image_sub_path as its names: relative, no {@code ..}, no {@code .}, no empty parts beyond slashes. */
    static List<String> subPath(String subPath, String field) {
        if (subPath.isEmpty()) {
            return List.of();
        }
        if (subPath.startsWith("/")) {
            throw new IllegalArgumentException(field + ".image_sub_path must be relative to the image's root, got \""
                    + subPath + "\"");
        }
        var parts = new ArrayList<String>();
        for (String part : subPath.split("/")) {
            if (part.equals("..")) {
                throw new IllegalArgumentException(field + ".image_sub_path must not contain \"..\", got \""
                        + subPath + "\"");
            }
            if (!part.isEmpty() && !part.equals(".")) {
                parts.add(part);
            }
        }
        return parts;
    }

    /**
     * The sub path inside the mounted image, walked one name at a time without following symlinks: a symlink
     * could point anywhere on the node once resolved outside the container, so it is refused.
     */
    private static Path resolveSubPath(Path root, List<String> parts, String field, String image) throws IOException {
        Path p = root;
        for (String part : parts) {
            p = p.resolve(part);
            if (Files.isSymbolicLink(p)) {
                throw new IllegalArgumentException(field + ".image_sub_path \"" + String.join("/", parts)
                        + "\": \"" + root.relativize(p) + "\" is a symlink in image " + image
                        + "; name the directory it points to");
            }
            if (!Files.exists(p, LinkOption.NOFOLLOW_LINKS)) {
                throw new IllegalArgumentException(field + ".image_sub_path \"" + String.join("/", parts)
                        + "\" does not exist in image " + image);
            }
        }
        return p;
    }

    /** Unmounts every image volume of the bundle (idempotent: nothing mounted is no error). */
    private static void unmount(Path bundle) throws IOException {
        Path dir = bundle.resolve(DIR);
        if (Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
            MountInfo.unmountBelow(dir);
        }
    }

    private static void unmountQuietly(Path bundle) {
        try {
            unmount(bundle);
        } catch (IOException e) {
            LOG.warn("cannot unmount image volumes", "bundle", bundle, "error", e.getMessage());
        }
    }
}
