package dev.bollard.daemon.streaming;

import dev.bollard.daemon.lifecycle.ExecContainer;
import dev.bollard.daemon.container.ExecProcess;
import dev.bollard.daemon.container.io.ContainerLogger;
import dev.bollard.daemon.container.io.OutputPump;
import dev.bollard.daemon.container.io.SinkHandle;
import dev.bollard.daemon.container.io.StdinWriter;
import dev.bollard.daemon.container.io.StdioFifos;
import dev.bollard.daemon.log.Log;
import dev.bollard.daemon.network.NetNs;
import dev.bollard.daemon.sandbox.Sandbox;
import dev.bollard.daemon.sandbox.SandboxStore;
import dev.bollard.daemon.shim.GuestPortForward;
import dev.bollard.daemon.shim.ShimException;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.ConnectException;
import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The runtime side of streaming, on the container and sandbox managers.
 *
 * <p>When is the client gone? When writing to its stdout/stderr fails, when reading its stdin fails with an
 * IOException (EOF is only a half-close), when an attach client falls {@link ContainerLogger#SINK_BUFFER_BYTES}
 * behind the container's output, or when the thread running the stream is interrupted (the server's way to say the
 * connection closed). An exec process whose client is gone is killed (SIGKILL) and removed; an attach just detaches.
 */
public final class ContainerStreams implements StreamBackend {

    private static final Log LOG = Log.get("streaming");
    /** After an exec exited: how long its output may stay quiet before the pumps stop (a child may hold it open). */
    static final Duration OUTPUT_IDLE_AFTER_EXIT = Duration.ofSeconds(2);
    /** After an attached container exited: how long a slow client gets to take the rest of the output. */
    static final Duration ATTACH_DRAIN = Duration.ofSeconds(10);

    private final ExecContainer containers;
    private final SandboxStore sandboxes;
    /** Whether a pod runs in a VM (its handler's shim is the VM shim): its ports are in the guest. */
    private final java.util.function.Predicate<Sandbox> inGuest;
    /** stdin_once containers whose stdin a first attach already closed. */
    private final Set<String> stdinClosed = ConcurrentHashMap.newKeySet();

    public ContainerStreams(ExecContainer containers, SandboxStore sandboxes) {
        this(containers, sandboxes, sandbox -> false);
    }

    public ContainerStreams(ExecContainer containers, SandboxStore sandboxes,
                            java.util.function.Predicate<Sandbox> inGuest) {
        this.containers = containers;
        this.sandboxes = sandboxes;
        this.inGuest = inGuest;
    }

    // ---- exec ----

    /** The output pumps of one exec; stderr null with a terminal. */
    private record Pumps(OutputPump stdout, OutputPump stderr) implements AutoCloseable {
        static Pumps start(StdioFifos f, OutputStream out, OutputStream err) throws IOException {
            var o = OutputPump.start(f.stdout(), out);
            try {
                return new Pumps(o, f.stderr() == null ? null : OutputPump.start(f.stderr(), err));
            } catch (IOException | RuntimeException e) {
                o.close();
                throw e;
            }
        }

        List<OutputPump> all() {
            return stderr == null ? List.of(stdout) : List.of(stdout, stderr);
        }

        @Override
        public void close() {
            all().forEach(OutputPump::close);
        }
    }

