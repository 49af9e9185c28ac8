package dev.bollard.daemon.container;

import dev.bollard.daemon.content.Digest;
import dev.bollard.daemon.log.Log;
import dev.bollard.daemon.sandbox.LifecycleEvent;
import dev.bollard.daemon.store.EntryStore;
import dev.bollard.daemon.store.RecordStore;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The containers: lookup by ID and unique prefix, the index by pod, name reservations, the records on disk
 * ({@code <root>/store/containers/<id>.json}) and {@link #update}, the one way a container's record changes: the
 * transition checked against {@link ContainerState#canBecome}, written atomically, then made visible, all under the
 * container's lock. Lifecycle events are told to the listener by the operations, after the step they report.
 */
public final class ContainerStore extends EntryStore<Container, ContainerRecord, LifecycleEvent> {

    private static final Log LOG = Log.get("container");

    private final ConcurrentHashMap<String, Set<String>> idsByPod = new ConcurrentHashMap<>();

    /** Told after each lifecycle step, on the thread that made it; must not block. */
    @FunctionalInterface
    public interface Listener extends EntryStore.Listener<Container, LifecycleEvent> {
    }

    public ContainerStore(Path recordDir) throws IOException {
        super("container", LOG, new RecordStore<>(recordDir, ContainerRecord.class, ContainerRecord.SCHEMA));
    }

    public List<Container> ofPod(String podId) {
        var ids = idsByPod.get(podId);
        if (ids == null) {
            return List.of();
        }
        return ids.stream().map(byId::get).filter(java.util.Objects::nonNull).toList();
    }

    /** Writes a new container's record, then makes the container visible. */
    public void insert(Container c) throws IOException {
        insert(c, List.of());
    }

    /**
     * {@link #insert} that also commits the container's files written without fsync ({@code config.json}): they
     * are durable before the record is. The record's rename is not fsynced: a container created but never started
     * is all a power loss can take (StartContainer's fsynced record write commits the create with it, the journal
     * being in order), and after the reboot nothing needs it — its directories go with the start-up scan, and
     * kubelet creates its containers again.
     */
    public void insert(Container c, List<Path> durableFirst) throws IOException {
        writeRecord(c.id(), c.record(), durableFirst, true);
        index(c);
    }

    /**
     * No fsync of the records' directory for a RemoveContainer (about a millisecond of the call): a record that comes
     * back after a power loss is an exited container (nothing runs after a reboot) whose removal recovery completes
     * when its bundle is gone, or which kubelet removes again; the next record written or the file system's commit
     * interval makes the deletion durable anyway.
     */
    @Override
    protected boolean removalDurable() {
        return false;
    }

    @Override
    protected void indexed(Container c) {
        idsByPod.computeIfAbsent(c.record().sandboxId(), k -> ConcurrentHashMap.newKeySet()).add(c.id());
    }

    @Override
    protected void forgotten(Container c) {
        var ids = idsByPod.get(c.record().sandboxId());
        if (ids != null) {
            ids.remove(c.id());
            if (ids.isEmpty()) {
                idsByPod.remove(c.record().sandboxId(), ids);
            }
        }
    }

    @Override
    protected String id(Container c) {
        return c.id();
    }

    @Override
    protected String name(Container c) {
        return c.record().name();
    }

    @Override
    protected ReentrantLock lock(Container c) {
        return c.lock();
    }

    @Override
    protected ContainerRecord record(Container c) {
        return c.record();
    }

    @Override
    protected void setRecord(Container c, ContainerRecord record) {
        c.record(record);
    }

    @Override
    protected boolean removed(Container c) {
        return c.removed();
    }

    @Override
    protected void markRemoved(Container c) {
        c.markRemoved();
    }

    @Override
    protected String recordId(ContainerRecord record) {
        return record.id();
    }

    @Override
    protected void checkState(ContainerRecord from, ContainerRecord to) {
        if (!from.state().canBecome(to.state())) {
            throw new IllegalStateException("container " + from.id() + " cannot go from " + from.state()
                    + " to " + to.state());
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
