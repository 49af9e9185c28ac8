package dev.bollard.daemon.sandbox;

import dev.bollard.daemon.image.ImageBuilder;
import dev.bollard.daemon.image.ImageManager;
import dev.bollard.daemon.image.ImageRecord;
import dev.bollard.daemon.image.ref.ImageReference;
import dev.bollard.daemon.registry.Credentials;
import dev.bollard.daemon.store.FileTrees;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;

/**
 * The image of every pod's infra container. {@code builtin} is a one-file image Bollard assembles from Debian's
 * static {@code catatonit} in pause mode, so a pod needs no registry; any other value is a reference, pulled
 * like containerd pulls its {@code sandbox_image} when it is missing.
 */
public final class SandboxImage {

    private static final dev.bollard.daemon.log.Log LOG = dev.bollard.daemon.log.Log.get("sandbox");

    public static final String BUILTIN = "builtin";
    public static final String BUILTIN_REFERENCE = "bollard.local/pause:builtin";
    static final Path CATATONIT = Path.of("/usr/bin/catatonit");

    private final ImageManager images;
    private final String setting;

    public SandboxImage(ImageManager images, String setting) {
        this.images = images;
        this.setting = setting;
        try {
            images.pin(reference());
        } catch (IllegalArgumentException e) {
            // not a valid reference: the first RunPodSandbox says so when it pulls it
        }
    }

    public String reference() {
        return setting.equals(BUILTIN) ? BUILTIN_REFERENCE : setting;
    }

    /**
     * Once the daemon serves, on a thread of its own so that the start does not wait for it: the builtin image is
     * assembled and imported if it is missing (about 1 MB, only on a fresh root), then {@code done} completes.
     * Pulls wait for it ({@link ImageManager#holdPullsUntil}), so no pull can fill the disk before the pause image is there,
     * and a full image filesystem never stops pods from starting. A reference is pulled on first use instead, as
     * containerd does with its {@code sandbox_image}: a start must not depend on a registry. A failure here is only
     * logged; {@link #ensure} tries again at the first RunPodSandbox and reports it there.
     */
    public void prepare(java.util.concurrent.CompletableFuture<Void> done) {
        if (!setting.equals(BUILTIN)) {
            done.complete(null);
            return;
        }
        Thread.ofVirtual().name("sandbox-image").start(() -> {
            try {
                ensure();
            } catch (IOException e) {
                LOG.warn("could not import the builtin sandbox image at start; the first RunPodSandbox tries again",
                        "error", e.getMessage());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } finally {
                done.complete(null);
            }
        });
    }

    /** The image, assembled or pulled first if it is not there yet. */
    public synchronized ImageRecord ensure() throws IOException, InterruptedException {
        var existing = images.resolve(reference());
        if (existing.isPresent()) {
            return existing.get();
        }
        if (!setting.equals(BUILTIN)) {
            return images.pull(setting, Credentials.ANONYMOUS);
        }
        if (!Files.isExecutable(CATATONIT)) {
            throw new IOException("the builtin sandbox image needs " + CATATONIT
                    + " (Debian package catatonit); install it or set [runtime] sandbox_image to an image reference");
        }
        // in the image root, not /tmp: a daemon stopped while this runs (at its start, on a fresh root) would
        // leave the directory behind, and only the image root's is removed by the next start
        Path work = images.snapshots().newWorkDir("pause-");
        try {
            Path rootfs = Files.createDirectories(work.resolve("rootfs"));
            Files.copy(CATATONIT, rootfs.resolve("catatonit"), StandardCopyOption.COPY_ATTRIBUTES);
            Files.createDirectories(rootfs.resolve("dev"));
            Files.createDirectories(rootfs.resolve("proc"));
            Files.createDirectories(rootfs.resolve("sys"));
            Files.createDirectories(rootfs.resolve("etc"));
            Path tar = work.resolve("pause.tar");
            try (OutputStream out = Files.newOutputStream(tar)) {
                ImageBuilder.build(rootfs, new ImageBuilder.Spec(ImageReference.parse(BUILTIN_REFERENCE),
                        List.of("/catatonit", "-P"), List.of(), List.of(), "/", "0:0"), out);
            }
            images.importArchive(tar, "");
        } finally {
            FileTrees.deleteTree(work);
        }
        return images.resolve(reference()).orElseThrow(() -> new IOException("builtin sandbox image vanished after import"));
    }
}
