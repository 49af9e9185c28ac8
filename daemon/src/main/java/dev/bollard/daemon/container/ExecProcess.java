package dev.bollard.daemon.container;

import dev.bollard.daemon.container.io.StdioFifos;
import dev.bollard.daemon.log.Log;
import dev.bollard.daemon.shim.ExitInfo;
import dev.bollard.daemon.shim.TaskService;
import dev.bollard.daemon.shim.ShimNotFoundException;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HexFormat;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * One exec process in a container's task, shared by ExecSync and streaming exec: its FIFOs, the caller's output
 * readers (opened before the shim's Exec so no output is missed and the shim's open of the write ends returns),
 * Exec + Start on the pod's shim and the exit awaited on a virtual thread. {@link #close} leaves nothing: a
 * process still running is killed (SIGKILL), the exec is deleted in the shim, the readers closed, the FIFOs removed.
 *
 * @param <T> what reads the output (e.g. an {@link dev.bollard.daemon.container.io.OutputCapture})
 */
public final class ExecProcess<T extends AutoCloseable> implements AutoCloseable {

    private static final Log LOG = Log.get("container");

    /** Opens the readers of the exec's output on its FIFOs. */
    @FunctionalInterface
    public interface Output<T extends AutoCloseable> {
        T open(StdioFifos fifos) throws IOException;
    }

    private final TaskService shim;
    private final String containerId;
    private final String execId;
    private final StdioFifos fifos;
    private final T output;
    private final CompletableFuture<ExitInfo> exit;
    private boolean closed;

    private ExecProcess(TaskService shim, String containerId, String execId, StdioFifos fifos, T output,
                        CompletableFuture<ExitInfo> exit) {
        this.shim = shim;
        this.containerId = containerId;
        this.execId = execId;
        this.fifos = fifos;
        this.output = output;
        this.exit = exit;
    }

    /** Creates and starts the process; on failure nothing of it is left (FIFOs, readers, the exec in the shim). */
    public static <T extends AutoCloseable> ExecProcess<T> start(TaskService shim, String containerId, Path dir, byte[] processJson,
                                                         boolean tty, boolean stdin, Output<T> output)
            throws IOException {
        String execId = "exec-" + HexFormat.of().formatHex(randomBytes(6));
        var fifos = StdioFifos.create(dir, execId, stdin, tty);
        T out = null;
        boolean created = false;
        try {
            out = output.open(fifos);
            shim.exec(containerId, execId, new dev.bollard.daemon.shim.TaskIo(
                    fifos.stdin() == null ? "" : fifos.stdin().toString(), fifos.stdout().toString(),
                    fifos.stderr() == null ? "" : fifos.stderr().toString(), tty), processJson);
            created = true;
            shim.start(containerId, execId);
        } catch (IOException | RuntimeException e) {
            if (created) {
                deleteQuietly(shim, containerId, execId);
            }
            closeQuietly(out);
            removeQuietly(fifos);
            throw e;
        }
        var exit = new CompletableFuture<ExitInfo>();
        Thread.ofVirtual().name("exec-wait " + execId).start(() -> {
            try {
                exit.complete(shim.await(containerId, execId));
            } catch (IOException e) {
                exit.completeExceptionally(new UncheckedIOException(e));
            } catch (InterruptedException e) {
                exit.completeExceptionally(e);
            }
        });
        return new ExecProcess<>(shim, containerId, execId, fifos, out, exit);
    }

    public String execId() {
        return execId;
    }

    public StdioFifos fifos() {
        return fifos;
    }

    public T output() {
        return output;
    }

    /** Completes with the exit once the process ended; exceptionally when the shim could not say (it died). */
    public CompletableFuture<ExitInfo> exit() {
        return exit;
    }

    /** Waits for the exit; an IOException when the shim could not report it. */
    public ExitInfo awaitExit(Duration timeout) throws IOException, InterruptedException, TimeoutException {
        try {
            return timeout == null ? exit.get() : exit.get(timeout.toNanos(), TimeUnit.NANOSECONDS);
        } catch (ExecutionException e) {
            throw e.getCause() instanceof UncheckedIOException u ? u.getCause()
                    : new IOException("waiting for exec " + execId + " failed: " + e.getCause(), e.getCause());
        }
    }

    /** SIGKILL; a process that already ended is fine. */
    public void kill() throws IOException {
        try {
            shim.kill(containerId, execId, 9, false);
        } catch (ShimNotFoundException ignored) {
            // finished and deleted just now
        }
    }

    public void resizePty(int width, int height) throws IOException {
        shim.resizePty(containerId, execId, width, height);
    }

    /** Tells the shim to close the process's stdin (the shim holds a write end of the FIFO until then). */
    public void closeStdin() throws IOException {
        shim.closeStdin(containerId, execId);
    }

    /**
     * Kills the process if it still runs and waits for its exit (up to {@link Container#KILL_WAIT}, since an
     * exec can only be deleted once it exited), deletes it in the shim, closes the output readers and removes the
     * FIFOs. Runs to the end even when the calling thread is interrupted (the interrupt is kept). Idempotent.
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        boolean interrupted = Thread.interrupted();
        try {
            if (!exit.isDone()) {
                try {
                    kill();
                    exit.get(Container.KILL_WAIT.toMillis(), TimeUnit.MILLISECONDS);
                } catch (IOException e) {
                    LOG.warn("cannot kill an exec process", "id", containerId, "exec", execId, "error", e.getMessage());
                } catch (TimeoutException e) {
                    LOG.warn("an exec did not exit after SIGKILL", "id", containerId, "exec", execId);
                } catch (ExecutionException e) {
                    // the shim could not say how it ended; the delete below still tries
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
            deleteQuietly(shim, containerId, execId);
            closeQuietly(output);
            removeQuietly(fifos);
        } finally {
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private static void deleteQuietly(TaskService shim, String id, String execId) {
        try {
            shim.delete(id, execId);
        } catch (ShimNotFoundException ignored) {
            // already gone
        } catch (IOException e) {
            LOG.warn("cannot delete exec process", "id", id, "exec", execId, "error", e.getMessage());
        }
    }

    private static void closeQuietly(AutoCloseable c) {
        if (c == null) {
            return;
        }
        try {
            c.close();
        } catch (Exception e) {
            LOG.warn("closing exec output failed", "error", String.valueOf(e));
        }
    }

    private static void removeQuietly(StdioFifos fifos) {
        try {
            fifos.remove();
        } catch (IOException e) {
            LOG.warn("cannot remove exec FIFOs", "error", e.getMessage());
        }
    }

    private static byte[] randomBytes(int n) {
        var b = new byte[n];
        new java.security.SecureRandom().nextBytes(b);
        return b;
    }
}
