package dev.bollard.daemon.store;

import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Names reserved for ids: two concurrent creations of the same pod or container name get exactly one winner, the
 * other learns who holds it. A reservation is taken before any resource is created and released on rollback or
 * removal.
 */
public final class NameRegistry {

    private final ConcurrentHashMap<String, String> idByName = new ConcurrentHashMap<>();

    /** @return empty when reserved for {@code id}; otherwise the id that already holds the name */
    public Optional<String> reserve(String name, String id) {
        String holder = idByName.putIfAbsent(name, id);
        return holder == null || holder.equals(id) ? Optional.empty() : Optional.of(holder);
    }

    public void release(String name, String id) {
        idByName.remove(name, id);
    }

    public Optional<String> holder(String name) {
        return Optional.ofNullable(idByName.get(name));
    }
}