    @Override
    public int exec(StreamRequest.Exec r, RemoteCommandStreams io) throws IOException, InterruptedException {
        OutputStream out = r.stdout() && io.stdout() != null ? io.stdout() : OutputStream.nullOutputStream();
        OutputStream err = r.stderr() && io.stderr() != null ? io.stderr() : OutputStream.nullOutputStream();
        ExecProcess<Pumps> p;
        try {
            p = containers.exec(r.containerId(), r.cmd(), r.tty(), r.stdin(), f -> Pumps.start(f, out, err));
        } catch (dev.bollard.daemon.errors.DomainException e) {
            throw new StreamException(e.getMessage());
        } catch (NoSuchElementException | IllegalArgumentException e) {
            throw new StreamException(e.getMessage());
        } catch (ShimException e) {
            // Mostly the runtime refusing the command ("executable file not found"): the user's to see.
            throw new StreamException("cannot exec " + r.cmd() + " in container " + r.containerId() + ": "
                    + e.statusMessage());
        }
        var gone = new CompletableFuture<String>();
        var helpers = new ArrayList<Thread>(2);
        var stdin = new StdinHolder();
        try (p) {
            for (var pump : p.output().all()) {
                pump.done().whenComplete((v, e) -> {
                    if (e instanceof OutputPump.ClientGone || e != null && e.getCause() instanceof OutputPump.ClientGone) {
                        gone.complete("its output stream failed");
                    }
                });
            }
            if (r.stdin() && io.stdin() != null) {
                helpers.add(Thread.ofVirtual().name("exec-stdin " + p.execId()).start(() ->
                        pumpStdin(io.stdin(), p.fifos().stdin(), stdin, gone, p::closeStdin, p.execId())));
            }
            if (r.tty()) {
                helpers.add(Thread.ofVirtual().name("exec-resize " + p.execId()).start(() ->
                        resizes(io, p::resizePty, p.execId())));
            }
            try {
                CompletableFuture.anyOf(p.exit(), gone).get();
            } catch (ExecutionException e) {
                // the exit wait failed (the shim died): handled below
            }
            if (!p.exit().isDone()) {
                LOG.info("exec client gone: killing the process", "id", r.containerId(), "exec", p.execId(),
                        "why", gone.getNow("?"));
                p.kill();
            }
            int code;
            try {
                code = p.awaitExit(dev.bollard.daemon.container.Container.KILL_WAIT).exitStatus();
            } catch (TimeoutException e) {
                throw new IOException("exec " + p.execId() + " did not exit " + dev.bollard.daemon.container.Container.KILL_WAIT.toSeconds()
                        + " s after SIGKILL");
            }
            if (!gone.isDone()) {
                drain(p.output());
            }
            return code;
        } catch (InterruptedException e) {
            LOG.info("exec stream interrupted: killing the process", "id", r.containerId(), "exec", p.execId());
            throw e;
        } finally {
            // p is closed (killed if still running, removed) by now; the helpers may still block on the client.
            stdin.close();
            helpers.forEach(Thread::interrupt);
        }
    }

    /** Waits until both outputs reached end of file, or stayed quiet for {@link #OUTPUT_IDLE_AFTER_EXIT}. */
    private static void drain(Pumps pumps) throws InterruptedException {
        for (var pump : pumps.all()) {
            while (true) {
                try {
                    pump.done().get(200, TimeUnit.MILLISECONDS);
                    break;
                } catch (ExecutionException e) {
                    break;
                } catch (TimeoutException e) {
                    if (pump.idleFor(OUTPUT_IDLE_AFTER_EXIT)) {
                        break;
                    }
                }
            }
        }
    }

    /** Where the stdin pump keeps its FIFO writer, so the stream's end can close it whatever the pump is doing. */
    private static final class StdinHolder implements AutoCloseable {
        private StdinWriter writer;
        private boolean closed;

        synchronized boolean set(StdinWriter w) {
            if (closed) {
                w.close();
                return false;
            }
            writer = w;
            return true;
        }

        @Override
        public synchronized void close() {
            closed = true;
            if (writer != null) {
                writer.close();
            }
        }
    }

    @FunctionalInterface
    private interface IoAction {
        void run() throws IOException;
    }

    @FunctionalInterface
    private interface Resize {
        void apply(int width, int height) throws IOException;
    }

