package dev.bollard.vm;

import dev.bollard.daemon.log.Log;

import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The shim's end of the agent channel: qemu serves the guest's virtio-serial port {@code bollard.agent} on a UNIX
 * socket, and this connects to it. Requests are answered in any order (matched by id); stdio and exits arrive
 * asynchronously and go to the {@link Listener}, in the order the agent sent them (a process's output before its
 * exit).
 */
final class AgentChannel implements AutoCloseable {

    private static final Log LOG = Log.get("vm-agent");

    /** What the agent reports on its own. Called on the reader thread: keep it quick and non-blocking. */
    interface Listener {
        /** A chunk of a process's stdout or stderr; an empty chunk is the end of that stream. */
        void output(int handle, boolean stderr, byte[] data);

        void exited(int handle, int status);

        /** The kernel OOM-killed a process of the container whose init is {@code handle}. */
        void oomKilled(int handle);

        /** The channel ended (the VM stopped or died); {@code expected} after {@link #close()}. */
        void closed(boolean expected, String reason);

        /** Bytes from a forwarded connection in the guest; empty = its EOF. */
        default void forwardData(int handle, byte[] data) {
        }

        /** The agent wrote {@code bytes} of what was sent on a forwarded connection. */
        default void forwardAcked(int handle, long bytes) {
        }

        /** The agent ended a forwarded connection; {@code reason} is empty when both directions ended normally. */
        default void forwardClosed(int handle, String reason) {
        }
    }

    /** The agent's greeting: the guest kernel and when (seconds since guest boot) init and the agent ran. */
    record Ready(String kernelRelease, double initStarted, double agentStarted, double agentReady) {
    }

    /** The agent answered "error". */
    static final class AgentException extends IOException {
        AgentException(String message) {
            super(message);
        }
    }

    private final SocketChannel channel;
    private final InputStream in;
    private final OutputStream out;
    private final Listener listener;
    private final AtomicInteger nextId = new AtomicInteger(1);
    private final Map<Integer, CompletableFuture<List<String>>> pending = new ConcurrentHashMap<>();
    private final CompletableFuture<Ready> ready = new CompletableFuture<>();
    private volatile boolean closing;
    private final Thread reader;

    private AgentChannel(SocketChannel channel, Listener listener) {
        this.channel = channel;
        this.in = Channels.newInputStream(channel);
        this.out = Channels.newOutputStream(channel);
        this.listener = listener;
        this.reader = Thread.ofPlatform().daemon().name("vm-agent-reader").stackSize(256 * 1024).start(this::readLoop);
    }

