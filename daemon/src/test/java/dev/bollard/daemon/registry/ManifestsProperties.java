package dev.bollard.daemon.registry;

import dev.bollard.daemon.testkit.Mutations;
import dev.bollard.daemon.testkit.TestImages;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

/**
 * Manifests and indexes come from registries: whatever bytes arrive, parsing and platform selection end in a
 * result or a {@link RegistryException}, never another exception, and quickly.
 */
class ManifestsProperties {

    private static final List<byte[]> DOCUMENTS = List.of(
            TestImages.busybox().manifest().bytes(),
            TestImages.docker(Platform.LINUX_AMD64).manifest().bytes(),
            TestImages.index(false, List.of(TestImages.tiny(Platform.LINUX_ARM64), TestImages.tiny(Platform.LINUX_AMD64)))
                    .index().bytes(),
            TestImages.index(true, List.of(TestImages.docker(Platform.LINUX_AMD64))).index().bytes());

    @Provide
    Arbitrary<byte[]> documents() {
        return Arbitraries.of(DOCUMENTS);
    }

    @Provide
    Arbitrary<String> contentTypes() {
        return Arbitraries.of("", "application/json", MediaTypes.OCI_MANIFEST, MediaTypes.OCI_INDEX,
                MediaTypes.DOCKER_MANIFEST, MediaTypes.DOCKER_MANIFEST_LIST, MediaTypes.DOCKER_SCHEMA1,
                "text/html; charset=utf-8");
    }

    @Property(tries = 300)
    void randomBytesAreRefusedCleanly(@ForAll @Size(max = 4096) byte[] bytes, @ForAll("contentTypes") String type) {
        parseAndSelect(type, bytes);
    }

    @Property(tries = 500)
    void byteMutatedDocumentsAreRefusedCleanly(@ForAll("documents") byte[] doc, @ForAll("contentTypes") String type,
                                               @ForAll long seed, @ForAll @IntRange(min = 1, max = 8) int count) {
        parseAndSelect(type, Mutations.bytes(doc, seed, count));
    }

    @Property(tries = 1000)
    void structurallyMutatedDocumentsAreRefusedCleanly(@ForAll("documents") byte[] doc,
                                                       @ForAll("contentTypes") String type, @ForAll long seed,
                                                       @ForAll @IntRange(min = 1, max = 4) int count) {
        parseAndSelect(type, Mutations.json(doc, seed, count).toString().getBytes(StandardCharsets.UTF_8));
    }

    private static void parseAndSelect(String type, byte[] bytes) {
        assertTimeoutPreemptively(Duration.ofSeconds(5), () -> {
            try {
                Manifest m = Manifests.parse(type, bytes);
                switch (m) {
                    case Manifest.Index index -> Manifests.selectPlatform(index, Platform.LINUX_AMD64);
                    case Manifest.Image image -> {
                        image.config().digest();
                        image.layers().forEach(Descriptor::size);
                    }
                }
            } catch (RegistryException expected) {
                // the defined refusal
            }
        });
    }
}
