package dev.bollard.daemon.lifecycle;

import com.google.gson.JsonObject;
import dev.bollard.api.containerd.types.Mount;
import dev.bollard.daemon.container.Rootfs;
import dev.bollard.daemon.image.ImageConfigs;
import dev.bollard.daemon.image.ImageManager;
import dev.bollard.daemon.sandbox.SandboxImage;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** The infra container's image, prepared for one pod: its ID, its rootfs mounts and the infra process's arguments. */
public interface InfraImage {

    /** The image found (pulled on first use): its ID, the infra process's arguments, and how to lay out its rootfs. */
    interface Resolved {
        String imageId();

        List<String> args();

        /** Prepares the infra rootfs at {@code dir}; returns the mounts the shim makes of it. */
        List<Mount> prepareRootfs(Path dir) throws IOException;
    }

    /** The image as configured (a reference, or the builtin one). */
    String reference();

    /** Ensures the image exists (pulling it on first use). */
    Resolved resolve() throws IOException, InterruptedException;

    static InfraImage of(SandboxImage sandboxImage, ImageManager images) {
        return new InfraImage() {
            @Override
            public String reference() {
                return sandboxImage.reference();
            }

            @Override
            public Resolved resolve() throws IOException, InterruptedException {
                var image = sandboxImage.ensure();
                var imageConfig = ImageConfigs.parse(images.config(image));
                return new Resolved() {
                    @Override
                    public String imageId() {
                        return image.id();
                    }

                    @Override
                    public List<String> args() {
                        return infraArgs(imageConfig);
                    }

                    @Override
                    public List<Mount> prepareRootfs(Path dir) throws IOException {
                        var rootfs = Rootfs.of(images.snapshots(), image, dir);
                        rootfs.prepare();
                        return List.of(rootfs.mount());
                    }
                };
            }
        };
    }

    /** The infra process: the image's entrypoint and command (the builtin image: catatonit in pause mode). */
    static List<String> infraArgs(ImageConfigs.Parsed image) {
        var args = new ArrayList<String>();
        var cfg = image.json().has("config") && image.json().get("config").isJsonObject()
                ? image.json().getAsJsonObject("config") : new JsonObject();
        for (String key : List.of("Entrypoint", "Cmd")) {
            if (cfg.has(key) && cfg.get(key).isJsonArray()) {
                cfg.getAsJsonArray(key).forEach(e -> args.add(e.getAsString()));
            }
        }
        if (args.isEmpty()) {
            throw new IllegalArgumentException("the sandbox image has neither Entrypoint nor Cmd");
        }
        return args;
    }
}
