package dev.bollard.daemon.content;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DigestTest {

    @Test
    void sha256OfKnownContent() {
        var d = Digest.sha256("".getBytes(StandardCharsets.UTF_8));
        assertEquals("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", d.toString());
        assertEquals(d, Digest.parse(d.toString()));
        assertTrue(d.matches(d.newHasher().digest()));
    }

    @Test
    void rejectsNonCanonicalForms() {
        assertThrows(IllegalArgumentException.class, () -> Digest.parse("sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"));
        assertThrows(IllegalArgumentException.class, () -> Digest.parse("sha256:abc"));
        assertEquals("unsupported digest algorithm \"md5\" (sha256 and sha512 are supported)",
                assertThrows(IllegalArgumentException.class, () -> Digest.parse("md5:d41d8cd98f00b204e9800998ecf8427e")).getMessage());
        assertEquals("invalid digest \"latest\": expected algorithm:hex",
                assertThrows(IllegalArgumentException.class, () -> Digest.parse("latest")).getMessage());
    }
}
