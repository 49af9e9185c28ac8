package dev.bollard.daemon.image;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import dev.bollard.daemon.content.Digest;
import dev.bollard.daemon.image.ref.ImageReference;
import dev.bollard.daemon.registry.MediaTypes;
import dev.bollard.daemon.registry.Platform;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.apache.commons.compress.archivers.tar.TarConstants;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.time.Instant;
import java.util.Comparator;
import java.util.List;
import java.util.Set;
import java.util.zip.GZIPOutputStream;

/**
 * Builds a one-layer OCI image from a directory and writes it as an OCI image layout archive: how the demo and
 * tests get images with no registry and no internet (for example a directory holding Debian's static busybox).
 * Entries are owned by root and carry a fixed time, so the same directory always gives the same image ID.
 */
public final class ImageBuilder {

    /** The fixed time of every entry and of the config: builds are reproducible. */
    static final Instant EPOCH = Instant.parse("2000-01-01T00:00:00Z");

    public record Spec(ImageReference name, List<String> entrypoint, List<String> cmd, List<String> env,
                       String workingDir, String user) {
    }

    private ImageBuilder() {
    }

    /** @return the image ID (config digest) */
    public static Digest build(Path rootfs, Spec spec, OutputStream out) throws IOException {
        if (!Files.isDirectory(rootfs)) {
            throw new IllegalArgumentException(rootfs + " is not a directory");
        }
        byte[] tar = layerTar(rootfs);
        byte[] layer = gzip(tar);
        Digest diffId = Digest.sha256(tar);
        Platform node = Platform.node();

        var config = new JsonObject();
        config.addProperty("created", EPOCH.toString());
        config.addProperty("architecture", node.architecture());
        config.addProperty("os", node.os());
        var run = new JsonObject();
        run.add("Env", strings(spec.env().isEmpty()
                ? List.of("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin") : spec.env()));
        if (!spec.entrypoint().isEmpty()) {
            run.add("Entrypoint", strings(spec.entrypoint()));
        }
        if (!spec.cmd().isEmpty()) {
            run.add("Cmd", strings(spec.cmd()));
        }
        if (!spec.workingDir().isEmpty()) {
            run.addProperty("WorkingDir", spec.workingDir());
        }
        if (!spec.user().isEmpty()) {
            run.addProperty("User", spec.user());
        }
        config.add("config", run);
        var rootfsJson = new JsonObject();
        rootfsJson.addProperty("type", "layers");
        rootfsJson.add("diff_ids", strings(List.of(diffId.toString())));
        config.add("rootfs", rootfsJson);
        byte[] configBytes = config.toString().getBytes(StandardCharsets.UTF_8);

        var manifest = new JsonObject();
        manifest.addProperty("schemaVersion", 2);
        manifest.addProperty("mediaType", MediaTypes.OCI_MANIFEST);
        manifest.add("config", descriptor(MediaTypes.OCI_CONFIG, configBytes));
        var layers = new JsonArray();
        layers.add(descriptor(MediaTypes.OCI_LAYER_GZIP, layer));
        manifest.add("layers", layers);
        byte[] manifestBytes = manifest.toString().getBytes(StandardCharsets.UTF_8);

        var index = new JsonObject();
        index.addProperty("schemaVersion", 2);
        index.addProperty("mediaType", MediaTypes.OCI_INDEX);
        var entry = descriptor(MediaTypes.OCI_MANIFEST, manifestBytes);
        var annotations = new JsonObject();
        annotations.addProperty(ImageArchives.ANNOTATION_IMAGE_NAME, spec.name().toString());
        spec.name().tag().ifPresent(t -> annotations.addProperty(ImageArchives.ANNOTATION_REF_NAME, t));
        entry.add("annotations", annotations);
        var manifests = new JsonArray();
        manifests.add(entry);
        index.add("manifests", manifests);

        try (var archive = new TarArchiveOutputStream(out)) {
            archive.setLongFileMode(TarArchiveOutputStream.LONGFILE_POSIX);
            file(archive, ImageArchives.OCI_LAYOUT, "{\"imageLayoutVersion\":\"1.0.0\"}".getBytes(StandardCharsets.UTF_8));
            file(archive, ImageArchives.INDEX_JSON, index.toString().getBytes(StandardCharsets.UTF_8));
            for (byte[] blob : List.of(manifestBytes, configBytes, layer)) {
                file(archive, "blobs/sha256/" + Digest.sha256(blob).hex(), blob);
            }
        }
        return Digest.sha256(configBytes);
    }

    private static byte[] layerTar(Path rootfs) throws IOException {
        var bytes = new ByteArrayOutputStream();
        try (var tar = new TarArchiveOutputStream(bytes); var walk = Files.walk(rootfs)) {
            tar.setLongFileMode(TarArchiveOutputStream.LONGFILE_POSIX);
            tar.setBigNumberMode(TarArchiveOutputStream.BIGNUMBER_POSIX);
            for (Path p : walk.sorted(Comparator.comparing(Path::toString)).toList()) {
                if (p.equals(rootfs)) {
                    continue;
                }
                String name = rootfs.relativize(p).toString().replace('\\', '/');
                TarArchiveEntry e;
                boolean regular = false;
                if (Files.isSymbolicLink(p)) {
                    e = new TarArchiveEntry(name, TarConstants.LF_SYMLINK);
                    e.setLinkName(Files.readSymbolicLink(p).toString());
                    e.setMode(0120777);
                } else if (Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) {
                    e = new TarArchiveEntry(name + "/");
                    e.setMode(040000 | mode(p));
                } else if (Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS)) {
                    e = new TarArchiveEntry(name);
                    e.setSize(Files.size(p));
                    e.setMode(0100000 | mode(p));
                    regular = true;
                } else {
                    throw new IllegalArgumentException(p + ": only files, directories and symlinks go into an image layer");
                }
                e.setModTime(EPOCH.toEpochMilli());
                e.setIds(0, 0);
                tar.putArchiveEntry(e);
                if (regular) {
                    Files.copy(p, tar);
                }
                tar.closeArchiveEntry();
            }
        }
        return bytes.toByteArray();
    }

    private static int mode(Path p) throws IOException {
        Set<PosixFilePermission> perms = Files.getPosixFilePermissions(p, LinkOption.NOFOLLOW_LINKS);
        int mode = 0;
        for (var perm : perms) {
            mode |= 1 << (8 - perm.ordinal());
        }
        return mode;
    }

    private static byte[] gzip(byte[] data) throws IOException {
        var out = new ByteArrayOutputStream(data.length / 2);
        try (var gz = new GZIPOutputStream(out, 1 << 16)) {
            gz.write(data);
        }
        return out.toByteArray();
    }

    private static JsonArray strings(List<String> values) {
        var a = new JsonArray();
        values.forEach(a::add);
        return a;
    }

    private static JsonObject descriptor(String mediaType, byte[] content) {
        var d = new JsonObject();
        d.addProperty("mediaType", mediaType);
        d.addProperty("digest", Digest.sha256(content).toString());
        d.addProperty("size", content.length);
        return d;
    }

    private static void file(TarArchiveOutputStream tar, String name, byte[] bytes) throws IOException {
        var e = new TarArchiveEntry(name);
        e.setSize(bytes.length);
        e.setModTime(EPOCH.toEpochMilli());
        tar.putArchiveEntry(e);
        tar.write(bytes);
        tar.closeArchiveEntry();
    }
}
