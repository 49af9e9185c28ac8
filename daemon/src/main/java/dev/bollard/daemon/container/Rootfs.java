package dev.bollard.daemon.container;

import dev.bollard.api.containerd.types.Mount;
import dev.bollard.daemon.content.Digest;
import dev.bollard.daemon.image.ImageRecord;
import dev.bollard.daemon.linux.Syscalls;
import dev.bollard.daemon.oci.RootfsFiles;
import dev.bollard.daemon.snapshot.ChainId;
import dev.bollard.daemon.snapshot.SnapshotStore;
import dev.bollard.daemon.store.FileTrees;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Optional;

/**
 * A container's root filesystem: the image's layer snapshots as overlayfs lower dirs (top-most first) under a
 * writable upper dir of its own. The shim mounts it (the mount travels in the task's Create request), so a
 * VM-based shim can do what it needs with the same description.
 *
 * @param lowers      snapshot directories, top layer first, as overlayfs wants them
 * @param dir         the container's own directory holding {@code upper/} and {@code work/}
 * @param mountLowers what the overlay is mounted from: {@code lowers}, or the same directories seen through an
 *                    idmapped mount of the snapshot store (a pod with a user namespace of its own)
 */
public record Rootfs(List<Path> lowers, Path dir, List<Path> mountLowers) {

    public Rootfs {
        lowers = List.copyOf(lowers);
        mountLowers = List.copyOf(mountLowers);
        if (lowers.isEmpty()) {
            throw new IllegalArgumentException("an image with no layers cannot be a root filesystem");
        }
        if (mountLowers.size() != lowers.size()) {
            throw new IllegalArgumentException("mountLowers must match lowers");
        }
    }

    public Rootfs(List<Path> lowers, Path dir) {
        this(lowers, dir, lowers);
    }

    /** The directory all snapshots live in (each lower is one of its children). */
    public Path snapshotRoot() {
        Path root = lowers.getFirst().getParent();
        for (Path l : lowers) {
            if (!root.equals(l.getParent())) {
                throw new IllegalStateException("snapshots " + lowers.getFirst() + " and " + l + " are in different directories");
            }
        }
        return root;
    }

    /** The same rootfs, its lower dirs read through {@code view}, a mount of {@link #snapshotRoot()}. */
    public Rootfs viewedThrough(Path view) {
        Path root = snapshotRoot();
        return new Rootfs(lowers, dir, lowers.stream().map(l -> view.resolve(root.relativize(l))).toList());
    }

    /** The image's snapshot chain, checked to be on disk. */
    public static Rootfs of(SnapshotStore snapshots, ImageRecord image, Path dir) throws IOException {
        return new Rootfs(snapshotChain(snapshots, image), dir);
    }

    /** The image's snapshot directories, top layer first (overlayfs order), each checked to be on disk. */
    static List<Path> snapshotChain(SnapshotStore snapshots, ImageRecord image) throws IOException {
        var diffIds = image.layers().stream().map(l -> Digest.parse(l.diffId())).toList();
        var lowers = new ArrayList<Path>();
        for (Digest chain : ChainId.all(diffIds)) {
            if (!snapshots.has(chain)) {
                throw new IOException("image " + image.id() + ": snapshot " + chain + " is missing; pull the image again");
            }
            lowers.add(snapshots.path(chain));
        }
        Collections.reverse(lowers);
        return lowers;
    }

    public Path upper() {
        return dir.resolve("upper");
    }

    public Path work() {
        return dir.resolve("work");
    }

    /** Creates the writable layer's directories (mode 0755: they become the container's {@code /}). */
    public void prepare() throws IOException {
        Files.createDirectories(upper());
        Files.createDirectories(work());
        Syscalls.chmod(upper(), 0755);
    }

    public Mount mount() {
        var lowerdir = String.join(":", mountLowers.stream().map(Path::toString).toList());
        return Mount.newBuilder().setType("overlay").setSource("overlay")
                .addOptions("index=off")
                .addOptions("workdir=" + work())
                .addOptions("upperdir=" + upper())
                .addOptions("lowerdir=" + lowerdir)
                .build();
    }

    /**
     * Reads files through the layers as the mounted overlay would show them, before it is mounted: the upper dir
     * first, then each lower; a whiteout (char device 0:0) or an opaque parent hides what lies beneath.
     */
    public RootfsFiles files() {
        return path -> {
            var layers = new ArrayList<Path>();
            layers.add(upper());
            layers.addAll(lowers);
            String rel = path.startsWith("/") ? path.substring(1) : path;
            for (Path layer : layers) {
                Path p = layer.resolve(rel).normalize();
                if (!p.startsWith(layer)) {
                    return Optional.empty();
                }
                if (Files.exists(p, LinkOption.NOFOLLOW_LINKS)) {
                    if (Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS)) {
                        return Optional.of(Files.readAllBytes(p));
                    }
                    return Optional.empty(); // a whiteout, a directory, or a symlink we do not chase out of the layer
                }
                if (opaqueParent(layer, p)) {
                    return Optional.empty();
                }
            }
            return Optional.empty();
        };
    }

    private static boolean opaqueParent(Path layer, Path p) throws IOException {
        for (Path dir = p.getParent(); dir != null && dir.startsWith(layer) && !dir.equals(layer); dir = dir.getParent()) {
            if (Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
                var v = Syscalls.lgetxattr(dir, "trusted.overlay.opaque");
                if (v.isPresent() && v.get().length == 1 && v.get()[0] == 'y') {
                    return true;
                }
            }
        }
        return false;
    }

    /** Removes the writable layer (after the shim unmounted it). Idempotent. */
    public void remove() throws IOException {
        FileTrees.deleteTree(dir);
    }
}