    /**
     * Copies the client's stdin into the process's stdin FIFO. EOF (the client half-closed) runs {@code atEof};
     * a failing read means the client is gone; a failing write means the process closed its stdin, which ends
     * the copy and nothing else.
     */
    private static void pumpStdin(InputStream in, Path fifo, StdinHolder holder, CompletableFuture<String> gone,
                                  IoAction atEof, String what) {
        StdinWriter w;
        try {
            w = StdinWriter.open(fifo);
        } catch (IOException e) {
            LOG.warn("cannot open a process's stdin", "stream", what, "error", e.getMessage());
            return;
        }
        if (!holder.set(w)) {
            return;
        }
        byte[] buf = new byte[32 * 1024];
        try {
            while (true) {
                int n;
                try {
                    n = in.read(buf);
                } catch (IOException e) {
                    gone.complete("reading its stdin failed: " + e.getMessage());
                    return;
                }
                if (n < 0) {
                    break;
                }
                try {
                    w.write(buf, 0, n);
                } catch (IOException e) {
                    LOG.debug("the process closed its stdin", "stream", what, "error", e.getMessage());
                    return;
                }
            }
            w.close();
            atEof.run();
        } catch (IOException e) {
            LOG.warn("closing a process's stdin failed", "stream", what, "error", e.getMessage());
        } finally {
            w.close();
        }
    }

    private static void resizes(RemoteCommandStreams io, Resize resize, String what) {
        try {
            while (true) {
                var size = io.nextResize();
                if (size.isEmpty()) {
                    return;
                }
                if (size.get().width() <= 0 || size.get().height() <= 0) {
                    continue; // a client's placeholder before it knows its terminal
                }
                try {
                    resize.apply(size.get().width(), size.get().height());
                } catch (IOException e) {
                    LOG.debug("resize failed (the process may have exited)", "stream", what, "error", e.getMessage());
                }
            }
        } catch (InterruptedException e) {
            // the stream ended
        }
    }

    // ---- attach ----

    @Override
    public void attach(StreamRequest.Attach r, RemoteCommandStreams io) throws IOException, InterruptedException {
        ExecContainer.PrimaryProcess primary;
        try {
            primary = containers.primaryProcess(r.containerId());
        } catch (dev.bollard.daemon.errors.DomainException e) {
            throw new StreamException(e.getMessage());
        } catch (NoSuchElementException e) {
            throw new StreamException(e.getMessage());
        }
        var c = primary.container();
        String id = c.id();
        if (r.stdin() && !c.config().getStdin()) {
            throw new StreamException("container " + id + " was created without stdin, so it has none to attach to");
        }
        var gone = new CompletableFuture<String>();
        var helpers = new ArrayList<Thread>(2);
        var stdin = new StdinHolder();
        SinkHandle sink = null;
        try {
            OutputStream out = r.stdout() ? io.stdout() : null;
            OutputStream err = r.stderr() ? io.stderr() : null;
            if (out != null || err != null) {
                sink = primary.logger().addSink((stream, data, off, len) -> {
                    OutputStream target = "stderr".equals(stream) ? err : out;
                    if (target == null || gone.isDone()) {
                        return;
                    }
                    try {
                        target.write(data, off, len);
                        target.flush();
                    } catch (IOException | RuntimeException e) {
                        gone.complete("its output stream failed: " + e.getMessage());
                    }
                }, ContainerLogger.Overflow.DROP_SINK);
                var s = sink;
                sink.ended().thenRun(() -> {
                    if (s.overflowed()) {
                        gone.complete("it fell too far behind the container's output");
                    }
                });
            }
            if (r.stdin() && io.stdin() != null && primary.fifos().stdin() != null) {
                boolean once = c.config().getStdinOnce();
                if (once && stdinClosed.contains(id)) {
                    LOG.info("attach without stdin: a first attach closed this stdin_once container's stdin", "id", id);
                } else {
                    helpers.add(Thread.ofVirtual().name("attach-stdin " + id.substring(0, 12)).start(() ->
                            pumpStdin(io.stdin(), primary.fifos().stdin(), stdin, gone, () -> {
                                if (once && stdinClosed.add(id)) {
                                    primary.shim().closeStdin(id, "");
                                }
                            }, "attach " + id)));
                }
            }
            if (r.tty()) {
                helpers.add(Thread.ofVirtual().name("attach-resize " + id.substring(0, 12)).start(() ->
                        resizes(io, (w, h) -> primary.shim().resizePty(id, "", w, h), "attach " + id)));
            }
            var exited = c.whenExited();
            var ended = sink != null ? sink.ended() : exited;
            try {
                CompletableFuture.anyOf(ended, exited, gone).get();
                if (!gone.isDone() && !ended.isDone()) {
                    // Exited: the sink gets the last output, unless the client cannot take it in time.
                    ended.get(ATTACH_DRAIN.toMillis(), TimeUnit.MILLISECONDS);
                }
            } catch (ExecutionException | TimeoutException e) {
                // ended either way
            }
            if (gone.isDone()) {
                LOG.info("attach client gone", "id", id, "why", gone.getNow("?"));
            }
        } finally {
            if (sink != null) {
                sink.close();
            }
            stdin.close();
            helpers.forEach(Thread::interrupt);
            if (exitedAndStdinOnce(c)) {
                stdinClosed.remove(id);
            }
        }
    }

