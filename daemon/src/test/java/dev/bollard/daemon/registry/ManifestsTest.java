package dev.bollard.daemon.registry;

import dev.bollard.daemon.registry.RegistryException.Kind;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ManifestsTest {

    static final String D1 = "sha256:" + "a".repeat(64);
    static final String D2 = "sha256:" + "b".repeat(64);
    static final String D3 = "sha256:" + "c".repeat(64);

    static byte[] b(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    static String entry(String digest, String arch, String variant) {
        return "{\"mediaType\":\"" + MediaTypes.OCI_MANIFEST + "\",\"digest\":\"" + digest + "\",\"size\":10,"
                + "\"platform\":{\"os\":\"linux\",\"architecture\":\"" + arch + "\""
                + (variant == null ? "" : ",\"variant\":\"" + variant + "\"") + "}}";
    }

    static Manifest.Index index(String... entries) throws RegistryException {
        return (Manifest.Index) Manifests.parse(MediaTypes.OCI_INDEX, b("{\"schemaVersion\":2,\"mediaType\":\""
                + MediaTypes.OCI_INDEX + "\",\"manifests\":[" + String.join(",", entries) + "]}"));
    }

    @Test
    void parsesAnImageManifest() throws Exception {
        var m = Manifests.parse("application/vnd.oci.image.manifest.v1+json; charset=utf-8", b("""
                {"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
                 "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":7},
                 "layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+zstd","digest":"%s","size":9,
                            "urls":["https://example/x"],"annotations":{"a":"b"}}],
                 "annotations":{"org.opencontainers.image.title":"t"}}""".formatted(D1, D2)));
        var image = assertInstanceOf(Manifest.Image.class, m);
        assertEquals(MediaTypes.OCI_MANIFEST, image.mediaType());
        assertEquals(7, image.config().size());
        assertEquals(D2, image.layers().getFirst().digest().toString());
        assertEquals(List.of("https://example/x"), image.layers().getFirst().urls());
        assertEquals(Map.of("a", "b"), image.layers().getFirst().annotations());
        assertEquals(MediaTypes.Compression.ZSTD, MediaTypes.layerCompression(image.layers().getFirst().mediaType()));
    }

    @Test
    void mediaTypeFallsBackToTheHeaderThenTheShape() throws Exception {
        String noType = "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"x\",\"digest\":\"" + D1
                + "\",\"size\":1},\"layers\":[]}";
        assertEquals(MediaTypes.DOCKER_MANIFEST, Manifests.parse(MediaTypes.DOCKER_MANIFEST, b(noType)).mediaType());
        assertEquals(MediaTypes.OCI_MANIFEST, Manifests.parse("application/json", b(noType)).mediaType());
        assertEquals(MediaTypes.OCI_INDEX, Manifests.parse("", b("{\"schemaVersion\":2,\"manifests\":[]}"))
                .mediaType());
    }

    @Test
    void schema1IsRefusedByHeaderOrBody() {
        for (String type : List.of(MediaTypes.DOCKER_SCHEMA1, MediaTypes.DOCKER_SCHEMA1_SIGNED, "application/json")) {
            var e = assertThrows(RegistryException.class, () -> Manifests.parse(type,
                    b("{\"schemaVersion\":1,\"name\":\"x\",\"fsLayers\":[]}")));
            assertEquals(Kind.UNSUPPORTED_MEDIA_TYPE, e.kind());
            assertTrue(e.getMessage().contains("schema 1"), e.getMessage());
        }
    }

    @Test
    void badDocumentsAreInvalid() {
        assertEquals(Kind.INVALID_MANIFEST, assertThrows(RegistryException.class,
                () -> Manifests.parse(MediaTypes.OCI_MANIFEST, b("{not json"))).kind());
        assertEquals(Kind.INVALID_MANIFEST, assertThrows(RegistryException.class,
                () -> Manifests.parse(MediaTypes.OCI_MANIFEST, b("{\"schemaVersion\":2,\"mediaType\":\""
                        + MediaTypes.OCI_MANIFEST + "\",\"config\":{\"digest\":\"sha256:nothex\",\"size\":1},"
                        + "\"layers\":[]}"))).kind());
        assertEquals(Kind.INVALID_MANIFEST, assertThrows(RegistryException.class,
                () -> Manifests.parse(MediaTypes.OCI_MANIFEST, b("{\"schemaVersion\":2,\"mediaType\":\""
                        + MediaTypes.OCI_MANIFEST + "\",\"config\":{\"digest\":\"" + D1 + "\",\"size\":-1},"
                        + "\"layers\":[]}"))).kind());
        assertEquals(Kind.UNSUPPORTED_MEDIA_TYPE, assertThrows(RegistryException.class,
                () -> Manifests.parse("text/html", b("{\"hello\":1}"))).kind());
    }

    @Test
    void selectsTheNodePlatformAndSkipsAttestations() throws Exception {
        var idx = index(entry(D1, "arm64", "v8"),
                "{\"mediaType\":\"" + MediaTypes.OCI_MANIFEST + "\",\"digest\":\"" + D3
                        + "\",\"size\":10,\"platform\":{\"os\":\"unknown\",\"architecture\":\"unknown\"}}",
                entry(D2, "amd64", null));
        assertEquals(D2, Manifests.selectPlatform(idx, Platform.LINUX_AMD64).digest().toString());
        assertEquals(D1, Manifests.selectPlatform(idx, Platform.LINUX_ARM64).digest().toString());
        assertEquals(D1, Manifests.selectPlatform(idx, new Platform("linux", "aarch64", "")).digest().toString());
    }

    @Test
    void prefersTheBestVariant() throws Exception {
        var idx = index(entry(D1, "amd64", null), entry(D2, "amd64", "v3"), entry(D3, "amd64", "v4"));
        assertEquals(D1, Manifests.selectPlatform(idx, Platform.LINUX_AMD64).digest().toString());
        assertEquals(D2, Manifests.selectPlatform(idx, new Platform("linux", "amd64", "v3")).digest().toString());
        var arm = index(entry(D1, "arm", "v5"), entry(D2, "arm", "v6"), entry(D3, "arm", "v8"));
        assertEquals(D2, Manifests.selectPlatform(arm, new Platform("linux", "arm", "v7")).digest().toString());
    }

    @Test
    void noMatchListsTheOfferedPlatforms() throws Exception {
        var idx = index(entry(D1, "arm64", null), entry(D2, "arm", "v7"), entry(D3, "amd64", "v3"));
        var e = assertThrows(RegistryException.class, () -> Manifests.selectPlatform(idx, Platform.LINUX_AMD64));
        assertEquals(Kind.NO_MATCHING_PLATFORM, e.kind());
        assertTrue(e.getMessage().contains("linux/amd64") && e.getMessage().contains(
                "linux/arm64, linux/arm/v7, linux/amd64/v3"), e.getMessage());
    }

    @Test
    void platformAliasesAreNormalized() {
        assertEquals(Platform.LINUX_AMD64, new Platform("Linux", "x86_64", "").normalize());
        assertEquals(Platform.LINUX_ARM64, new Platform("linux", "aarch64", "v8").normalize());
        assertEquals(new Platform("linux", "arm", "v7"), new Platform("linux", "armhf", "").normalize());
        assertEquals(new Platform("linux", "arm", "v7"), new Platform("linux", "arm", "").normalize());
        assertEquals(-1, Platform.LINUX_AMD64.rank(Platform.LINUX_ARM64));
        assertEquals(-1, Platform.LINUX_AMD64.rank(new Platform("windows", "amd64", "")));
    }

    @Test
    void challengesAreParsed() {
        var c = Challenge.parse(List.of("Bearer realm=\"https://auth.example.io/token\",service=\"registry.example"
                + ".io\",scope=\"repository:library/busybox:pull\"", "Basic realm=\"x, y\""));
        assertEquals(2, c.size());
        assertEquals("bearer", c.get(0).scheme());
        assertEquals("https://auth.example.io/token", c.get(0).param("realm"));
        assertEquals("registry.example.io", c.get(0).param("service"));
        assertEquals("repository:library/busybox:pull", c.get(0).param("scope"));
        assertEquals("basic", c.get(1).scheme());
        assertEquals("x, y", c.get(1).param("realm"));

        var two = Challenge.parse(List.of("Basic realm=\"r\", Bearer realm=\"https://a/t\", service=s"));
        assertEquals(List.of("basic", "bearer"), two.stream().map(Challenge::scheme).toList());
        assertEquals("s", two.get(1).param("service"));
        assertEquals("quo\"te", Challenge.parse(List.of("Bearer realm=\"quo\\\"te\"")).getFirst().param("realm"));
    }
}
