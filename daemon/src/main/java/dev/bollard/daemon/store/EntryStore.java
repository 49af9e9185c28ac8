package dev.bollard.daemon.store;

import dev.bollard.daemon.log.Log;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.UnaryOperator;

/**
 * What the pod and container stores share: lookup by ID and unique prefix, name reservations, the records on disk,
 * a listener told of lifecycle steps, and {@link #update}, the one way a visible entry's record changes: the
 * transition checked ({@link #checkTransition}), written atomically, then made visible, all under the entry's lock.
 * A removed entry is never written again. The entry's setters stay package-private to its own package: a subclass
 * reaches them through the hooks below.
 *
 * @param <E> the entry (a pod, a container)
 * @param <R> its immutable record
 * @param <V> the lifecycle event type told to the listener
 */
public abstract class EntryStore<E, R, V> {

    /** Told after each lifecycle step, on the thread that made it (the entry's lock may be held): must not block. */
    @FunctionalInterface
    public interface Listener<E, V> {
        void changed(E entry, V event);
    }

    private final String kind;
    private final Log log;
    private final RecordStore<R> records;
    private final NameRegistry names = new NameRegistry();
    protected final IdIndex<E> byId;
    private volatile Listener<? super E, ? super V> listener = (e, v) -> { };
    /**
     * Counts every change a List call could show (an entry made visible or removed, a record replaced), bumped
     * after the change is visible: an answer built at version N stays right while the version reads N.
     */
    private final java.util.concurrent.atomic.AtomicLong version = new java.util.concurrent.atomic.AtomicLong();

    protected EntryStore(String kind, Log log, RecordStore<R> records) {
        this.kind = kind;
        this.log = log;
        this.records = records;
        this.byId = new IdIndex<>(kind);
    }

    // ---- what each kind of entry answers ----

    protected abstract String id(E entry);

    protected abstract String name(E entry);

    protected abstract ReentrantLock lock(E entry);

    protected abstract R record(E entry);

    /** Only under the entry's lock, after the transition was checked. */
    protected abstract void setRecord(E entry, R record);

    protected abstract boolean removed(E entry);

    protected abstract void markRemoved(E entry);

    protected abstract String recordId(R record);

    /** Throws IllegalStateException (a bug: nothing is written) for a change the state table does not allow. */
    protected abstract void checkState(R from, R to);

    /** The ID stays, and the state change is one the table allows; else IllegalStateException. */
    protected final void checkTransition(R from, R to) {
        if (!recordId(to).equals(recordId(from))) {
            throw new IllegalStateException(kind + " " + recordId(from) + ": an update cannot change the ID");
        }
        checkState(from, to);
    }

    /** Called when an entry becomes visible; a subclass keeps its own indexes here. */
    protected void indexed(E entry) {
    }

    /** Called under the entry's lock when it is removed. */
    protected void forgotten(E entry) {
    }

    // ---- listener ----

    public void listener(Listener<? super E, ? super V> l) {
        listener = l;
    }

    public void tell(E entry, V event) {
        try {
            listener.changed(entry, event);
        } catch (RuntimeException e) {
            log.warn(kind + " event listener failed", "id", id(entry), "event", event, "error", e.getMessage());
        }
    }

    // ---- lookups ----

    /** By full ID or unique ID prefix. */
    public Optional<E> find(String idOrPrefix) {
        return byId.find(idOrPrefix);
    }

    /** By ID or unique prefix; NOT_FOUND (NoSuchElementException) when none. */
    public E get(String idOrPrefix) {
        return byId.require(idOrPrefix);
    }

    /** By full ID only, or null. */
    public E byFullId(String id) {
        return byId.get(id);
    }

    public boolean contains(String id) {
        return byId.containsKey(id);
    }

    public List<E> list() {
        return List.copyOf(byId.values());
    }

    /** See {@link #version}: read it before reading the entries an answer is built from. */
    public long version() {
        return version.get();
    }

