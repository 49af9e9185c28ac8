package dev.bollard.daemon.image.ref;

import dev.bollard.daemon.content.Digest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ImageReferenceTest {

    private static final String HEX = "7cc4b5aefd1d0cadf8d97d4350462ba51c694ebca145b08d7d41b41acc8db5aa";
    private static final String DIGEST = "sha256:" + HEX;

    @ParameterizedTest(name = "{0} -> {1}")
    @CsvSource({
            "busybox,                              docker.io/library/busybox:latest",
            "busybox:1.36,                         docker.io/library/busybox:1.36",
            "library/busybox:1.36,                 docker.io/library/busybox:1.36",
            "docker.io/busybox,                    docker.io/library/busybox:latest",
            "docker.io/library/busybox,            docker.io/library/busybox:latest",
            "index.docker.io/busybox,              docker.io/library/busybox:latest",
            "index.docker.io/user/app,             docker.io/user/app:latest",
            "user/app,                             docker.io/user/app:latest",
            "user/team/app:v2,                     docker.io/user/team/app:v2",
            "registry.k8s.io/pause:3.9,            registry.k8s.io/pause:3.9",
            "quay.io/ns/name,                      quay.io/ns/name:latest",
            "myhost:5000/ns/name:tag,              myhost:5000/ns/name:tag",
            "127.0.0.1:5000/x,                     127.0.0.1:5000/x:latest",
            "[::1]:5000/x:1,                       [::1]:5000/x:1",
            "localhost/x,                          localhost/x:latest",
            "localhost:5000/a/b/c:1.0-rc_1,        localhost:5000/a/b/c:1.0-rc_1",
            "example.com/only,                     example.com/only:latest",
            "Registry.Example.COM/app,             Registry.Example.COM/app:latest",
            "MyHost/app,                           MyHost/app:latest",
            "localhost:5000,                       docker.io/library/localhost:5000",
            "localhost,                            docker.io/library/localhost:latest",
            "a.b-c/x__y/z--w.v_u:TAG.x-y,          a.b-c/x__y/z--w.v_u:TAG.x-y",
    })
    void normalizes(String input, String canonical) {
        assertEquals(canonical, ImageReference.parse(input).toString());
    }

    @Test
    void partsOfAFamiliarName() {
        var r = ImageReference.parse("busybox");
        assertEquals("docker.io", r.domain());
        assertEquals("library/busybox", r.repository());
        assertEquals("docker.io/library/busybox", r.name());
        assertEquals(Optional.of("latest"), r.tag());
        assertEquals(Optional.empty(), r.digest());
        assertEquals(Optional.of("docker.io/library/busybox:latest"), r.repoTag());
        assertEquals("latest", r.manifestReference());
    }

    @Test
    void partsWithAPort() {
        var r = ImageReference.parse("host.example:5000/ns/name:tag");
        assertEquals("host.example:5000", r.domain());
        assertEquals("ns/name", r.repository());
        assertEquals(Optional.of("tag"), r.tag());
    }

    @Test
    void digestOnlyHasNoDefaultTag() {
        var r = ImageReference.parse("busybox@" + DIGEST);
        assertEquals(Optional.empty(), r.tag(), "a digest reference gets no :latest");
        assertEquals(Optional.of(Digest.parse(DIGEST)), r.digest());
        assertEquals("docker.io/library/busybox@" + DIGEST, r.toString());
        assertEquals(Optional.empty(), r.repoTag());
        assertEquals(DIGEST, r.manifestReference());
    }

    @Test
    void tagAndDigestAreBothKeptAndTheDigestIsFetched() {
        var r = ImageReference.parse("quay.io/a/b:1.2@" + DIGEST);
        assertEquals(Optional.of("1.2"), r.tag());
        assertEquals(Optional.of(Digest.parse(DIGEST)), r.digest());
        assertEquals("quay.io/a/b:1.2@" + DIGEST, r.toString());
        assertEquals(DIGEST, r.manifestReference());
        assertEquals("quay.io/a/b@" + DIGEST, r.withoutTag().toString(), "containerd's ParseDockerRef form");
    }

    @Test
    void sha512DigestsAreAccepted() {
        String d = "sha512:" + "ab".repeat(64);
        assertEquals("docker.io/library/x@" + d, ImageReference.parse("x@" + d).toString());
    }

    @Test
    void withDigestGivesTheRepoDigest() {
        var r = ImageReference.parse("busybox:1.36");
        var pinned = r.withDigest(Digest.parse(DIGEST));
        assertEquals("docker.io/library/busybox@" + DIGEST, pinned.toString());
        assertEquals(Optional.empty(), pinned.tag());
        assertEquals(r.name(), pinned.name());
        assertEquals("docker.io/library/busybox:2", r.withTag("2").toString());
    }

    @Test
    void withoutTagLeavesSimpleReferencesAlone() {
        var tagged = ImageReference.parse("busybox");
        assertSame(tagged, tagged.withoutTag());
    }

    @Test
    void canonicalFormParsesBackToItself() {
        for (String s : new String[]{"busybox", "user/app:1", "localhost:5000/x@" + DIGEST, "q.io/a:b@" + DIGEST}) {
            var once = ImageReference.parse(s);
            assertEquals(once, ImageReference.parse(once.toString()), s);
        }
    }

    @ParameterizedTest(name = "{0} -> {1}")
    @CsvSource({
            "busybox,                        busybox:latest",
            "docker.io/library/busybox:1,    busybox:1",
            "user/app,                       user/app:latest",
            "docker.io/library/a/b,          library/a/b:latest",
            "quay.io/x/y:2,                  quay.io/x/y:2",
            "localhost/x,                    localhost/x:latest",
    })
    void familiarForm(String input, String familiar) {
        assertEquals(familiar, ImageReference.parse(input).familiar());
    }

    private static String error(String reference) {
        return assertThrows(IllegalArgumentException.class, () -> ImageReference.parse(reference)).getMessage();
    }

    @Test
    void upperCaseRepositoryIsRejected() {
        assertEquals("invalid image reference \"Busybox\": repository name \"library/Busybox\" must be lowercase",
                error("Busybox"));
        assertEquals("invalid image reference \"user/App:1\": repository name \"user/App\" must be lowercase",
                error("user/App:1"));
        assertEquals("invalid image reference \"quay.io/Foo/bar\": repository name \"Foo/bar\" must be lowercase",
                error("quay.io/Foo/bar"));
    }

    @Test
    void emptyComponentsAreRejected() {
        assertEquals("invalid image reference \"a//b\": empty path component in repository name \"a//b\"",
                error("a//b"));
        assertEquals("invalid image reference \"quay.io/a/\": empty path component in repository name \"a/\"",
                error("quay.io/a/"));
        assertEquals("invalid image reference \"/busybox\": empty path component in repository name \"/busybox\"",
                error("/busybox"));
        assertEquals("invalid image reference \"quay.io/\": repository name must have at least one component",
                error("quay.io/"));
        assertEquals("invalid image reference \"\": repository name must have at least one component", error(""));
    }

    @ParameterizedTest
    @ValueSource(strings = {"-a/b", "a-/b", "a/b.", "a/b..c", "a/_b", "a/b___c", "a/b c", "a/b!"})
    void badPathComponentsAreRejected(String reference) {
        String m = error(reference);
        assertTrue(m.startsWith("invalid image reference \"" + reference + "\": invalid path component"), m);
    }

    @Test
    void badTagsAreRejected() {
        assertEquals("invalid image reference \"busybox:\": invalid tag \"\" (a word character, then up to 127 of"
                + " [A-Za-z0-9_.-])", error("busybox:"));
        assertTrue(error("busybox:.x").contains("invalid tag \".x\""));
        assertTrue(error("busybox:-x").contains("invalid tag \"-x\""));
        assertTrue(error("busybox:a+b").contains("invalid tag \"a+b\""));
        assertTrue(error("busybox:" + "a".repeat(129)).contains("invalid tag"));
        assertEquals("docker.io/library/busybox:" + "a".repeat(128),
                ImageReference.parse("busybox:" + "a".repeat(128)).toString(), "128 characters is the limit");
    }

    @Test
    void badDigestsAreRejected() {
        assertEquals("invalid image reference \"busybox@sha256:abc\": invalid digest \"sha256:abc\"",
                error("busybox@sha256:abc"));
        assertEquals("invalid image reference \"busybox@\": invalid digest \"\"", error("busybox@"));
        assertEquals("invalid image reference \"busybox@sha256:" + HEX.toUpperCase()
                + "\": invalid sha256 digest \"sha256:" + HEX.toUpperCase() + "\"", error("busybox@sha256:" + HEX.toUpperCase()));
        assertTrue(error("busybox@md5:" + HEX).contains("unsupported digest algorithm \"md5\""));
        assertTrue(error("busybox@sha256:" + HEX + "@sha256:" + HEX).contains("invalid digest"));
    }

    @Test
    void anImageIdIsNotAName() {
        assertTrue(error(HEX).contains("is an image ID, not a repository name"));
        // With a namespace it is an ordinary (if odd) name, as in distribution/reference.
        assertEquals("docker.io/user/" + HEX + ":latest", ImageReference.parse("user/" + HEX).toString());
    }

    @Test
    void badDomainsAreRejected() {
        assertEquals("invalid image reference \"-bad.com/x\": invalid domain \"-bad.com\"", error("-bad.com/x"));
        assertTrue(error("host:port/x").contains("invalid domain \"host:port\""));
        assertTrue(error("::1/x").contains("invalid domain \"::1\""));
    }

    @Test
    void overlongRepositoryIsRejected() {
        String ok = "a/" + "b".repeat(253);
        assertEquals("docker.io/" + ok + ":latest", ImageReference.parse(ok).toString());
        assertTrue(error("a/" + "b".repeat(254)).endsWith("repository name must not be more than 255 characters"));
    }

    @Test
    void constructorValidatesToo() {
        var e = assertThrows(IllegalArgumentException.class,
                () -> new ImageReference("docker.io", "library/busybox", Optional.empty(), Optional.empty()));
        assertEquals("invalid image reference \"docker.io/library/busybox\": a reference needs a tag or a digest",
                e.getMessage());
        assertThrows(IllegalArgumentException.class,
                () -> ImageReference.parse("busybox").withTag("no/slashes"));
    }
}
