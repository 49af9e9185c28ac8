package dev.bollard.daemon.snapshot;

import dev.bollard.daemon.content.Digest;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Chain IDs as the OCI image spec (config.md, "Layer ChainID") defines them: ChainID(L0) = DiffID(L0) and
 * ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln)), over the digests' string forms. A chain ID names a
 * layer together with everything beneath it, so it is the key an unpacked snapshot is stored under.
 */
public final class ChainId {
    private ChainId() {
    }

    /** The chain ID of the topmost of {@code diffIds} (bottom layer first). */
    public static Digest of(List<Digest> diffIds) {
        if (diffIds.isEmpty()) {
            throw new IllegalArgumentException("a chain ID needs at least one diff ID");
        }
        Digest chain = diffIds.getFirst();
        for (int i = 1; i < diffIds.size(); i++) {
            chain = next(chain, diffIds.get(i));
        }
        return chain;
    }

    /** The chain ID of every prefix of {@code diffIds}: element i names layers 0..i. */
    public static List<Digest> all(List<Digest> diffIds) {
        var out = new ArrayList<Digest>(diffIds.size());
        for (Digest d : diffIds) {
            out.add(out.isEmpty() ? d : next(out.getLast(), d));
        }
        return List.copyOf(out);
    }

    /** One step: the chain ID of a layer {@code diffId} applied on top of the chain {@code parent}. */
    public static Digest next(Digest parent, Digest diffId) {
        return Digest.sha256((parent + " " + diffId).getBytes(StandardCharsets.UTF_8));
    }
}
