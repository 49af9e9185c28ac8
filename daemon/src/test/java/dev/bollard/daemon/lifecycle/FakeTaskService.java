package dev.bollard.daemon.lifecycle;

import dev.bollard.api.containerd.types.Mount;
import dev.bollard.daemon.shim.ExitInfo;
import dev.bollard.daemon.shim.ShimNotFoundException;
import dev.bollard.daemon.shim.TaskIo;
import dev.bollard.daemon.shim.TaskService;
import dev.bollard.daemon.shim.TaskState;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;

/**
 * A task service in memory, for the lifecycle's unit tests: tasks go CREATED → RUNNING → STOPPED as a shim's do, a
 * signal ends a running task (128 + signal) unless told to ignore it, and any call can be made to fail. Like a shim
 * it holds the task's stdout/stderr FIFOs open for writing while the task runs, so the log pump sees the end.
 */
final class FakeTaskService implements TaskService {

    final List<String> calls = Collections.synchronizedList(new ArrayList<>());
    /** Calls (by name: create, start, kill, delete, state, shutdown) that throw IOException. */
    final Set<String> failing = ConcurrentHashMap.newKeySet();
    /** Calls during which the shim process dies (SIGKILL): it answers nothing from then on. */
    final Set<String> dyingAt = ConcurrentHashMap.newKeySet();
    /** Task IDs whose state call throws IOException (one pod's call failing in a shared shim). */
    final Set<String> failingStateOf = ConcurrentHashMap.newKeySet();
    /** Task IDs whose process ignores every signal but SIGKILL. */
    final Set<String> ignoringSignals = ConcurrentHashMap.newKeySet();
    /** Run at the start of each state call with the task's ID (a test holding one call back). */
    volatile java.util.function.Consumer<String> beforeState = id -> { };
    volatile boolean alive = true;
    private final Map<String, Task> tasks = new ConcurrentHashMap<>();
    private int nextPid = 1000;

    private static final class Task {
        volatile TaskState.Status status = TaskState.Status.CREATED;
        volatile int pid;
        final CompletableFuture<ExitInfo> exit = new CompletableFuture<>();
        final List<FileChannel> stdio = new ArrayList<>();
    }

    private void call(String name, String detail) throws IOException {
        calls.add(name + " " + detail);
        if (!alive) {
            throw new IOException("fake shim: connection closed");
        }
        if (dyingAt.contains(name)) {
            die();
            throw new IOException("fake shim: died during " + name);
        }
        if (failing.contains(name)) {
            throw new IOException("fake shim: " + name + " failed");
        }
    }

    private Task task(String id) throws ShimNotFoundException {
        var t = tasks.get(id);
        if (t == null) {
            throw new ShimNotFoundException("task " + id, "not found", null);
        }
        return t;
    }

    boolean has(String id) {
        return tasks.containsKey(id);
    }

    TaskState.Status status(String id) {
        var t = tasks.get(id);
        return t == null ? null : t.status;
    }

    long count(String prefix) {
        return calls.stream().filter(c -> c.startsWith(prefix)).count();
    }

    /** The task's process ends with {@code code}. */
    void exit(String id, int code) {
        var t = tasks.get(id);
        if (t == null || t.status == TaskState.Status.STOPPED) {
            return;
        }
        t.status = TaskState.Status.STOPPED;
        closeStdio(t);
        t.exit.complete(new ExitInfo(t.pid, code, Instant.now()));
    }

    /** The shim process dies: every waiter's connection breaks, and the FIFO ends it held close. */
    void die() {
        alive = false;
        for (var t : tasks.values()) {
            closeStdio(t);
            t.exit.completeExceptionally(new IOException("fake shim: connection closed"));
        }
    }

    private static void closeStdio(Task t) {
        synchronized (t.stdio) {
            for (var ch : t.stdio) {
                try {
                    ch.close();
                } catch (IOException ignored) {
                    // closing a FIFO's write end
                }
            }
            t.stdio.clear();
        }
    }

    @Override
    public int create(String id, Path bundle, List<Mount> rootfs, TaskIo io, Path checkpoint) throws IOException {
        call("create", id);
        var t = new Task();
        t.pid = nextPid++;
        for (String p : List.of(io.stdout(), io.stderr())) {
            if (!p.isEmpty()) {
                t.stdio.add(FileChannel.open(Path.of(p), StandardOpenOption.WRITE));
            }
        }
        tasks.put(id, t);
        return t.pid;
    }

    @Override
    public int start(String id, String execId) throws IOException {
        call("start", id);
        var t = task(id);
        t.status = TaskState.Status.RUNNING;
        return t.pid;
    }

    @Override
    public void kill(String id, String execId, int signal, boolean all) throws IOException {
        call("kill", id + " " + signal);
        var t = task(id);
        if (t.status == TaskState.Status.RUNNING && (signal == 9 || !ignoringSignals.contains(id))) {
            exit(id, 128 + signal);
        } else if (t.status == TaskState.Status.CREATED && signal == 9) {
            exit(id, 128 + signal); // as runc's: the created task's init process, waiting to exec, is killed
        }
    }

    @Override
    public ExitInfo delete(String id, String execId) throws IOException {
        call("delete", id);
        var t = task(id);
        if (t.status == TaskState.Status.RUNNING) {
            throw new IOException("fake shim: cannot delete running task " + id);
        }
        tasks.remove(id);
        exit(id, 0);
        return t.exit.getNow(new ExitInfo(t.pid, 0, Instant.EPOCH));
    }

    @Override
    public ExitInfo await(String id, String execId) throws IOException, InterruptedException {
        var t = task(id);
        try {
            return t.exit.get();
        } catch (ExecutionException e) {
            throw e.getCause() instanceof IOException io ? io : new IOException(e.getCause());
        }
    }

    @Override
    public TaskState state(String id, String execId) throws IOException {
        beforeState.accept(id);
        call("state", id);
        if (failingStateOf.contains(id)) {
            throw new IOException("fake shim: state of " + id + " failed");
        }
        var t = task(id);
        var exit = t.exit.getNow(null);
        return new TaskState(id, t.status, t.pid, exit == null ? 0 : exit.exitStatus(),
                exit == null ? Instant.EPOCH : exit.exitedAt());
    }

    @Override
    public void exec(String id, String execId, TaskIo io, byte[] ociProcessJson) throws IOException {
        throw new IOException("fake shim: no execs");
    }

    @Override
    public void resizePty(String id, String execId, int width, int height) throws IOException {
        throw new IOException("fake shim: no terminals");
    }

    @Override
    public void closeStdin(String id, String execId) throws IOException {
        call("closeStdin", id);
    }

    @Override
    public void update(String id, byte[] ociLinuxResourcesJson) throws IOException {
        call("update", id);
        task(id);
    }

    @Override
    public void checkpoint(String id, Path imagePath, Path workPath, Duration timeout) throws IOException {
        throw new IOException("fake shim: no CRIU");
    }

    @Override
    public List<Integer> pids(String id) throws IOException {
        call("pids", id);
        return List.of(task(id).pid);
    }

    @Override
    public boolean isAlive() {
        return alive;
    }

    @Override
    public void shutdown() throws IOException {
        call("shutdown", "");
        alive = false;
    }

    @Override
    public void close() {
        calls.add("close ");
    }
}