    private static boolean exitedAndStdinOnce(dev.bollard.daemon.container.Container c) {
        return c.config().getStdinOnce() && c.state() != dev.bollard.daemon.container.ContainerState.RUNNING;
    }

    // ---- port-forward ----

    @Override
    public SocketChannel portForward(String podSandboxId, int port) throws IOException {
        if (port < 1 || port > 65535) {
            throw new StreamException("port " + port + " is not a TCP port (1-65535)");
        }
        Sandbox sandbox;
        try {
            sandbox = sandboxes.get(podSandboxId);
        } catch (NoSuchElementException e) {
            throw new StreamException(e.getMessage());
        }
        if (!sandbox.ready()) {
            throw new StreamException("pod sandbox " + sandbox.id() + " is not ready");
        }
        String netns = sandbox.record().netns();
        try {
            if (inGuest.test(sandbox)) {
                // The pod's ports listen in its VM: the shim relays to the guest's loopback through its agent.
                if (!(dev.bollard.daemon.shim.ShimGroups.Member.processOf(sandbox.shim())
                        instanceof dev.bollard.daemon.shim.Shim shim)) {
                    throw new StreamException("pod sandbox " + sandbox.id() + " has no running VM shim");
                }
                return GuestPortForward.connect(shim.socket(), port);
            }
            if (netns.isEmpty()) {
                return connectLocal(port); // a host-network pod: its localhost is the node's
            }
            // A socket stays in the namespace it was created in: create and connect it there, use it anywhere.
            return NetNs.at(Path.of(netns)).run(() -> connectLocal(port));
        } catch (ConnectException e) {
            throw new StreamException("nothing accepts connections on port " + port + " in pod sandbox "
                    + sandbox.id() + " (" + e.getMessage() + ")");
        } catch (IOException e) {
            throw e;
        } catch (Exception e) {
            throw new IOException("cannot connect to port " + port + " in pod sandbox " + sandbox.id() + ": " + e, e);
        }
    }

    /** localhost:port as a Go dialer does it: IPv4 loopback first, then IPv6. */
    private static SocketChannel connectLocal(int port) throws IOException {
        ConnectException refused = null;
        for (InetAddress a : List.of(Inet4Address.getByName("127.0.0.1"), Inet6Address.getByName("::1"))) {
            var ch = SocketChannel.open();
            try {
                ch.connect(new InetSocketAddress(a, port));
                return ch;
            } catch (ConnectException e) {
                ch.close();
                if (refused == null) {
                    refused = e;
                }
            } catch (IOException | RuntimeException e) {
                ch.close();
                if (refused == null) {
                    throw e;
                }
                break; // no IPv6 in the namespace: the IPv4 refusal is the answer
            }
        }
        throw refused;
    }
}
