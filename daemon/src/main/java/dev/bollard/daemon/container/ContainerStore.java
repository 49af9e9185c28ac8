package dev.bollard.daemon.container;

import dev.bollard.daemon.content.Digest;
import dev.bollard.daemon.log.Log;
import dev.bollard.daemon.sandbox.LifecycleEvent;
import dev.bollard.daemon.store.IdIndex;
import dev.bollard.daemon.store.NameRegistry;
import dev.bollard.daemon.store.RecordStore;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.UnaryOperator;

/**
 * The containers: lookup by ID and unique prefix, the index by pod, name reservations, the records on disk
 * ({@code <root>/store/containers/<id>.json}) and {@link #update}, the one way a container's record changes: the
 * transition checked against {@link ContainerState#canBecome}, written atomically, then made visible, all under the
 * container's lock. Lifecycle events are told to the listener by the operations, after the step they report.
 */
public final class ContainerStore {

    private static final Log LOG = Log.get("container");

    private final RecordStore<ContainerRecord> records;
    private final NameRegistry names = new NameRegistry();
    private final IdIndex<Container> byId = new IdIndex<>("container");
    private final ConcurrentHashMap<String, Set<String>> idsByPod = new ConcurrentHashMap<>();
    private volatile Listener listener = (c, e) -> { };

    /** Told after each lifecycle step, on the thread that made it; must not block. */
    @FunctionalInterface
    public interface Listener {
        void changed(Container c, LifecycleEvent event);
    }

    public ContainerStore(Path recordDir) throws IOException {
        this.records = new RecordStore<>(recordDir, ContainerRecord.class, ContainerRecord.SCHEMA);
    }

    public void listener(Listener l) {
        listener = l;
    }

    public void tell(Container c, LifecycleEvent event) {
        try {
            listener.changed(c, event);
        } catch (RuntimeException e) {
            LOG.warn("container event listener failed", "id", c.id(), "event", event, "error", e.getMessage());
        }
    }

    // ---- lookups ----

    public Optional<Container> find(String idOrPrefix) {
        return byId.find(idOrPrefix);
    }

    /** By ID or unique prefix; NOT_FOUND (NoSuchElementException) when none. */
    public Container get(String idOrPrefix) {
        return byId.require(idOrPrefix);
    }

    /** By full ID only, or null. */
    public Container byFullId(String id) {
        return byId.get(id);
    }

    public boolean contains(String id) {
        return byId.containsKey(id);
    }

    public List<Container> list() {
        return List.copyOf(byId.values());
    }

    public List<Container> ofPod(String podId) {
        var ids = idsByPod.get(podId);
        if (ids == null) {
            return List.of();
        }
        return ids.stream().map(byId::get).filter(java.util.Objects::nonNull).toList();
    }

    // ---- names ----

    /** @return empty when reserved for {@code id}; otherwise the ID that holds the name */
    public Optional<String> reserveName(String name, String id) {
        return names.reserve(name, id);
    }

    public void releaseName(String name, String id) {
        names.release(name, id);
    }

    // ---- records ----

    /** Where the records live (named in errors about them). */
    public Path recordDir() {
        return records.dir();
    }

    public List<ContainerRecord> loadAll() throws IOException {
        return records.loadAll();
    }

    /** Writes a new container's record, then makes the container visible. */
    public void insert(Container c) throws IOException {
        records.put(c.id(), c.record());
        index(c);
    }

    /** Makes a recovered container visible (its record is on disk already). */
    public void index(Container c) {
        idsByPod.computeIfAbsent(c.record().sandboxId(), k -> ConcurrentHashMap.newKeySet()).add(c.id());
        byId.put(c.id(), c);
    }

    /** Deletes a record whose container never became visible (a failed create, an orphan). */
    public void deleteRecord(String id) throws IOException {
        records.delete(id);
    }

    /**
     * Deletes the record, forgets the container and releases its name, under its lock; from then on {@link #update}
     * writes nothing for it (a late exit would otherwise put the record back on disk).
     */
    public void remove(Container c) throws IOException {
        c.lock().lock();
        try {
            records.delete(c.id());
            c.markRemoved();
            byId.remove(c.id());
            var ids = idsByPod.get(c.record().sandboxId());
            if (ids != null) {
                ids.remove(c.id());
                if (ids.isEmpty()) {
                    idsByPod.remove(c.record().sandboxId(), ids);
                }
            }
            names.release(c.record().name(), c.id());
        } finally {
            c.lock().unlock();
        }
    }

    /**
     * Changes a container's record under its lock: {@code fn} gives the new record from the current one, the state
     * change is checked against {@link ContainerState#canBecome} (an illegal one is a bug: IllegalStateException,
     * nothing written), the record written atomically and then made visible. A failed write is logged and the new
     * record kept in memory, as the process it describes has changed either way. A removed container is not changed
     * (its record stays deleted): the current record is returned.
     */
    public ContainerRecord update(Container c, UnaryOperator<ContainerRecord> fn) {
        c.lock().lock();
        try {
            var from = c.record();
            if (c.removed()) {
                LOG.debug("update of a removed container ignored", "id", from.id());
                return from;
            }
            var to = fn.apply(from);
            if (!to.id().equals(from.id())) {
                throw new IllegalStateException("container " + from.id() + ": an update cannot change the ID");
            }
            if (!from.state().canBecome(to.state())) {
                throw new IllegalStateException("container " + from.id() + " cannot go from " + from.state()
                        + " to " + to.state());
            }
            try {
                records.put(to.id(), to);
            } catch (IOException e) {
                LOG.error("cannot persist container record", e, "id", to.id());
            }
            c.record(to);
            return to;
        } finally {
            c.lock().unlock();
        }
    }

    /** The snapshots containers' root filesystems and image volumes stack, from their records (the image may be gone). */
    public Set<Digest> snapshotsInUse() {
        var out = new java.util.HashSet<Digest>();
        for (var c : byId.values()) {
            var lowers = new java.util.ArrayList<>(c.record().lowerDirs());
            lowers.addAll(c.record().volumeLowerDirs());
            for (String lower : lowers) {
                // SnapshotStore names a snapshot directory <algorithm>-<hex> after its chain ID.
                String name = Path.of(lower).getFileName().toString();
                try {
                    out.add(Digest.parse(name.replaceFirst("-", ":")));
                } catch (IllegalArgumentException ignored) {
                    // not a snapshot directory
                }
            }
        }
        return out;
    }
}
