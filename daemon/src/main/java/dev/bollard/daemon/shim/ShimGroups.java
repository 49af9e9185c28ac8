package dev.bollard.daemon.shim;

import dev.bollard.api.containerd.types.Mount;
import dev.bollard.daemon.log.Log;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Shims shared by several pods: which shim each group of pods runs in, and how many pods it holds. A pod joins the
 * first live shim of its group with room, or starts a new one; its {@link TaskService} is a {@link Member} that
 * forwards every task call to the shared shim (the runc shim keys tasks by ID, so pods never see each other's) and
 * whose {@link Member#shutdown()} shuts the shim down only when the pod is its last. A shim found dead takes no new
 * pods: the next pod of its group gets a new one.
 *
 * <p>containerd-shim-runc-v2 creates and starts one task at a time (its Create holds the service lock while runc
 * runs, its Start the event lock), so pods starting at once are spread: a pod joins the shim with room that has the
 * fewest pods starting, and when each has {@value #STARTS_PER_SHIM} already, it starts a new shim (which later pods
 * fill) instead of queueing behind them. (Measured: with two starting pods per shim, pod start at 10 pods per shim
 * was 9-25 % slower than with a shim per pod; with one, not slower.)
 */
public final class ShimGroups {

    private static final Log LOG = Log.get("shim");

    /** Starts a new shim under {@code shimId}. */
    @FunctionalInterface
    public interface Launcher {
        TaskService launch(String shimId) throws IOException, InterruptedException;
    }

    /** Reconnects to a running shim (daemon restart). */
    @FunctionalInterface
    public interface Connector {
        TaskService connect(String shimId) throws IOException;
    }

    /** Told once a shim's last pod has left, after its shutdown (or after it died): its files can go. */
    @FunctionalInterface
    public interface Retirement {
        void retired(String shimId);
    }

    /** Pods that may start in one shim at once before the next pod of the group starts a new shim. */
    static final int STARTS_PER_SHIM = 1;

    private final ReentrantLock lock = new ReentrantLock();
    private final Map<String, List<Group>> open = new HashMap<>();      // group key -> shims taking pods; lock
    private final Map<String, Group> byShimId = new HashMap<>();        // every shim with members; lock
    private final Map<String, CompletableFuture<Void>> launching = new HashMap<>(); // group key -> start; lock
    private final Retirement retirement;

    public ShimGroups(Retirement retirement) {
        this.retirement = retirement;
    }

    private static final class Group {
        final String shimId;
        final ShimGroup group;
        final TaskService shim;
        final Set<String> pods = new LinkedHashSet<>(); // ShimGroups.lock
        int starting; // pods joined whose infra task has not started yet; ShimGroups.lock

        Group(String shimId, ShimGroup group, TaskService shim) {
            this.shimId = shimId;
            this.group = group;
            this.shim = shim;
        }
    }

    /**
     * The pod's place in a shim of {@code group}: the first live one with room, else one {@code launcher} starts
     * under a new id (concurrent pods of a group wait for that start rather than start shims of their own).
     */
    public Member join(String podId, ShimGroup group, Launcher launcher) throws IOException, InterruptedException {
        while (true) {
            CompletableFuture<Void> pending;
            lock.lock();
            try {
                Group room = withRoom(group.key());
                if (room != null) {
                    room.pods.add(podId);
                    room.starting++;
                    return new Member(room, podId, true);
                }
                pending = launching.get(group.key());
                if (pending == null) {
                    launching.put(group.key(), new CompletableFuture<>());
                }
            } finally {
                lock.unlock();
            }
            if (pending != null) {
                try {
                    pending.get();
                } catch (ExecutionException e) {
                    // that start failed: this pod tries one of its own
                }
                continue;
            }
            return launch(podId, group, launcher);
        }
    }

    private Member launch(String podId, ShimGroup group, Launcher launcher) throws IOException, InterruptedException {
        String shimId = newShimId();
        TaskService shim;
        try {
            shim = launcher.launch(shimId);
        } catch (IOException | InterruptedException | RuntimeException e) {
            lock.lock();
            try {
                launching.remove(group.key()).completeExceptionally(e);
            } finally {
                lock.unlock();
            }
            throw e;
        }
        var started = new Group(shimId, group, shim);
        lock.lock();
        try {
            started.pods.add(podId);
            started.starting++;
            open.computeIfAbsent(group.key(), k -> new ArrayList<>()).add(started);
            byShimId.put(shimId, started);
            launching.remove(group.key()).complete(null);
        } finally {
            lock.unlock();
        }
        LOG.info("shared shim started", "group", group.key(), "shim", shimId, "pod", podId);
        return new Member(started, podId, true);
    }

    /**
     * A pod of shim {@code shimId} after a daemon restart: the group's connection is made by the first of its pods
     * and shared by the others; the shim takes new pods of the group again while it has room.
     */
    public Member rejoin(String podId, String shimId, ShimGroup group, Connector connector) throws IOException {
        lock.lock();
        try {
            Group g = byShimId.get(shimId);
            if (g == null) {
                g = new Group(shimId, group, connector.connect(shimId));
                byShimId.put(shimId, g);
                open.computeIfAbsent(group.key(), k -> new ArrayList<>()).add(g);
            }
            g.pods.add(podId);
            return new Member(g, podId, false);
        } finally {
            lock.unlock();
        }
    }

    /** Closes the connections to every shared shim (daemon shutdown); the shims keep running. */
    public void closeAll() {
        lock.lock();
        try {
            byShimId.values().forEach(g -> g.shim.close());
        } finally {
            lock.unlock();
        }
    }

    /** Ids of the shims that have pods. */
    public Set<String> shimIds() {
        lock.lock();
        try {
            return new TreeSet<>(byShimId.keySet());
        } finally {
            lock.unlock();
        }
    }

    /** Pods per shim id, for diagnostics and tests. */
    public Map<String, Set<String>> members() {
        lock.lock();
        try {
            var members = new HashMap<String, Set<String>>();
            byShimId.forEach((id, g) -> members.put(id, Set.copyOf(g.pods)));
            return members;
        } finally {
            lock.unlock();
        }
    }

    /** The first live shim of the group with room; dead ones are dropped from the open list (lock held). */
    private Group withRoom(String key) {
        var groups = open.get(key);
        if (groups == null) {
            return null;
        }
        groups.removeIf(g -> {
            if (g.shim.isAlive()) {
                return false;
            }
            LOG.warn("a shared shim died; its group's next pod gets a new one", "group", key, "shim", g.shimId,
                    "pods", g.pods.size());
            return true;
        });
        Group least = null;
        for (var g : groups) {
            if (g.pods.size() < g.group.capacity() && (least == null || g.starting < least.starting)) {
                least = g;
            }
        }
        if (groups.isEmpty()) {
            open.remove(key);
        }
        return least != null && least.starting < STARTS_PER_SHIM ? least : null;
    }

    private void started(Group g) {
        lock.lock();
        try {
            g.starting--;
        } finally {
            lock.unlock();
        }
    }

    /** Takes the pod out of its shim; true when it was the last (the shim is then no longer offered). */
    private boolean leave(Group g, String podId, boolean wasStarting) {
        lock.lock();
        try {
            if (wasStarting) {
                g.starting--;
            }
            if (!g.pods.remove(podId) || !g.pods.isEmpty()) {
                return false;
            }
            byShimId.remove(g.shimId);
            var groups = open.get(g.group.key());
            if (groups != null) {
                groups.remove(g);
                if (groups.isEmpty()) {
                    open.remove(g.group.key());
                }
            }
            return true;
        } finally {
            lock.unlock();
        }
    }

    private static String newShimId() {
        var random = new java.security.SecureRandom();
        var bytes = new byte[16];
        random.nextBytes(bytes);
        return "group-" + java.util.HexFormat.of().formatHex(bytes);
    }

    /** One pod's view of a shared shim: every task call forwarded; shutdown shuts the shim down after its last pod. */
    public final class Member implements TaskService {

        private final Group group;
        private final String podId;
        private volatile boolean left;
        /** Until the pod's infra task has started (or failed to): counted in its shim's {@code starting}. */
        private final java.util.concurrent.atomic.AtomicBoolean starting;

        private Member(Group group, String podId, boolean starting) {
            this.group = group;
            this.podId = podId;
            this.starting = new java.util.concurrent.atomic.AtomicBoolean(starting);
        }

        /** Whether this call ends the pod's start (the first to, of Start of its infra task and leaving). */
        private boolean endStart() {
            return starting.compareAndSet(true, false);
        }

        /** The shared shim's id (also its {@code -id}). */
        public String shimId() {
            return group.shimId;
        }

        /** The shared shim itself. */
        public TaskService shim() {
            return group.shim;
        }

        /** The connection to the shim process behind a pod's task service: a member's shared shim, else itself. */
        public static TaskService processOf(TaskService task) {
            return task instanceof Member m ? m.shim() : task;
        }

        @Override
        public int create(String id, Path bundle, List<Mount> rootfs, TaskIo io, Path checkpoint) throws IOException {
            return group.shim.create(id, bundle, rootfs, io, checkpoint);
        }

        @Override
        public int start(String id, String execId) throws IOException {
            try {
                return group.shim.start(id, execId);
            } finally {
                if (id.equals(podId) && execId.isEmpty() && endStart()) {
                    started(group);
                }
            }
        }

        @Override
        public void kill(String id, String execId, int signal, boolean all) throws IOException {
            group.shim.kill(id, execId, signal, all);
        }

        @Override
        public ExitInfo delete(String id, String execId) throws IOException {
            return group.shim.delete(id, execId);
        }

        @Override
        public ExitInfo await(String id, String execId) throws IOException, InterruptedException {
            return group.shim.await(id, execId);
        }

        @Override
        public TaskState state(String id, String execId) throws IOException {
            return group.shim.state(id, execId);
        }

        @Override
        public void exec(String id, String execId, TaskIo io, byte[] ociProcessJson) throws IOException {
            group.shim.exec(id, execId, io, ociProcessJson);
        }

        @Override
        public void resizePty(String id, String execId, int width, int height) throws IOException {
            group.shim.resizePty(id, execId, width, height);
        }

        @Override
        public void closeStdin(String id, String execId) throws IOException {
            group.shim.closeStdin(id, execId);
        }

        @Override
        public void update(String id, byte[] ociLinuxResourcesJson) throws IOException {
            group.shim.update(id, ociLinuxResourcesJson);
        }

        @Override
        public void checkpoint(String id, Path imagePath, Path workPath, Duration timeout) throws IOException {
            group.shim.checkpoint(id, imagePath, workPath, timeout);
        }

        @Override
        public List<Integer> pids(String id) throws IOException {
            return group.shim.pids(id);
        }

        @Override
        public boolean isAlive() {
            return !left && group.shim.isAlive();
        }

        /**
         * The pod leaves the shim (its tasks must be deleted first); the last pod's leaving shuts the shim down,
         * as a pod's own shim is shut down with its pod. Idempotent.
         */
        @Override
        public void shutdown() throws IOException {
            if (left) {
                return;
            }
            left = true;
            if (!leave(group, podId, endStart())) {
                return;
            }
            try {
                if (group.shim.isAlive()) {
                    group.shim.shutdown();
                } else {
                    group.shim.close();
                }
            } finally {
                retirement.retired(group.shimId);
            }
        }

        /**
         * The shim keeps running for the group's other pods (and, at a daemon restart, for this one). A pod whose
         * shim died leaves it here, as StopPodSandbox closes it after cleaning up its task: the last pod out lets
         * the dead shim's files go.
         */
        @Override
        public void close() {
            if (left || group.shim.isAlive()) {
                return;
            }
            left = true;
            if (leave(group, podId, endStart())) {
                group.shim.close();
                retirement.retired(group.shimId);
            }
        }

        /**
         * The pod leaves the shim without asking it to exit: a restarted daemon could not learn the state of the
         * pod's infra task from it, but the group's other pods may still be rejoining it. When no pod is left in it,
         * the connection closes and the shim takes no new pod; a shim no pod rejoined is killed and its files go
         * after recovery ({@code ShimManager.killStray}), one with pods left is shut down with the last of them.
         * Idempotent.
         */
        public void abandon() {
            if (left) {
                return;
            }
            left = true;
            if (leave(group, podId, endStart())) {
                group.shim.close();
            }
        }

        @Override
        public String toString() {
            return "ShimGroups.Member[pod=" + podId + ", shim=" + group.shimId + ", group=" + group.group.key() + "]";
        }
    }
}
