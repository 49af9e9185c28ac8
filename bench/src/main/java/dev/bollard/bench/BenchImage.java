package dev.bollard.bench;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.DigestOutputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Date;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.zip.GZIPOutputStream;

/**
 * A generated multi-layer OCI image (gzip layers), deterministic for its parameters and cached on disk under
 * {@code <cache>/<key>/} so that reruns skip the generation.
 *
 * <p>Every file is made of 4 KiB chunks, each either random bytes (incompressible) or text drawn from a fixed
 * vocabulary with skewed word frequencies (gzip shrinks it ~2.5x), so inflating a layer costs what it costs on real images rather than the
 * near-nothing of zero-filled or fully random files. File sizes are log-uniform between 512 bytes and 4 MiB, in
 * nested directories, as in a distribution's /usr.
 */
final class BenchImage {

    /** Bump when the generator's output changes, so stale caches are not reused. */
    private static final int GENERATOR_VERSION = 2;
    static final String MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json";
    static final String CONFIG_TYPE = "application/vnd.oci.image.config.v1+json";
    static final String LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip";
    private static final Instant EPOCH = Instant.parse("2025-01-01T00:00:00Z");
    private static final Gson GSON = new GsonBuilder().disableHtmlEscaping().create();

    record Spec(int layers, int layerMiB, int randomPercent, long seed) {
        String key() {
            return "pull-v%d-l%d-m%d-r%d-s%d".formatted(GENERATOR_VERSION, layers, layerMiB, randomPercent, seed);
        }
    }

    record Layer(Path file, String digest, long size, String diffId, long uncompressedSize, int files) {
    }

    record Built(Spec spec, List<Layer> layers, byte[] config, String configDigest, byte[] manifest,
                 String manifestDigest, boolean fromCache) {
        long compressedBytes() {
            return layers.stream().mapToLong(Layer::size).sum();
        }

        long uncompressedBytes() {
            return layers.stream().mapToLong(Layer::uncompressedSize).sum();
        }

        int files() {
            return layers.stream().mapToInt(Layer::files).sum();
        }
    }

    private record Meta(List<Map<String, Object>> layers) {
    }

    private BenchImage() {
    }

    /** The image for {@code spec}, from {@code cacheRoot/<key>} or generated into it. */
    static Built get(Spec spec, Path cacheRoot) throws IOException, InterruptedException {
        Path dir = cacheRoot.resolve(spec.key());
        Built cached = load(spec, dir);
        if (cached != null) {
            return cached;
        }
        Files.createDirectories(cacheRoot);
        Path tmp = Files.createTempDirectory(cacheRoot, spec.key() + ".tmp");
        try {
            var pool = Executors.newFixedThreadPool(Math.max(1, Runtime.getRuntime().availableProcessors()));
            var futures = new ArrayList<Future<Layer>>();
            for (int i = 0; i < spec.layers(); i++) {
                int n = i;
                futures.add(pool.submit(() -> writeLayer(spec, n, tmp.resolve("layer-" + n + ".tar.gz"))));
            }
            pool.shutdown();
            var metas = new ArrayList<Map<String, Object>>();
            for (var f : futures) {
                Layer l;
                try {
                    l = f.get();
                } catch (java.util.concurrent.ExecutionException e) {
                    throw new IOException("generating a layer failed: " + e.getCause(), e.getCause());
                }
                var m = new LinkedHashMap<String, Object>();
                m.put("file", l.file().getFileName().toString());
                m.put("digest", l.digest());
                m.put("size", l.size());
                m.put("diffId", l.diffId());
                m.put("uncompressedSize", l.uncompressedSize());
                m.put("files", l.files());
                metas.add(m);
            }
            Files.writeString(tmp.resolve("meta.json"), GSON.toJson(new Meta(metas)));
            if (Files.exists(dir)) {
                Workspace.removeTree(dir);
            }
            Files.move(tmp, dir, StandardCopyOption.ATOMIC_MOVE);
        } finally {
            if (Files.exists(tmp)) {
                Workspace.removeTree(tmp);
            }
        }
        Built built = load(spec, dir);
        if (built == null) {
            throw new IOException("generated image in " + dir + " does not load back");
        }
        return new Built(spec, built.layers(), built.config(), built.configDigest(), built.manifest(),
                built.manifestDigest(), false);
    }

