package dev.bollard.daemon.testkit;

import com.google.gson.Gson;
import dev.bollard.daemon.content.Digest;
import dev.bollard.daemon.registry.MediaTypes;
import dev.bollard.daemon.registry.Platform;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.GZIPOutputStream;

/**
 * Small images built in memory, without internet: a layer with Debian's static busybox as {@code /bin/busybox}
 * and {@code /bin/sh -> busybox}, a layer of text files, a config and a manifest (OCI or Docker schema 2), and
 * indexes over several platforms. Everything is deterministic (fixed mtimes), so digests are stable.
 */
public final class TestImages {
    private TestImages() {
    }

    private static final Gson GSON = new Gson();
    private static final long MTIME = 1_700_000_000_000L;

    /** A blob with its media type. */
    public record Blob(String mediaType, byte[] bytes) {
        public Digest digest() {
            return Digest.sha256(bytes);
        }

        public long size() {
            return bytes.length;
        }

        Map<String, Object> descriptor() {
            var m = new LinkedHashMap<String, Object>();
            m.put("mediaType", mediaType);
            m.put("digest", digest().toString());
            m.put("size", bytes.length);
            return m;
        }
    }

    /** One image: config, layers (base first) and the manifest over them. */
    public record Image(Platform platform, Blob config, List<Blob> layers, Blob manifest) {
        /** Pushes the blobs, then the manifest under {@code reference} (a tag, or its digest when null). */
        public void push(TestPush push, String repository, String reference) throws IOException, InterruptedException {
            push.blob(repository, config.bytes());
            for (Blob l : layers) {
                push.blob(repository, l.bytes());
            }
            push.manifest(repository, reference == null ? manifest.digest().toString() : reference,
                    manifest.mediaType(), manifest.bytes());
        }
    }

    /** An index and the images it lists. */
    public record Index(Blob index, List<Image> images) {
        public void push(TestPush push, String repository, String tag) throws IOException, InterruptedException {
            for (Image i : images) {
                i.push(push, repository, null);
            }
            push.manifest(repository, tag, index.mediaType(), index.bytes());
        }
    }

    /** A tar entry to put in a layer: a file (content) or a symlink (linkTarget). */
    public record Entry(String path, byte[] content, String linkTarget, int mode) {
        public static Entry file(String path, byte[] content, int mode) {
            return new Entry(path, content, null, mode);
        }

        public static Entry file(String path, String content) {
            return file(path, content.getBytes(StandardCharsets.UTF_8), 0644);
        }

        public static Entry symlink(String path, String target) {
            return new Entry(path, null, target, 0777);
        }
    }

