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

    public static final String BUILTIN = "builtin";
    public static final String BUILTIN_REFERENCE = "bollard.local/pause:builtin";
    static final Path CATATONIT = Path.of("/usr/bin/catatonit");

    private final ImageManager images;
    private final String setting;

    public SandboxImage(ImageManager images, String setting) {
        this.images = images;
        this.setting = setting;
    }

    public String reference() {
        return setting.equals(BUILTIN) ? BUILTIN_REFERENCE : setting;
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
        Path work = Files.createTempDirectory("bollard-pause-");
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
