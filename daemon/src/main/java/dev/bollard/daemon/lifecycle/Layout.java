package dev.bollard.daemon.lifecycle;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Where pods and containers keep their files: bundles under {@code <state>/pods|containers/<id>} (the OCI bundle, the
 * shim's files, the rootfs mount point), their own directories under {@code <root>/pods|containers/<id>} (pod
 * files, writable layers), netns pins under {@code <state>/netns/<id>}, records under {@code <root>/store/}, what
 * removals took away under {@code <root>/trash} and {@code <state>/trash} until it is deleted ({@link Trash}).
 */
public record Layout(Path podBundles, Path podDirs, Path netnsDir, Path containerBundles, Path containerDirs,
                     Path sandboxRecords, Path containerRecords, Trash trash) {

    /** The layout below a daemon's root and state directories, its directories created. */
    public static Layout create(Path root, Path state) throws IOException {
        var l = new Layout(state.resolve("pods"), root.resolve("pods"), state.resolve("netns"),
                state.resolve("containers"), root.resolve("containers"), root.resolve("store").resolve("sandboxes"),
                root.resolve("store").resolve("containers"), new Trash(root.resolve("trash"), state.resolve("trash")));
        for (Path d : new Path[] {l.podBundles, l.podDirs, l.netnsDir, l.containerBundles, l.containerDirs}) {
            Files.createDirectories(d);
        }
        return l;
    }

    public Path podBundle(String id) {
        return podBundles.resolve(id);
    }

    public Path podDir(String id) {
        return podDirs.resolve(id);
    }

    public Path netns(String id) {
        return netnsDir.resolve(id);
    }

    public Path containerBundle(String id) {
        return containerBundles.resolve(id);
    }

    public Path containerDir(String id) {
        return containerDirs.resolve(id);
    }
}
