package dev.bollard.daemon.container;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
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
}
