package dev.bollard.vm;

import dev.bollard.daemon.log.Log;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Port-forward into the guest: the pod's ports listen in the guest, not in the pod's network namespace on the host,
 * so CRI PortForward goes through the shim. A client (Bollard's {@code shim.GuestPortForward}) connects to
 * {@code portforward.sock} in the pod's state directory and writes the port as a decimal line; the shim asks the
 * agent to connect to it on the guest's loopback ({@code pf-connect}) and answers {@code ok} or {@code error
 * <message>} as a line; after {@code ok} the socket carries the connection's bytes both ways, half-closes
 * included. On the agent channel each connection is a forward handle with PF_DATA, PF_ACK and PF_CLOSE frames, at
 * most {@link #WINDOW} unacknowledged bytes in flight each way, so a slow reader on one side holds the other
 * back instead of filling memory.
 */
final class GuestPortForwards implements AutoCloseable {

    static final String SOCKET = "portforward.sock";
    /** Bytes in flight per direction; the agent's PF_WINDOW is the same. */
    static final int WINDOW = 256 * 1024;
    private static final int CHUNK = 64 * 1024;
    private static final int MAX_REQUEST_LINE = 32;
    private static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(30);
    private static final Log LOG = Log.get("vm-portforward");
    /** Ends the writer's queue: close the client's socket. */
    private static final byte[] CLOSE = new byte[0];

    /** The agent of the running VM; an IOException when there is none (not booted yet, or gone). */
    interface Agent {
        AgentChannel get() throws IOException;
    }

    private final Path socket;
    private final ServerSocketChannel server;
    private final Agent agent;
    private final Map<Integer, Connection> connections = new ConcurrentHashMap<>();
    private final AtomicInteger handles = new AtomicInteger(1);
    private volatile boolean closed;

    private GuestPortForwards(Path socket, ServerSocketChannel server, Agent agent) {
        this.socket = socket;
        this.server = server;
        this.agent = agent;
    }

    static GuestPortForwards listen(Path socket, Agent agent) throws IOException {
        Files.deleteIfExists(socket);
        var server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        server.bind(UnixDomainSocketAddress.of(socket));
        var forwards = new GuestPortForwards(socket, server, agent);
        // A platform thread: it sits in accept for the shim's lifetime.
        Thread.ofPlatform().daemon().name("vm-portforward-accept").stackSize(256 * 1024).start(forwards::acceptLoop);
        return forwards;
    }

    private void acceptLoop() {
        while (!closed) {
            try {
                SocketChannel client = server.accept();
                Thread.ofVirtual().name("vm-portforward-open").start(() -> open(client));
            } catch (IOException e) {
                if (!closed) {
                    LOG.warn("port-forward accept failed; no more forwards", "error", e.getMessage());
                }
                return;
            }
        }
    }

    /** The client's request line, the agent's pf-connect, the answer; then the pumps. */
    private void open(SocketChannel client) {
        int handle = handles.getAndIncrement();
        Connection c = null;
        try {
            int port = readPort(client);
            AgentChannel channel = agent.get();
            c = new Connection(handle, client, channel);
            connections.put(handle, c);
            channel.call(CONNECT_TIMEOUT, "pf-connect", Integer.toString(handle), Integer.toString(port));
            writeLine(client, "ok");
            LOG.debug("forwarding", "port", port, "handle", handle);
            c.start();
        } catch (IOException | RuntimeException e) {
            if (c != null && connections.remove(handle) != null) {
                try {
                    c.channel.forwardClose(handle); // in case the agent connected (it ignores unknown handles)
                } catch (IOException ignored) {
                    // the VM is gone
                }
            }
            try {
                writeLine(client, "error " + String.valueOf(e.getMessage()).replace('\n', ' '));
            } catch (IOException ignored) {
                // the client is gone
            }
            closeQuietly(client);
        }
    }

    /** The port the client asks for, as one decimal line. */
    static int readPort(SocketChannel client) throws IOException {
        var line = new StringBuilder();
        var one = ByteBuffer.allocate(1);
        while (true) {
            one.clear();
            if (client.read(one) < 0) {
                throw new IOException("the client closed before naming a port");
            }
            char ch = (char) one.get(0);
            if (ch == '\n') {
                break;
            }
            if (line.length() >= MAX_REQUEST_LINE) {
                throw new IOException("the port request line is too long");
            }
            line.append(ch);
        }
        return parsePort(line.toString().strip());
    }

    static int parsePort(String text) {
        int port;
        try {
            port = Integer.parseInt(text);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("not a port: " + text);
        }
        if (port < 1 || port > 65535) {
            throw new IllegalArgumentException("port " + port + " is not a TCP port (1-65535)");
        }
        return port;
    }

    private static void writeLine(SocketChannel client, String line) throws IOException {
        var bb = ByteBuffer.wrap((line + "\n").getBytes(StandardCharsets.UTF_8));
        while (bb.hasRemaining()) {
            client.write(bb);
        }
    }

    // --- from the agent channel's reader (quick, never blocking) -------------------------------------------------

    void data(int handle, byte[] bytes) {
        Connection c = connections.get(handle);
        if (c != null) {
            c.toClient.add(bytes);
        }
    }

    void acked(int handle, long bytes) {
        Connection c = connections.get(handle);
        if (c != null) {
            c.credits.release((int) Math.min(bytes, WINDOW));
        }
    }

    void closedByAgent(int handle, String reason) {
        Connection c = connections.remove(handle);
        if (c != null) {
            if (!reason.isEmpty()) {
                LOG.info("forwarded connection ended in the guest", "handle", handle, "reason", reason);
            }
            c.toClient.add(CLOSE);
        }
    }

    /** The VM is gone: every forwarded connection ends. */
    void closeAll() {
        for (Integer handle : List.copyOf(connections.keySet())) {
            closedByAgent(handle, "");
        }
    }

    @Override
    public void close() {
        closed = true;
        closeQuietly(server);
        closeAll();
        try {
            Files.deleteIfExists(socket);
        } catch (IOException e) {
            LOG.warn("cannot remove the port-forward socket", "socket", socket, "error", e.getMessage());
        }
    }

    /** One forwarded connection: the client's socket on this side, a forward handle in the agent. */
    private final class Connection {
        final int handle;
        final SocketChannel client;
        final AgentChannel channel;
        /** Bytes the agent may still take: taken before sending, given back by its PF_ACKs. */
        final Semaphore credits = new Semaphore(WINDOW);
        /** Guest bytes for the client, in order; empty = the guest's EOF, {@link #CLOSE} = done. */
        final BlockingQueue<byte[]> toClient = new LinkedBlockingQueue<>();
        final AtomicBoolean ended = new AtomicBoolean();
        private Thread up;

        Connection(int handle, SocketChannel client, AgentChannel channel) {
            this.handle = handle;
            this.client = client;
            this.channel = channel;
        }

        void start() {
            up = Thread.ofVirtual().name("vm-portforward-up-" + handle).start(this::upstream);
            Thread.ofVirtual().name("vm-portforward-down-" + handle).start(this::downstream);
        }

        /** Client → guest, within the window; the client's EOF becomes an empty PF_DATA. */
        private void upstream() {
            var buf = ByteBuffer.allocate(CHUNK);
            try {
                while (true) {
                    buf.clear();
                    int n = client.read(buf);
                    if (n < 0) {
                        channel.forwardData(handle, new byte[0]);
                        return;
                    }
                    if (n == 0) {
                        continue;
                    }
                    credits.acquire(n);
                    if (ended.get()) {
                        return;
                    }
                    channel.forwardData(handle, Arrays.copyOf(buf.array(), n));
                }
            } catch (ClosedChannelException e) {
                // ended from the other side
            } catch (IOException e) {
                abort("reading from the client: " + e.getMessage());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }

        /** Guest → client; each delivered chunk is acknowledged so the agent reads more. */
        private void downstream() {
            try {
                while (true) {
                    byte[] bytes = toClient.take();
                    if (bytes == CLOSE) {
                        break;
                    }
                    if (bytes.length == 0) {
                        client.shutdownOutput();
                        continue;
                    }
                    var bb = ByteBuffer.wrap(bytes);
                    while (bb.hasRemaining()) {
                        client.write(bb);
                    }
                    channel.forwardAck(handle, bytes.length);
                }
            } catch (IOException e) {
                abort("writing to the client: " + e.getMessage());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            finish();
        }

        /** The client side failed: the agent drops its end, and this one closes. */
        private void abort(String why) {
            if (connections.remove(handle) != null) {
                LOG.debug("forwarded connection aborted", "handle", handle, "why", why);
                try {
                    channel.forwardClose(handle);
                } catch (IOException e) {
                    // the VM is gone: nothing to tell
                }
                toClient.add(CLOSE);
            }
            finish();
        }

        private void finish() {
            if (ended.compareAndSet(false, true)) {
                closeQuietly(client);
                credits.release(WINDOW); // an upstream waiting for the window sees the end
                if (up != null) {
                    up.interrupt();
                }
            }
        }
    }

    private static void closeQuietly(java.io.Closeable c) {
        try {
            c.close();
        } catch (IOException e) {
            // already closed
        }
    }
}