    /** An uncompressed tar of the entries, with their parent directories. */
    public static byte[] tar(List<Entry> entries) {
        var out = new ByteArrayOutputStream();
        try (var tar = new TarArchiveOutputStream(out)) {
            tar.setLongFileMode(TarArchiveOutputStream.LONGFILE_POSIX);
            var dirs = new java.util.TreeSet<String>();
            for (Entry e : entries) {
                String p = e.path();
                for (int i = p.indexOf('/'); i >= 0; i = p.indexOf('/', i + 1)) {
                    if (i > 0) {
                        dirs.add(p.substring(0, i) + "/");
                    }
                }
            }
            for (String d : dirs) {
                var te = new TarArchiveEntry(d);
                te.setMode(040755);
                te.setModTime(MTIME);
                tar.putArchiveEntry(te);
                tar.closeArchiveEntry();
            }
            for (Entry e : entries) {
                TarArchiveEntry te;
                if (e.linkTarget() != null) {
                    te = new TarArchiveEntry(e.path(), TarArchiveEntry.LF_SYMLINK);
                    te.setLinkName(e.linkTarget());
                    te.setMode(0120777);
                } else {
                    te = new TarArchiveEntry(e.path());
                    te.setSize(e.content().length);
                    te.setMode(0100000 | e.mode());
                }
                te.setModTime(MTIME);
                tar.putArchiveEntry(te);
                if (e.content() != null) {
                    tar.write(e.content());
                }
                tar.closeArchiveEntry();
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toByteArray();
    }

    public static byte[] gzip(byte[] data) {
        var out = new ByteArrayOutputStream();
        try (var gz = new GZIPOutputStream(out)) {
            gz.write(data);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toByteArray();
    }

    /** The busybox layer's entries: Debian's static busybox and a /bin/sh symlink to it. */
    public static List<Entry> busyboxEntries() {
        try {
            return List.of(Entry.file("bin/busybox", Files.readAllBytes(Path.of("/bin/busybox")), 0755),
                    Entry.symlink("bin/sh", "busybox"));
        } catch (IOException e) {
            throw new UncheckedIOException("busybox-static is needed: apt-get install busybox-static", e);
        }
    }

    /** An OCI image for linux/amd64 with busybox, plus a layer of files naming the image. */
    public static Image busybox() {
        return image(Platform.LINUX_AMD64, false, List.of(busyboxEntries(),
                List.of(Entry.file("etc/hello.txt", "hello from bollard\n"), Entry.file("etc/os-release",
                        "ID=bollard-test\n"))));
    }

    /** A small OCI image with one text layer for any platform (its content names the platform). */
    public static Image tiny(Platform platform) {
        return image(platform, false, List.of(List.of(Entry.file("etc/platform", platform + "\n"))));
    }

    /** Docker schema 2 media types instead of OCI. */
    public static Image docker(Platform platform) {
        return image(platform, true, List.of(List.of(Entry.file("etc/platform", "docker " + platform + "\n"))));
    }

    public static Image image(Platform platform, boolean docker, List<List<Entry>> layerEntries) {
        var layers = new ArrayList<Blob>();
        var diffIds = new ArrayList<String>();
        for (List<Entry> entries : layerEntries) {
            byte[] tar = tar(entries);
            diffIds.add(Digest.sha256(tar).toString());
            layers.add(new Blob(docker ? MediaTypes.DOCKER_LAYER_GZIP : MediaTypes.OCI_LAYER_GZIP, gzip(tar)));
        }
        var config = new LinkedHashMap<String, Object>();
        config.put("created", "2023-11-14T22:13:20Z");
        config.put("architecture", platform.architecture());
        if (!platform.variant().isEmpty()) {
            config.put("variant", platform.variant());
        }
        config.put("os", platform.os());
        var run = new LinkedHashMap<String, Object>();
        run.put("Env", List.of("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"));
        run.put("Cmd", List.of("/bin/sh"));
        config.put("config", run);
        var rootfs = new LinkedHashMap<String, Object>();
        rootfs.put("type", "layers");
        rootfs.put("diff_ids", diffIds);
        config.put("rootfs", rootfs);
        var configBlob = new Blob(docker ? MediaTypes.DOCKER_CONFIG : MediaTypes.OCI_CONFIG, json(config));
        var manifest = new LinkedHashMap<String, Object>();
        manifest.put("schemaVersion", 2);
        manifest.put("mediaType", docker ? MediaTypes.DOCKER_MANIFEST : MediaTypes.OCI_MANIFEST);
        manifest.put("config", configBlob.descriptor());
        manifest.put("layers", layers.stream().map(Blob::descriptor).toList());
        return new Image(platform, configBlob, layers,
                new Blob(docker ? MediaTypes.DOCKER_MANIFEST : MediaTypes.OCI_MANIFEST, json(manifest)));
    }

    /** An index (OCI) or manifest list (Docker) over the images, each entry carrying its platform. */
    public static Index index(boolean docker, List<Image> images) {
        var entries = new ArrayList<Map<String, Object>>();
        for (Image i : images) {
            var d = i.manifest().descriptor();
            var p = new LinkedHashMap<String, Object>();
            p.put("architecture", i.platform().architecture());
            p.put("os", i.platform().os());
            if (!i.platform().variant().isEmpty()) {
                p.put("variant", i.platform().variant());
            }
            d.put("platform", p);
            entries.add(d);
        }
        var index = new LinkedHashMap<String, Object>();
        index.put("schemaVersion", 2);
        index.put("mediaType", docker ? MediaTypes.DOCKER_MANIFEST_LIST : MediaTypes.OCI_INDEX);
        index.put("manifests", entries);
        return new Index(new Blob(docker ? MediaTypes.DOCKER_MANIFEST_LIST : MediaTypes.OCI_INDEX, json(index)),
                images);
    }

    public static byte[] json(Object o) {
        return GSON.toJson(o).getBytes(StandardCharsets.UTF_8);
    }
}