    /** What {@link #ifPresentLocked} runs. */
    @FunctionalInterface
    public interface LockedAction<E> {
        void run(E entry) throws IOException, InterruptedException;
    }

    /**
     * Runs {@code action} under the entry's lock, unless there is no such entry or it was removed while this call
     * waited for the lock: then nothing (stopping or removing what is gone succeeds, as the CRI asks).
     */
    public void ifPresentLocked(String idOrPrefix, LockedAction<? super E> action)
            throws IOException, InterruptedException {
        var found = byId.find(idOrPrefix);
        if (found.isEmpty()) {
            return;
        }
        var entry = found.get();
        var lock = lock(entry);
        lock.lock();
        try {
            if (!removed(entry)) {
                action.run(entry);
            }
        } finally {
            lock.unlock();
        }
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

    public List<R> loadAll() throws IOException {
        return records.loadAll();
    }

    protected void writeRecord(String id, R record) throws IOException {
        records.put(id, record);
    }

    /**
     * {@link #writeRecord} that commits files written for the entry with it ({@link AtomicFiles#writeNew}), and
     * whose loss at a power loss may be harmless ({@link RecordStore#put(String, Object, List, boolean)}).
     */
    protected void writeRecord(String id, R record, List<Path> durableFirst, boolean lossHarmless) throws IOException {
        records.put(id, record, durableFirst, lossHarmless);
    }

    /**
     * Whether {@link #remove} makes the record's deletion durable before it returns (a directory fsync). A store
     * whose start-up recovers from a removed record coming back after a power loss may say no.
     */
    protected boolean removalDurable() {
        return true;
    }

    /** Deletes a record whose entry never became visible (a failed run or create, an orphan). */
    public void deleteRecord(String id) throws IOException {
        records.delete(id);
    }

    /** Makes an entry visible (its record is on disk already: a recovered one, or one just written). */
    public void index(E entry) {
        indexed(entry);
        byId.put(id(entry), entry);
        version.incrementAndGet();
    }

    /**
     * Deletes the record, forgets the entry and releases its name, under its lock; from then on {@link #update}
     * writes nothing for it (a late stop or exit would otherwise put the record back on disk).
     */
    public void remove(E entry) throws IOException {
        var lock = lock(entry);
        lock.lock();
        try {
            records.delete(id(entry), removalDurable());
            markRemoved(entry);
            byId.remove(id(entry));
            forgotten(entry);
            names.release(name(entry), id(entry));
            version.incrementAndGet();
        } finally {
            lock.unlock();
        }
    }

    /**
     * Changes an entry's record under its lock: {@code fn} gives the new record from the current one, the change is
     * checked ({@link #checkTransition}; an illegal one throws, nothing written), the record written atomically and
     * then made visible. A failed write is logged and the new record kept in memory, as what it describes has
     * changed either way. A removed entry is not changed (its record stays deleted): the current record is returned.
     */
    public R update(E entry, UnaryOperator<R> fn) {
        var lock = lock(entry);
        lock.lock();
        try {
            var from = record(entry);
            if (removed(entry)) {
                log.debug("update of a removed " + kind + " ignored", "id", id(entry));
                return from;
            }
            var to = fn.apply(from);
            checkTransition(from, to);
            try {
                records.put(id(entry), to);
            } catch (IOException e) {
                log.error("cannot persist " + kind + " record", e, "id", id(entry));
            }
            setRecord(entry, to);
            version.incrementAndGet();
            return to;
        } finally {
            lock.unlock();
        }
    }

    /** Changes the in-memory record only, checked as {@link #update} does (recovery's view before a roll-back). */
    public void updateInMemory(E entry, UnaryOperator<R> fn) {
        var lock = lock(entry);
        lock.lock();
        try {
            var to = fn.apply(record(entry));
            checkTransition(record(entry), to);
            setRecord(entry, to);
            version.incrementAndGet();
        } finally {
            lock.unlock();
        }
    }
}