    @SuppressWarnings("unchecked")
    private static Built load(Spec spec, Path dir) throws IOException {
        Path metaFile = dir.resolve("meta.json");
        if (!Files.isRegularFile(metaFile)) {
            return null;
        }
        Map<String, Object> meta = GSON.fromJson(Files.readString(metaFile), Map.class);
        var layers = new ArrayList<Layer>();
        for (Object o : (List<Object>) meta.get("layers")) {
            var m = (Map<String, Object>) o;
            Path file = dir.resolve((String) m.get("file"));
            long size = ((Number) m.get("size")).longValue();
            if (!Files.isRegularFile(file) || Files.size(file) != size) {
                return null;
            }
            layers.add(new Layer(file, (String) m.get("digest"), size, (String) m.get("diffId"),
                    ((Number) m.get("uncompressedSize")).longValue(), ((Number) m.get("files")).intValue()));
        }
        if (layers.size() != spec.layers()) {
            return null;
        }
        var config = new LinkedHashMap<String, Object>();
        config.put("created", EPOCH.toString());
        config.put("architecture", "amd64");
        config.put("os", "linux");
        config.put("config", Map.of("Env", List.of("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
                "Cmd", List.of("/bin/sh")));
        config.put("rootfs", Map.of("type", "layers", "diff_ids", layers.stream().map(Layer::diffId).toList()));
        byte[] configBytes = GSON.toJson(config).getBytes(StandardCharsets.UTF_8);
        String configDigest = sha256(configBytes);
        var manifest = new LinkedHashMap<String, Object>();
        manifest.put("schemaVersion", 2);
        manifest.put("mediaType", MANIFEST_TYPE);
        manifest.put("config", Map.of("mediaType", CONFIG_TYPE, "digest", configDigest, "size", configBytes.length));
        manifest.put("layers", layers.stream().map(l -> Map.of("mediaType", LAYER_TYPE, "digest", l.digest(),
                "size", l.size())).toList());
        byte[] manifestBytes = GSON.toJson(manifest).getBytes(StandardCharsets.UTF_8);
        return new Built(spec, layers, configBytes, configDigest, manifestBytes, sha256(manifestBytes), true);
    }

    private static Layer writeLayer(Spec spec, int index, Path out) throws IOException {
        var rnd = new SplittableRandom(spec.seed() * 1_000_003L + index);
        var words = vocabulary(new SplittableRandom(spec.seed()));
        MessageDigest compressed = sha256();
        MessageDigest diff = sha256();
        long budget = (long) spec.layerMiB() << 20;
        long written = 0;
        int files = 0;
        var counter = new CountingStream(new BufferedOutputStream(Files.newOutputStream(out), 1 << 16));
        var tarCounter = new CountingStream(new DigestOutputStream(new GZIPOutputStream(
                new DigestOutputStream(counter, compressed), 1 << 16), diff));
        try (var tar = new TarArchiveOutputStream(tarCounter, 10240, StandardCharsets.UTF_8.name())) {
            tar.setLongFileMode(TarArchiveOutputStream.LONGFILE_POSIX);
            tar.setBigNumberMode(TarArchiveOutputStream.BIGNUMBER_POSIX);
            String top = "opt/bench/layer" + index;
            addDir(tar, "opt/");
            addDir(tar, "opt/bench/");
            addDir(tar, top + "/");
            byte[] chunk = new byte[4096];
            int dirNo = -1;
            while (written < budget) {
                if (files % 40 == 0) {
                    dirNo++;
                    addDir(tar, top + "/d" + dirNo + "/");
                }
                // log-uniform 512 B .. 4 MiB
                long size = Math.min(budget - written, (long) Math.exp(Math.log(512) + rnd.nextDouble()
                        * (Math.log(4 << 20) - Math.log(512))));
                size = Math.max(size, 1);
                var e = new TarArchiveEntry(top + "/d" + dirNo + "/f" + files + (rnd.nextInt(3) == 0 ? ".so" : ".txt"));
                e.setSize(size);
                e.setMode(rnd.nextInt(4) == 0 ? 0100755 : 0100644);
                e.setModTime(Date.from(EPOCH));
                e.setUserId(0);
                e.setGroupId(0);
                tar.putArchiveEntry(e);
                long left = size;
                while (left > 0) {
                    fillChunk(chunk, rnd, words, spec.randomPercent());
                    int n = (int) Math.min(left, chunk.length);
                    tar.write(chunk, 0, n);
                    left -= n;
                }
                tar.closeArchiveEntry();
                written += size;
                files++;
            }
            tar.finish();
        }
        // the diff digest saw the tar stream, the other the gzip stream
        return new Layer(out, "sha256:" + hex(compressed.digest()), counter.count, "sha256:" + hex(diff.digest()),
                tarCounter.count, files);
    }

    private static void addDir(TarArchiveOutputStream tar, String name) throws IOException {
        var e = new TarArchiveEntry(name);
        e.setMode(040755);
        e.setModTime(Date.from(EPOCH));
        tar.putArchiveEntry(e);
        tar.closeArchiveEntry();
    }

    private static void fillChunk(byte[] chunk, SplittableRandom rnd, byte[][] words, int randomPercent) {
        if (rnd.nextInt(100) < randomPercent) {
            rnd.nextBytes(chunk);
            return;
        }
        int i = 0;
        while (i < chunk.length) {
            // skewed towards the first words, as word frequencies are: gzip then finds repeats in its window
            double u = rnd.nextDouble();
            byte[] w = words[(int) (words.length * u * u * u)];
            int n = Math.min(w.length, chunk.length - i);
            System.arraycopy(w, 0, chunk, i, n);
            i += n;
            if (i < chunk.length) {
                chunk[i++] = (byte) (rnd.nextInt(12) == 0 ? '\n' : ' ');
            }
        }
    }

    private static byte[][] vocabulary(SplittableRandom rnd) {
        byte[][] words = new byte[1024][];
        for (int i = 0; i < words.length; i++) {
            byte[] w = new byte[2 + rnd.nextInt(10)];
            for (int j = 0; j < w.length; j++) {
                w[j] = (byte) ('a' + rnd.nextInt(26));
            }
            words[i] = w;
        }
        return words;
    }

    static String sha256(byte[] b) {
        return "sha256:" + hex(sha256().digest(b));
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static String hex(byte[] b) {
        return HexFormat.of().formatHex(b);
    }

    private static final class CountingStream extends java.io.FilterOutputStream {
        long count;

        CountingStream(OutputStream out) {
            super(out);
        }

        @Override
        public void write(int b) throws IOException {
            out.write(b);
            count++;
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            out.write(b, off, len);
            count += len;
        }
    }
}
