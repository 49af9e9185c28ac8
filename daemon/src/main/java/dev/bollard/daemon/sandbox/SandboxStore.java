package dev.bollard.daemon.sandbox;

import dev.bollard.daemon.log.Log;
import dev.bollard.daemon.store.EntryStore;
import dev.bollard.daemon.store.RecordStore;

import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The pod sandboxes: lookup by ID and unique prefix, name reservations, the records on disk
 * ({@code <root>/store/sandboxes/<id>.json}) and {@link #update}, the one way a visible pod's record changes: the
 * transition checked against {@link SandboxState#canBecome}, written atomically, then made visible, under the pod's
 * lock.
 */
public final class SandboxStore extends EntryStore<Sandbox, SandboxRecord, LifecycleEvent> {

    private static final Log LOG = Log.get("sandbox");

    /**
     * Told after each step, on the thread that made it (the pod's lock may be held): must not block. kubelet's
     * evented PLEG drops a pod from its cache on the sandbox's DELETED.
     */
    @FunctionalInterface
    public interface Listener extends EntryStore.Listener<Sandbox, LifecycleEvent> {
    }

    public SandboxStore(Path recordDir) throws IOException {
        super("pod sandbox", LOG, new RecordStore<>(recordDir, SandboxRecord.class, SandboxRecord.SCHEMA));
    }

    /** Writes the record of a pod being run, before it is visible (a restart then finds what to roll back). */
    public void writeDraft(SandboxRecord draft) throws IOException {
        writeRecord(draft.id(), draft);
    }

    /** A run that completed: {@code ready} (checked as a transition from {@code draft}) written, the pod visible. */
    public void publish(SandboxRecord draft, Sandbox sandbox) throws IOException {
        checkTransition(draft, sandbox.record());
        writeRecord(sandbox.id(), sandbox.record());
        index(sandbox);
    }

    @Override
    protected String id(Sandbox sandbox) {
        return sandbox.id();
    }

    @Override
    protected String name(Sandbox sandbox) {
        return sandbox.record().name();
    }

    @Override
    protected ReentrantLock lock(Sandbox sandbox) {
        return sandbox.lock();
    }

    @Override
    protected SandboxRecord record(Sandbox sandbox) {
        return sandbox.record();
    }

    @Override
    protected void setRecord(Sandbox sandbox, SandboxRecord record) {
        sandbox.record(record);
    }

    @Override
    protected boolean removed(Sandbox sandbox) {
        return sandbox.removed();
    }

    @Override
    protected void markRemoved(Sandbox sandbox) {
        sandbox.markRemoved();
    }

    @Override
    protected String recordId(SandboxRecord record) {
        return record.id();
    }

    @Override
    protected void checkState(SandboxRecord from, SandboxRecord to) {
        if (!from.state().canBecome(to.state(), from.unfinished())) {
            throw new IllegalStateException("pod sandbox " + from.id() + " cannot go from " + from.state() + " to "
                    + to.state());
        }
    }
}
