package dev.bollard.daemon.container;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.bollard.daemon.linux.RequestedFiles;
import dev.bollard.daemon.linux.Syscalls;
import dev.bollard.daemon.snapshot.LayerUnpacker;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.apache.commons.compress.archivers.tar.TarConstants;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * A container checkpoint as one tar archive, in the layout CRI-O and Podman use (and checkpointctl reads):
 * {@code checkpoint/} the CRIU images, {@code config.dump} what the engine knows of the container,
 * {@code spec.dump} its OCI runtime spec, {@code rootfs-diff.tar} the files of its writable layer, and
 * {@code deleted.files} (a JSON list) the image files that layer deleted.
 */
public final class CheckpointArchive {

    public static final String CHECKPOINT_DIRECTORY = "checkpoint";
    public static final String CONFIG_DUMP = "config.dump";
    public static final String SPEC_DUMP = "spec.dump";
    public static final String ROOTFS_DIFF = "rootfs-diff.tar";
    public static final String DELETED_FILES = "deleted.files";

    private CheckpointArchive() {
    }

    /**
     * Writes the archive to {@code location}: built beside it under a temporary name and renamed into place, so
     * {@code location} never holds half an archive.
     */
    public static void write(Path location, Path criuImages, JsonObject config, JsonObject spec, Path upper)
            throws IOException {
        Path tmp = location.resolveSibling("." + location.getFileName() + ".tmp-" + ProcessHandle.current().pid()
                + "-" + System.nanoTime());
        try {
            try (OutputStream out = Files.newOutputStream(tmp); var tar = tarStream(out)) {
                addDirectory(tar, CHECKPOINT_DIRECTORY + "/", 0700);
                try (Stream<Path> files = Files.walk(criuImages)) {
                    for (Path p : files.sorted().toList()) {
                        if (p.equals(criuImages)) {
                            continue;
                        }
                        String name = CHECKPOINT_DIRECTORY + "/" + criuImages.relativize(p);
                        if (Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) {
                            addDirectory(tar, name + "/", 0700);
                        } else if (Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS)) {
                            addFile(tar, name, p, 0600);
                        }
                    }
                }
                addBytes(tar, CONFIG_DUMP, config.toString().getBytes(StandardCharsets.UTF_8));
                addBytes(tar, SPEC_DUMP, spec.toString().getBytes(StandardCharsets.UTF_8));
                Path diff = location.resolveSibling(tmp.getFileName() + "." + ROOTFS_DIFF);
                try {
                    List<String> deleted = writeRootfsDiff(upper, diff);
                    addFile(tar, ROOTFS_DIFF, diff, 0600);
                    if (!deleted.isEmpty()) {
                        var list = new JsonArray();
                        deleted.forEach(list::add);
                        addBytes(tar, DELETED_FILES, list.toString().getBytes(StandardCharsets.UTF_8));
                    }
                } finally {
                    Files.deleteIfExists(diff);
                }
            }
            Files.move(tmp, location, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    /**
     * The writable layer as a tar of what it adds or changes (directories, files, symlinks with their owners,
     * modes and times); an overlayfs whiteout (char device 0:0) is a deleted image file: it goes into the returned
     * list, as a path from the container's root, instead.
     */
    static List<String> writeRootfsDiff(Path upper, Path target) throws IOException {
        var deleted = new ArrayList<String>();
        try (OutputStream out = Files.newOutputStream(target); var tar = tarStream(out);
             Stream<Path> files = Files.walk(upper)) {
            for (Path p : files.sorted().toList()) {
                if (p.equals(upper)) {
                    continue;
                }
                String name = upper.relativize(p).toString();
                Map<String, Object> attrs = Files.readAttributes(p, "unix:mode,uid,gid,lastModifiedTime,rdev",
                        LinkOption.NOFOLLOW_LINKS);
                int mode = (Integer) attrs.get("mode");
                int type = mode & 0170000;
                TarArchiveEntry entry;
                if (type == 0020000 && ((Long) attrs.get("rdev")) == 0) {
                    deleted.add("/" + name);
                    continue;
                } else if (type == 0040000) {
                    entry = new TarArchiveEntry(name + "/", TarConstants.LF_DIR);
                } else if (type == 0120000) {
                    entry = new TarArchiveEntry(name, TarConstants.LF_SYMLINK);
                    entry.setLinkName(Files.readSymbolicLink(p).toString());
                } else if (type == 0100000) {
                    entry = new TarArchiveEntry(name, TarConstants.LF_NORMAL);
                    entry.setSize(Files.size(p));
                } else {
                    continue; // FIFOs, sockets, devices: runtime state, not files to carry along
                }
                entry.setMode(mode & 07777);
                entry.setUserId((Integer) attrs.get("uid"));
                entry.setGroupId((Integer) attrs.get("gid"));
                entry.setModTime((FileTime) attrs.get("lastModifiedTime"));
                tar.putArchiveEntry(entry);
                if (type == 0100000) {
                    Files.copy(p, tar);
                }
                tar.closeArchiveEntry();
            }
        }
        return deleted;
    }

    // ---- reading, for a restore ----

    /** Whether a CreateContainer image names a checkpoint archive (CRI-O style: an absolute path to a file). */
    /** The request field that names an archive to restore from. */
    static final String ARCHIVE_FIELD = "config.image.image (checkpoint archive)";

    /**
     * The most a JSON file of an archive may hold: Bollard's config.dump and spec.dump take a few KiB, a
     * deleted.files list a little more; anything far beyond is an archive made to exhaust the daemon's memory.
     */
    static final int MAX_JSON_ENTRY_BYTES = 16 << 20;

    private static String jsonEntry(TarArchiveInputStream tar, String name, Path archive) throws IOException {
        byte[] bytes = tar.readNBytes(MAX_JSON_ENTRY_BYTES + 1);
        if (bytes.length > MAX_JSON_ENTRY_BYTES) {
            throw new IllegalArgumentException("checkpoint archive " + archive + ": " + name + " is larger than "
                    + MAX_JSON_ENTRY_BYTES + " bytes");
        }
        return new String(bytes, StandardCharsets.UTF_8);
    }

    public static boolean isArchivePath(String image) {
        return image.startsWith("/") && Files.isRegularFile(Path.of(image));
    }

    /** An archive's config.dump and spec.dump. */
    public record Metadata(JsonObject config, JsonObject spec) {

        /** The ID of the image the checkpointed container ran (config.dump's rootfsImage). */
        public String imageId() {
            return config.has("rootfsImage") ? config.get("rootfsImage").getAsString() : "";
        }

        public String imageName() {
            return config.has("rootfsImageName") ? config.get("rootfsImageName").getAsString() : "";
        }

        /** The checkpointed container's CRI config, as protobuf JSON (Bollard's archives carry it). */
        public java.util.Optional<JsonObject> containerConfig() {
            return config.has("containerConfig") && config.get("containerConfig").isJsonObject()
                    ? java.util.Optional.of(config.getAsJsonObject("containerConfig")) : java.util.Optional.empty();
        }
    }

    /**
     * Reads config.dump and spec.dump.
     *
     * @throws IllegalArgumentException naming the archive when it is no checkpoint archive
     */
    public static Metadata readMetadata(Path archive) throws IOException {
        JsonObject config = null;
        JsonObject spec = null;
        try (var tar = new TarArchiveInputStream(RequestedFiles.open(archive, ARCHIVE_FIELD))) {
            for (TarArchiveEntry e = tar.getNextEntry(); e != null; e = tar.getNextEntry()) {
                String name = stripDot(e.getName());
                if (name.equals(CONFIG_DUMP) || name.equals(SPEC_DUMP)) {
                    var json = JsonParser.parseString(jsonEntry(tar, name, archive));
                    if (!json.isJsonObject()) {
                        throw new IllegalArgumentException("checkpoint archive " + archive + ": " + name
                                + " is not a JSON object");
                    }
                    if (name.equals(CONFIG_DUMP)) {
                        config = json.getAsJsonObject();
                    } else {
                        spec = json.getAsJsonObject();
                    }
                }
            }
        } catch (com.google.gson.JsonParseException e) {
            throw new IllegalArgumentException("checkpoint archive " + archive + ": " + e.getMessage(), e);
        } catch (IOException e) {
            throw new IllegalArgumentException("image " + archive + " is a file but not a readable checkpoint archive: "
                    + e.getMessage(), e);
        }
        if (config == null || spec == null) {
            throw new IllegalArgumentException("image " + archive + " is a file but not a checkpoint archive (no "
                    + (config == null ? CONFIG_DUMP : SPEC_DUMP) + ")");
        }
        return new Metadata(config, spec);
    }

    /**
     * Unpacks a checkpoint for a restore: the CRIU images into {@code criuImages} (regular files and directories
     * only, nothing outside it), the rootfs diff into the new container's empty writable layer {@code upper} (through
     * {@link LayerUnpacker}, which refuses escapes), and each deleted file as a whiteout there.
     */
    public static void extract(Path archive, Path criuImages, Path upper) throws IOException {
        Files.createDirectories(criuImages);
        Path imagesRoot = criuImages.toAbsolutePath().normalize();
        String prefix = CHECKPOINT_DIRECTORY + "/";
        var deleted = new ArrayList<String>();
        try (var tar = new TarArchiveInputStream(RequestedFiles.open(archive, ARCHIVE_FIELD))) {
            for (TarArchiveEntry e = tar.getNextEntry(); e != null; e = tar.getNextEntry()) {
                String name = stripDot(e.getName());
                if (name.startsWith(prefix) && name.length() > prefix.length()) {
                    Path target = imagesRoot.resolve(name.substring(prefix.length())).normalize();
                    if (!target.startsWith(imagesRoot) || target.equals(imagesRoot)) {
                        throw new IllegalArgumentException("checkpoint archive " + archive + ": entry " + name
                                + " leaves " + CHECKPOINT_DIRECTORY + "/");
                    }
                    if (e.isDirectory()) {
                        Files.createDirectories(target);
                    } else if (e.isFile()) {
                        Files.createDirectories(target.getParent());
                        Files.copy(tar, target, StandardCopyOption.REPLACE_EXISTING);
                    }
                } else if (name.equals(ROOTFS_DIFF)) {
                    LayerUnpacker.unpack(tar, "application/vnd.oci.image.layer.v1.tar", upper);
                } else if (name.equals(DELETED_FILES)) {
                    var list = JsonParser.parseString(jsonEntry(tar, name, archive));
                    if (!list.isJsonArray()) {
                        throw new IllegalArgumentException("checkpoint archive " + archive + ": " + DELETED_FILES
                                + " is not a JSON list");
                    }
                    list.getAsJsonArray().forEach(v -> deleted.add(v.getAsString()));
                }
            }
        }
        for (String path : deleted) {
            whiteout(upper, path, archive);
        }
    }

    /** A deleted image file becomes an overlayfs whiteout in the new writable layer; no parent may be a symlink. */
    private static void whiteout(Path upper, String path, Path archive) throws IOException {
        Path root = upper.toAbsolutePath().normalize();
        Path target = root.resolve(path.startsWith("/") ? path.substring(1) : path).normalize();
        if (!target.startsWith(root) || target.equals(root)) {
            throw new IllegalArgumentException("checkpoint archive " + archive + ": deleted file " + path
                    + " lies outside the root");
        }
        Path dir = root;
        for (Path part : root.relativize(target.getParent() == null ? root : target.getParent())) {
            if (part.toString().isEmpty()) {
                continue;
            }
            dir = dir.resolve(part);
            if (Files.isSymbolicLink(dir)) {
                throw new IllegalArgumentException("checkpoint archive " + archive + ": deleted file " + path
                        + " lies below a symlink");
            }
            if (!Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) {
                Files.createDirectory(dir);
            }
        }
        if (!Files.exists(target, LinkOption.NOFOLLOW_LINKS)) {
            Syscalls.mknod(target, Syscalls.S_IFCHR, 0, 0);
        }
    }

    private static String stripDot(String name) {
        return name.startsWith("./") ? name.substring(2) : name;
    }

    private static TarArchiveOutputStream tarStream(OutputStream out) {
        var tar = new TarArchiveOutputStream(out, StandardCharsets.UTF_8.name());
        tar.setLongFileMode(TarArchiveOutputStream.LONGFILE_POSIX);
        tar.setBigNumberMode(TarArchiveOutputStream.BIGNUMBER_POSIX);
        return tar;
    }

    private static void addDirectory(TarArchiveOutputStream tar, String name, int mode) throws IOException {
        var entry = new TarArchiveEntry(name, TarConstants.LF_DIR);
        entry.setMode(mode);
        tar.putArchiveEntry(entry);
        tar.closeArchiveEntry();
    }

    private static void addFile(TarArchiveOutputStream tar, String name, Path file, int mode) throws IOException {
        var entry = new TarArchiveEntry(name, TarConstants.LF_NORMAL);
        entry.setMode(mode);
        entry.setSize(Files.size(file));
        entry.setModTime(Files.getLastModifiedTime(file));
        tar.putArchiveEntry(entry);
        Files.copy(file, tar);
        tar.closeArchiveEntry();
    }

    private static void addBytes(TarArchiveOutputStream tar, String name, byte[] data) throws IOException {
        var entry = new TarArchiveEntry(name, TarConstants.LF_NORMAL);
        entry.setMode(0600);
        entry.setSize(data.length);
        tar.putArchiveEntry(entry);
        tar.write(data);
        tar.closeArchiveEntry();
    }

    /** Where a restored container's bundle keeps the CRIU images from its archive until StartContainer restores them. */
    public static final String RESTORE_IMAGES = "restore-checkpoint";

    /**
     * The config a restored container is created with: the request's, with the process side (command, args, env,
     * working dir, mounts, tty/stdin) taken from the checkpointed container's CRI config where the request leaves it
     * empty, since CRIU brings back that process with those files and mounts; the image stays the archive.
     */
    public static dev.bollard.api.cri.v1.ContainerConfig restoredConfig(dev.bollard.api.cri.v1.ContainerConfig requested,
            Metadata checkpoint) {
        var original = checkpoint.containerConfig();
        if (original.isEmpty()) {
            return requested;
        }
        var was = dev.bollard.api.cri.v1.ContainerConfig.newBuilder();
        try {
            com.google.protobuf.util.JsonFormat.parser().ignoringUnknownFields().merge(original.get().toString(), was);
        } catch (com.google.protobuf.InvalidProtocolBufferException e) {
            throw new IllegalArgumentException("checkpoint archive: config.dump's containerConfig is not a CRI "
                    + "ContainerConfig: " + e.getMessage(), e);
        }
        var out = requested.toBuilder();
        if (requested.getCommandCount() == 0 && requested.getArgsCount() == 0) {
            out.addAllCommand(was.getCommandList()).addAllArgs(was.getArgsList());
        }
        if (requested.getEnvsCount() == 0) {
            out.addAllEnvs(was.getEnvsList());
        }
        if (requested.getWorkingDir().isEmpty()) {
            out.setWorkingDir(was.getWorkingDir());
        }
        if (requested.getMountsCount() == 0) {
            out.addAllMounts(was.getMountsList());
        }
        if (!requested.hasLinux() && was.hasLinux()) {
            out.setLinux(was.getLinux());
        }
        out.setTty(was.getTty()).setStdin(was.getStdin()).setStdinOnce(was.getStdinOnce());
        return out.build();
    }

}
