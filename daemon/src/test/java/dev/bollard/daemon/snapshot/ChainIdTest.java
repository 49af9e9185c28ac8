package dev.bollard.daemon.snapshot;

import dev.bollard.daemon.content.Digest;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class ChainIdTest {

    // Diff IDs of three distinct layers: sha256 of "", "a", "b".
    private static final Digest L0 = Digest.parse("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    private static final Digest L1 = Digest.parse("sha256:ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb");
    private static final Digest L2 = Digest.parse("sha256:3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d");

    @Test
    void singleLayerChainIsItsDiffId() {
        assertEquals(L0, ChainId.of(List.of(L0)));
    }

    @Test
    void followsTheSpecFormula() {
        // ChainID(L0|L1) = SHA256(ChainID(L0) + " " + DiffID(L1)), written out by hand from config.md.
        Digest c1 = Digest.sha256(("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
                + " sha256:ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb").getBytes(StandardCharsets.UTF_8));
        Digest c2 = Digest.sha256((c1 + " " + L2).getBytes(StandardCharsets.UTF_8));
        assertEquals(c1, ChainId.of(List.of(L0, L1)));
        assertEquals(c2, ChainId.of(List.of(L0, L1, L2)));
        assertEquals(List.of(L0, c1, c2), ChainId.all(List.of(L0, L1, L2)));
        // Fixed value, computed independently with: printf '%s' "<L0> <L1>" | sha256sum
        assertEquals(Digest.parse("sha256:54310b28337ccdbb5477f2808753d5b0e7c87d84187cee28a330a3e71f6c16fc"), c1);
    }

    @Test
    void orderMattersAndEmptyIsRefused() {
        assertNotEquals(ChainId.of(List.of(L0, L1)), ChainId.of(List.of(L1, L0)));
        assertThrows(IllegalArgumentException.class, () -> ChainId.of(List.of()));
        assertEquals(List.of(), ChainId.all(List.of()));
    }
}