    /** Connects to qemu's socket for the port, retrying while qemu is still creating it. */
    static AgentChannel connect(Path socket, Listener listener, Duration timeout) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        IOException last = null;
        while (System.nanoTime() < deadline) {
            SocketChannel channel = SocketChannel.open(StandardProtocolFamily.UNIX);
            try {
                channel.connect(UnixDomainSocketAddress.of(socket));
                return new AgentChannel(channel, listener);
            } catch (IOException e) {
                channel.close();
                last = e;
            }
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted while connecting to the agent socket " + socket, e);
            }
        }
        throw new IOException("cannot connect to the agent socket " + socket + " within " + timeout
                + (last == null ? "" : ": " + last.getMessage()), last);
    }

    /** Waits for the agent's READY frame. */
    Ready awaitReady(Duration timeout) throws IOException, TimeoutException, InterruptedException {
        try {
            return ready.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            throw new IOException("the guest agent never answered: " + e.getCause().getMessage(), e.getCause());
        }
    }

    /** Sends a request and waits for its answer; an "error" answer throws {@link AgentException}. */
    List<String> call(Duration timeout, String... fields) throws IOException {
        int id = nextId.getAndIncrement();
        var answer = new CompletableFuture<List<String>>();
        pending.put(id, answer);
        try {
            send(AgentFrame.request(id, List.of(fields)));
            List<String> response = answer.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
            if (response.isEmpty() || !response.getFirst().equals("ok")) {
                String message = response.size() > 1 ? String.join(" ", response.subList(1, response.size()))
                        : "(no message)";
                throw new AgentException("agent " + fields[0] + ": " + message);
            }
            return response.subList(1, response.size());
        } catch (TimeoutException e) {
            throw new IOException("agent " + fields[0] + " did not answer within " + timeout, e);
        } catch (ExecutionException e) {
            throw new IOException("agent " + fields[0] + ": " + e.getCause().getMessage(), e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted waiting for agent " + fields[0], e);
        } finally {
            pending.remove(id);
        }
    }

    /** Data for a process's stdin; empty closes it. Large data is split into frames. */
    void stdin(int handle, byte[] data, int length) throws IOException {
        if (length == 0) {
            send(new AgentFrame(AgentFrame.STDIN, handle, new byte[0]));
            return;
        }
        for (int off = 0; off < length; off += AgentFrame.MAX_PAYLOAD) {
            int n = Math.min(AgentFrame.MAX_PAYLOAD, length - off);
            byte[] chunk = new byte[n];
            System.arraycopy(data, off, chunk, 0, n);
            send(new AgentFrame(AgentFrame.STDIN, handle, chunk));
        }
    }

    /** Bytes for a forwarded connection (at most {@link AgentFrame#MAX_PAYLOAD}); empty = the host side's EOF. */
    void forwardData(int handle, byte[] data) throws IOException {
        send(new AgentFrame(AgentFrame.PF_DATA, handle, data));
    }

    /** Tells the agent that {@code bytes} of a forwarded connection's data were delivered (its window opens). */
    void forwardAck(int handle, long bytes) throws IOException {
        send(new AgentFrame(AgentFrame.PF_ACK, handle, AgentFrame.encodeFields(List.of(Long.toString(bytes)))));
    }

    /** Ends a forwarded connection in the guest (the host side is gone). */
    void forwardClose(int handle) throws IOException {
        send(new AgentFrame(AgentFrame.PF_CLOSE, handle, new byte[0]));
    }

    private void send(AgentFrame frame) throws IOException {
        byte[] bytes = frame.encode();
        synchronized (out) {
            out.write(bytes);
            out.flush();
        }
    }

    private void readLoop() {
        String reason = "agent channel closed";
        try {
            while (true) {
                AgentFrame frame = AgentFrame.read(in);
                switch (frame.type()) {
                    case AgentFrame.READY -> {
                        List<String> f = frame.fields();
                        ready.complete(new Ready(f.isEmpty() ? "" : f.get(0), number(f, 1), number(f, 2),
                                number(f, 3)));
                    }
                    case AgentFrame.RESPONSE -> {
                        CompletableFuture<List<String>> answer = pending.get(frame.id());
                        if (answer != null) {
                            answer.complete(frame.fields());
                        }
                    }
                    case AgentFrame.STDOUT, AgentFrame.STDERR ->
                            listener.output(frame.id(), frame.type() == AgentFrame.STDERR, frame.payload());
                    case AgentFrame.EXIT -> {
                        List<String> f = frame.fields();
                        int status;
                        try {
                            status = Integer.parseInt(f.isEmpty() ? "" : f.getFirst());
                        } catch (NumberFormatException e) {
                            status = 255;
                        }
                        listener.exited(frame.id(), status);
                    }
                    case AgentFrame.OOM -> listener.oomKilled(frame.id());
                    case AgentFrame.PF_DATA -> listener.forwardData(frame.id(), frame.payload());
                    case AgentFrame.PF_ACK -> {
                        List<String> f = frame.fields();
                        try {
                            listener.forwardAcked(frame.id(), Long.parseLong(f.isEmpty() ? "" : f.getFirst()));
                        } catch (NumberFormatException e) {
                            LOG.debug("PF_ACK without a count ignored", "handle", frame.id());
                        }
                    }
                    case AgentFrame.PF_CLOSE -> listener.forwardClosed(frame.id(),
                            String.join(" ", frame.fields()));
                    default -> LOG.debug("agent frame of unknown type ignored", "type", frame.type());
                }
            }
        } catch (EOFException e) {
            reason = e.getMessage();
        } catch (IOException e) {
            reason = "agent channel failed: " + e.getMessage();
        } catch (RuntimeException e) {
            reason = "agent channel failed: " + e;
            LOG.warn("agent channel reader failed", "error", e.toString());
        }
        var failure = new IOException(reason);
        ready.completeExceptionally(failure);
        pending.values().forEach(answer -> answer.completeExceptionally(failure));
        listener.closed(closing, reason);
    }

    private static double number(List<String> fields, int index) {
        try {
            return index < fields.size() ? Double.parseDouble(fields.get(index)) : Double.NaN;
        } catch (NumberFormatException e) {
            return Double.NaN;
        }
    }

    /** From now on the channel's end is expected (the guest was asked to power off): no alarm, no exits reported. */
    void expectClose() {
        closing = true;
    }

    /** Closes the connection; the listener hears {@code closed(true, …)}. */
    @Override
    public void close() {
        closing = true;
        try {
            channel.close();
        } catch (IOException e) {
            LOG.debug("closing the agent channel failed", "error", e.getMessage());
        }
        try {
            reader.join(Duration.ofSeconds(2));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
