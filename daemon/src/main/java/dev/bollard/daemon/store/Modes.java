package dev.bollard.daemon.store;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Set;

/**
 * The modes of what holds a container's spec (its env: Kubernetes secrets), as containerd keeps its state:
 * records and specs are 0600; the record directories ({@code <root>/store/...}) 0700, since only the daemon reads
 * them; the directories on the way to a bundle ({@code <state>/containers/<id>}, {@code <state>/pods/<id>}) and to
 * a writable layer 0711: a container in a user namespace of its own prepares its rootfs, /dev/shm and pod files as
 * an unprivileged host user, which must traverse them but need not list them.
 */
public final class Modes {

    public static final Set<PosixFilePermission> PRIVATE_FILE = PosixFilePermissions.fromString("rw-------");
    public static final Set<PosixFilePermission> PRIVATE_DIR = PosixFilePermissions.fromString("rwx------");
    public static final Set<PosixFilePermission> TRAVERSABLE_DIR = PosixFilePermissions.fromString("rwx--x--x");

    private Modes() {
    }

    /** {@code dir} (created with its parents if missing) made 0700. */
    public static Path privateDirectory(Path dir) throws IOException {
        Files.createDirectories(dir);
        Files.setPosixFilePermissions(dir, PRIVATE_DIR);
        return dir;
    }

    /** {@code dir} (created with its parents if missing) made 0711. */
    public static Path traversableDirectory(Path dir) throws IOException {
        Files.createDirectories(dir);
        Files.setPosixFilePermissions(dir, TRAVERSABLE_DIR);
        return dir;
    }

    /**
     * At start, before the managers: the record and bundle directories get their modes, and what an older Bollard
     * wrote world-readable (records, bundles' {@code config.json}) is made private.
     */
    public static void secure(Path root, Path state) throws IOException {
        Path store = privateDirectory(root.resolve("store"));
        for (String kind : new String[]{"sandboxes", "containers"}) {
            Path dir = privateDirectory(store.resolve(kind));
            try (var files = Files.list(dir)) {
                for (Path f : files.filter(Files::isRegularFile).toList()) {
                    chmodIfPresent(f, PRIVATE_FILE);
                }
            }
        }
        for (Path dir : new Path[]{root.resolve("containers"), root.resolve("pods"), state.resolve("containers"),
                state.resolve("pods")}) {
            traversableDirectory(dir);
        }
        for (Path bundles : new Path[]{state.resolve("containers"), state.resolve("pods")}) {
            try (var dirs = Files.list(bundles)) {
                for (Path bundle : dirs.filter(Files::isDirectory).toList()) {
                    chmodIfPresent(bundle, TRAVERSABLE_DIR);
                    chmodIfPresent(bundle.resolve("config.json"), PRIVATE_FILE);
                }
            }
        }
    }

    private static void chmodIfPresent(Path p, Set<PosixFilePermission> mode) throws IOException {
        try {
            Files.setPosixFilePermissions(p, mode);
        } catch (NoSuchFileException gone) {
            // removed meanwhile, or a bundle without a spec
        }
    }
}
