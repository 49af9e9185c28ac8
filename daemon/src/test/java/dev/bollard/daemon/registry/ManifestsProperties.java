package dev.bollard.daemon.registry;

import dev.bollard.daemon.testkit.Mutations;
import dev.bollard.daemon.testkit.TestImages;
import dev.bollard.daemon.testkit.Gen;
import dev.bollard.daemon.testkit.Tries;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.stream.Stream;

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

    private static final Gen<byte[]> DOCUMENT = Gen.oneOf(DOCUMENTS);

    private static final Gen<String> CONTENT_TYPE = Gen.oneOf("", "application/json", MediaTypes.OCI_MANIFEST,
            MediaTypes.OCI_INDEX, MediaTypes.DOCKER_MANIFEST, MediaTypes.DOCKER_MANIFEST_LIST, MediaTypes.DOCKER_SCHEMA1,
            "text/html; charset=utf-8");

    /** Bytes as a registry might send them, under a content type. */
    record Served(byte[] bytes, String type) {
    }

    /** A valid document, the content type it is served as, and the seed and count of its mutations. */
    record Mutated(byte[] document, String type, long seed, int count) {
    }

    @TestFactory
    Stream<DynamicTest> randomBytesAreRefusedCleanly() {
        Gen<byte[]> bytes = Gen.bytes(4096);
        return Tries.forAll(300, r -> new Served(bytes.next(r), CONTENT_TYPE.next(r)),
                s -> parseAndSelect(s.type(), s.bytes()));
    }

    @TestFactory
    Stream<DynamicTest> byteMutatedDocumentsAreRefusedCleanly() {
        Gen<Integer> count = Gen.ints(1, 8);
        return Tries.forAll(500, r -> new Mutated(DOCUMENT.next(r), CONTENT_TYPE.next(r), r.nextLong(), count.next(r)),
                m -> parseAndSelect(m.type(), Mutations.bytes(m.document(), m.seed(), m.count())));
    }

    @TestFactory
    Stream<DynamicTest> structurallyMutatedDocumentsAreRefusedCleanly() {
        Gen<Integer> count = Gen.ints(1, 4);
        return Tries.forAll(1000, r -> new Mutated(DOCUMENT.next(r), CONTENT_TYPE.next(r), r.nextLong(), count.next(r)),
                m -> parseAndSelect(m.type(),
                        Mutations.json(m.document(), m.seed(), m.count()).toString().getBytes(StandardCharsets.UTF_8)));
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
