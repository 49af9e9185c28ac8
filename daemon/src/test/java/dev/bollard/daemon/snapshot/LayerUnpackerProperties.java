package dev.bollard.daemon.snapshot;

import dev.bollard.daemon.store.FileTrees;
import dev.bollard.daemon.testkit.Mutations;
import dev.bollard.daemon.testkit.TestImages;
import dev.bollard.daemon.testkit.Gen;
import dev.bollard.daemon.testkit.Tries;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

/**
 * Layers come from registries: a layer with hostile entries (traversal, absolute names, symlinks and hard links
 * out of the tree, whiteouts), byte-mutated, compressed or not, is either unpacked inside its target or refused
 * with an {@link LayerUnpacker.InvalidLayerException}; nothing is ever written beside the target, and it ends
 * quickly.
 */
class LayerUnpackerProperties {

    private static final String[] NAMES = {"etc/passwd", "bin/sh", "a/b/c.txt", "../outside/escaped",
            "a/../../outside/escaped2", "./x", "link/escaped3", "hard", ".wh.gone", "a/.wh..wh..opq", "dir/",
            "x".repeat(150) + "/long", "a\u0000b"};

    /**
     * The seed of a hostile tar ({@link #hostileTar}), the seed and count of its byte-level mutations, whether the
     * layer is gzipped and whether the mutations hit the compressed bytes.
     */
    record Layer(long tarSeed, long seed, int count, boolean gzip, boolean mutateCompressed) {
    }

    @TestFactory
    Stream<DynamicTest> mutatedHostileLayersUnpackInsideOrAreRefused() {
        Gen<Integer> count = Gen.ints(0, 6);
        return Tries.forAll(300, r -> new Layer(r.nextLong(), r.nextLong(), count.next(r), r.nextBoolean(),
                r.nextBoolean()), LayerUnpackerProperties::unpackInsideOrRefused);
    }

    private static void unpackInsideOrRefused(Layer sample) throws Exception {
        byte[] tar = hostileTar(sample.tarSeed());
        long seed = sample.seed();
        int count = sample.count();
        boolean gzip = sample.gzip();
        byte[] layer;
        if (!gzip) {
            layer = Mutations.bytes(tar, seed, count);
        } else if (sample.mutateCompressed()) {
            layer = Mutations.bytes(TestImages.gzip(tar), seed, count);
        } else {
            layer = TestImages.gzip(Mutations.bytes(tar, seed, count));
        }
        Path parent = Files.createTempDirectory("bollard-unpack-prop-");
        try {
            Path target = Files.createDirectory(parent.resolve("target"));
            Path outside = Files.createDirectory(parent.resolve("outside"));
            Files.writeString(outside.resolve("keep"), "keep");
            String type = gzip ? "application/vnd.oci.image.layer.v1.tar+gzip" : "application/vnd.oci.image.layer.v1.tar";
            assertTimeoutPreemptively(Duration.ofSeconds(20), () -> {
                try {
                    LayerUnpacker.unpack(new ByteArrayInputStream(layer), type, target);
                } catch (LayerUnpacker.InvalidLayerException refused) {
                    // the defined refusal
                }
            });
            var beside = names(parent);
            beside.remove("target"); // a refused layer's target is removed whole
            assertEquals(Set.of("outside"), beside, "nothing beside the target");
            assertEquals(Set.of("keep"), names(outside), "nothing written outside the target");
            assertEquals("keep", Files.readString(outside.resolve("keep")));
        } finally {
            FileTrees.deleteTree(parent);
        }
    }

    private static Set<String> names(Path dir) throws IOException {
        try (var s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).collect(Collectors.toCollection(java.util.HashSet::new));
        }
    }

    /** A tar of up to 12 entries drawn from hostile and ordinary ones. */
    static byte[] hostileTar(long seed) {
        var r = new Random(seed);
        var out = new ByteArrayOutputStream();
        try (var tar = new TarArchiveOutputStream(out)) {
            tar.setLongFileMode(TarArchiveOutputStream.LONGFILE_POSIX);
            for (int i = r.nextInt(12); i >= 0; i--) {
                String name = NAMES[r.nextInt(NAMES.length)];
                TarArchiveEntry e;
                switch (r.nextInt(5)) {
                    case 0 -> {
                        e = new TarArchiveEntry(r.nextBoolean() ? "link" : name, TarArchiveEntry.LF_SYMLINK);
                        e.setLinkName(List.of("../outside", "/", "../../..", "a/b", "/etc").get(r.nextInt(5)));
                    }
                    case 1 -> {
                        e = new TarArchiveEntry(name, TarArchiveEntry.LF_LINK);
                        e.setLinkName(List.of("../outside/keep", "/etc/passwd", "etc/passwd", "link/keep")
                                .get(r.nextInt(4)));
                    }
                    case 2 -> {
                        e = new TarArchiveEntry(name.endsWith("/") ? name : name + "/");
                        e.setMode(040000 | r.nextInt(010000));
                    }
                    default -> {
                        e = new TarArchiveEntry(name);
                        e.setSize(r.nextInt(3) == 0 ? 0 : 1 + r.nextInt(2000));
                        e.setMode(0100000 | r.nextInt(010000));
                    }
                }
                e.setModTime(1_700_000_000_000L);
                tar.putArchiveEntry(e);
                if (e.isFile() && e.getSize() > 0) {
                    byte[] content = new byte[(int) e.getSize()];
                    r.nextBytes(content);
                    tar.write(content);
                }
                tar.closeArchiveEntry();
            }
        } catch (IOException | IllegalArgumentException e) {
            if (e instanceof IOException io) {
                throw new UncheckedIOException(io);
            }
            return "not a tar".getBytes(StandardCharsets.UTF_8); // an entry commons-compress itself refuses
        }
        return out.toByteArray();
    }
}
