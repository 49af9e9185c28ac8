package dev.bollard.daemon.store;

import java.security.SecureRandom;
import java.util.Collection;
import java.util.HexFormat;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Objects by their 64-hex-digit ID, found by the full ID or by a unique prefix of it (crictl shows IDs cut to 13
 * characters, and users type them back).
 *
 * @param <T> pods or containers
 */
public final class IdIndex<T> {

    private static final SecureRandom RANDOM = new SecureRandom();

    private final String kind;
    private final ConcurrentHashMap<String, T> byId = new ConcurrentHashMap<>();

    /** @param kind how errors name the objects: "pod sandbox", "container" */
    public IdIndex(String kind) {
        this.kind = kind;
    }

    /** A new random ID, in the form containerd and CRI-O use. */
    public static String newId() {
        var bytes = new byte[32];
        RANDOM.nextBytes(bytes);
        return HexFormat.of().formatHex(bytes);
    }

    /** By full ID or unique prefix; empty when none matches. An empty or ambiguous prefix is bad input. */
    public Optional<T> find(String idOrPrefix) {
        if (idOrPrefix.isEmpty()) {
            throw new IllegalArgumentException(kind + " ID is empty");
        }
        var exact = byId.get(idOrPrefix);
        if (exact != null) {
            return Optional.of(exact);
        }
        var matches = byId.entrySet().stream().filter(e -> e.getKey().startsWith(idOrPrefix)).toList();
        if (matches.size() > 1) {
            throw new IllegalArgumentException(kind + " ID prefix \"" + idOrPrefix + "\" is ambiguous ("
                    + matches.size() + " match)");
        }
        return matches.stream().findFirst().map(java.util.Map.Entry::getValue);
    }

    /** Like {@link #find}, a missing one being NOT_FOUND ({@code errors.NotFoundException}). */
    public T require(String idOrPrefix) {
        return find(idOrPrefix).orElseThrow(() -> new dev.bollard.daemon.errors.NotFoundException(kind + " \"" + idOrPrefix
                + "\" not found"));
    }

    public T get(String id) {
        return byId.get(id);
    }

    public boolean containsKey(String id) {
        return byId.containsKey(id);
    }

    public void put(String id, T value) {
        byId.put(id, value);
    }

    public void remove(String id) {
        byId.remove(id);
    }

    public Collection<T> values() {
        return byId.values();
    }
}
