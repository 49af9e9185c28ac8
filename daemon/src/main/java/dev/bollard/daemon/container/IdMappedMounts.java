package dev.bollard.daemon.container;

import com.google.gson.JsonObject;
import dev.bollard.api.cri.v1.ContainerConfig;
import dev.bollard.daemon.linux.Syscalls;
import dev.bollard.daemon.oci.SpecBuilder;
import dev.bollard.daemon.oci.UserNamespaces;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;

/**
 * What a container in a pod with a user namespace of its own sees its files through: idmapped mounts made by
 * Bollard (runc 1.1 has none of its own), all under the bundle's {@code idmap/} so that removal, a failed create
 * and recovery unmount them with the rest of the bundle ({@code MountInfo.unmountBelow}).
 *
 * <p>The image is not chowned: the overlay's lower dirs are read through one idmapped mount of the snapshot
 * store, so a file of uid n in a layer is uid n inside. Overlayfs does its own work (work dir, copy-up) with the
 * mounter's credentials, host root, which an idmapped mount cannot represent (EOVERFLOW), so the writable layer
 * is a plain directory owned by the pod's root on the host: what the container writes is stored with host IDs.
 * Volumes with uidMappings/gidMappings (the kubelet sets the pod's on every volume that supports idmapped
 * mounts; SpecBuilder checked they are the pod's) are idmapped each, so their files keep their on-disk owners
 * inside too; a volume without mappings is a plain bind, as the CRI has it (host IDs outside the pod's range show
 * as the overflow ID inside).
 */
public final class IdMappedMounts {

    public static final String DIR = "idmap";

    private IdMappedMounts() {
    }

    /** The mount of the snapshot store for a bundle, if one was made. */
    public static Path layersView(Path bundle) {
        return bundle.resolve(DIR).resolve("layers");
    }

    /** The idmapped view of the image's layers, and the writable layer owned by the pod's root. */
    public static Rootfs rootfs(Rootfs rootfs, Path bundle, Path usernsFile, UserNamespaces.Mappings userns)
            throws IOException {
        Path view = Files.createDirectories(layersView(bundle));
        Syscalls.idmappedBind(rootfs.snapshotRoot(), view, usernsFile);
        Syscalls.lchown(rootfs.upper(), (int) userns.hostRootUid(), (int) userns.hostRootGid());
        return rootfs.viewedThrough(view);
    }

    /**
     * Each bind mount of the spec that comes from a config mount with mappings gets its source replaced by an
     * idmapped mount of it under the bundle. A source whose file system cannot be idmapped is refused, naming the
     * mount.
     */
    public static void volumes(JsonObject spec, ContainerConfig config, Path bundle, Path usernsFile) throws IOException {
        var staged = new HashMap<String, String>();
        for (var volume : SpecBuilder.idmappedVolumes(spec, config)) {
            Path source = Path.of(volume.source());
            Path view = bundle.resolve(DIR).resolve("volume-" + volume.index());
            Files.createDirectories(view.getParent());
            if (Files.isDirectory(source)) {
                Files.createDirectories(view);
            } else {
                Files.createFile(view);
            }
            try {
                Syscalls.idmappedBind(source, view, usernsFile);
            } catch (Syscalls.ErrnoException ex) {
                if (ex.errno() == Syscalls.EINVAL || ex.errno() == Syscalls.EOPNOTSUPP || ex.errno() == Syscalls.EPERM) {
                    throw new IllegalArgumentException("mounts[" + volume.index() + "] (" + volume.destination()
                            + "): host_path " + source + " cannot be idmapped for the pod's user namespace: "
                            + ex.getMessage(), ex);
                }
                throw ex;
            }
            staged.put(volume.destination(), view.toString());
        }
        SpecBuilder.rebindVolumes(spec, staged);
    }
}
