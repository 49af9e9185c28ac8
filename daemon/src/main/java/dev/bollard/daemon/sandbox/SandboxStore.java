package dev.bollard.daemon.sandbox;

import dev.bollard.daemon.log.Log;
import dev.bollard.daemon.store.IdIndex;
import dev.bollard.daemon.store.NameRegistry;
import dev.bollard.daemon.store.RecordStore;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.function.UnaryOperator;

/**
 * The pod sandboxes: lookup by ID and unique prefix, name reservations, the records on disk
 * ({@code <root>/store/sandboxes/<id>.json}) and {@link #update}, the one way a visible pod's record changes: the
 * transition checked against {@link SandboxState#canBecome}, written atomically, then made visible, under the pod's
 * lock.
 */
public final class SandboxStore {

    private static final Log LOG = Log.get("sandbox");

    private final RecordStore<SandboxRecord> records;
    private final NameRegistry names = new NameRegistry();
    private final IdIndex<Sandbox> byId = new IdIndex<>("pod sandbox");
    private volatile Listener listener = (s, e) -> { };

    /**
     * Told after each step, on the thread that made it (the pod's lock may be held): must not block. kubelet's
     * evented PLEG drops a pod from its cache on the sandbox's DELETED.
     */
    @FunctionalInterface
    public interface Listener {
        void changed(Sandbox sandbox, LifecycleEvent event);
    }

    public SandboxStore(Path recordDir) throws IOException {
        this.records = new RecordStore<>(recordDir, SandboxRecord.class, SandboxRecord.SCHEMA);
    }

    public void listener(Listener l) {
        listener = l;
    }

    public void tell(Sandbox sandbox, LifecycleEvent event) {
        try {
            listener.changed(sandbox, event);
        } catch (RuntimeException e) {
            LOG.warn("pod sandbox event listener failed", "id", sandbox.id(), "event", event, "error", e.getMessage());
        }
    }

    // ---- lookups ----

    /** A sandbox by full ID or unique ID prefix. */
    public Optional<Sandbox> find(String idOrPrefix) {
        return byId.find(idOrPrefix);
    }

    /** By ID or unique prefix; NOT_FOUND (NoSuchElementException) when none. */
    public Sandbox get(String idOrPrefix) {
        return byId.require(idOrPrefix);
    }

    /** By full ID only, or null. */
    public Sandbox byFullId(String id) {
        return byId.get(id);
    }

    public boolean contains(String id) {
        return byId.containsKey(id);
    }

    public List<Sandbox> list() {
        return List.copyOf(byId.values());
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

    public Path recordDir() {
        return records.dir();
    }

    public List<SandboxRecord> loadAll() throws IOException {
        return records.loadAll();
    }

    /** Writes the record of a pod being run, before it is visible (a restart then finds what to roll back). */
    public void writeDraft(SandboxRecord draft) throws IOException {
        records.put(draft.id(), draft);
    }

    /** Deletes the record of a pod that never became visible (a failed run). */
    public void deleteRecord(String id) throws IOException {
        records.delete(id);
    }

    /** A run that completed: {@code ready} (checked as a transition from {@code draft}) written, the pod visible. */
    public void publish(SandboxRecord draft, Sandbox sandbox) throws IOException {
        check(draft, sandbox.record());
        records.put(sandbox.id(), sandbox.record());
        byId.put(sandbox.id(), sandbox);
    }

    /** Makes a recovered pod visible (its record is on disk already). */
    public void index(Sandbox sandbox) {
        byId.put(sandbox.id(), sandbox);
    }

    /**
     * Deletes the record, forgets the pod and releases its name, under the pod's lock; from then on {@link #update}
     * writes nothing for it (a concurrent stop or infra exit would otherwise put the record back on disk).
     */
    public void remove(Sandbox sandbox) throws IOException {
        sandbox.lock().lock();
        try {
            records.delete(sandbox.id());
            sandbox.markRemoved();
            byId.remove(sandbox.id());
            names.release(sandbox.record().name(), sandbox.id());
        } finally {
            sandbox.lock().unlock();
        }
    }

    /**
     * Changes a pod's record under its lock: {@code fn} gives the new record from the current one, the state change
     * is checked against {@link SandboxState#canBecome} (an illegal one is a bug: IllegalStateException, nothing
     * written), the record written atomically and then made visible. A failed write is logged, and the new record
     * kept in memory. A removed pod is not changed (its record stays deleted): the current record is returned.
     */
    public SandboxRecord update(Sandbox sandbox, UnaryOperator<SandboxRecord> fn) {
        sandbox.lock().lock();
        try {
            var from = sandbox.record();
            if (sandbox.removed()) {
                LOG.debug("update of a removed pod sandbox ignored", "id", from.id());
                return from;
            }
            var to = fn.apply(from);
            check(from, to);
            try {
                records.put(to.id(), to);
            } catch (IOException e) {
                LOG.error("cannot persist pod sandbox record", e, "id", to.id());
            }
            sandbox.record(to);
            return to;
        } finally {
            sandbox.lock().unlock();
        }
    }

    /** Changes the in-memory record only (recovery's view of an unfinished pod before its roll-back). */
    public void updateInMemory(Sandbox sandbox, UnaryOperator<SandboxRecord> fn) {
        sandbox.lock().lock();
        try {
            var to = fn.apply(sandbox.record());
            check(sandbox.record(), to);
            sandbox.record(to);
        } finally {
            sandbox.lock().unlock();
        }
    }

    private static void check(SandboxRecord from, SandboxRecord to) {
        if (!to.id().equals(from.id())) {
            throw new IllegalStateException("pod sandbox " + from.id() + ": an update cannot change the ID");
        }
        if (!from.state().canBecome(to.state(), from.unfinished())) {
            throw new IllegalStateException("pod sandbox " + from.id() + " cannot go from " + from.state() + " to "
                    + to.state());
        }
    }
}
