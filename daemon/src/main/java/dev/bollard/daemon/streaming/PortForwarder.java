package dev.bollard.daemon.streaming;

import dev.bollard.daemon.log.Log;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;

/**
 * One forwarded connection, whatever the transport: the client's data stream spliced to a TCP connection inside
 * the pod's network namespace. Half-closes travel both ways (the client's FIN shuts the pod side's output down;
 * the pod side's EOF ends the data stream); a failure is reported as text on the error stream, as kubelet does.
 */
public final class PortForwarder {

    private static final Log LOG = Log.get("streaming");
    private static final int BUFFER = 32 * 1024;

    private final StreamBackend backend;
    private final String podSandboxId;
    private final int port;
    private final InputStream fromClient;
    private final OutputStream toClient;
    private final OutputStream error;
    private final Runnable done;
    private volatile SocketChannel socket;
    private volatile boolean aborted;
    private Thread worker;

    private PortForwarder(StreamBackend backend, String podSandboxId, int port, InputStream fromClient,
                          OutputStream toClient, OutputStream error, Runnable done) {
        this.backend = backend;
        this.podSandboxId = podSandboxId;
        this.port = port;
        this.fromClient = fromClient;
        this.toClient = toClient;
        this.error = error;
        this.done = done;
    }

    /** @param done runs once the pod side has ended and the streams are closed */
    public static PortForwarder start(StreamBackend backend, String podSandboxId, int port, InputStream fromClient,
                                      OutputStream toClient, OutputStream error, Runnable done) {
        var f = new PortForwarder(backend, podSandboxId, port, fromClient, toClient, error, done);
        synchronized (f) {
            f.worker = Thread.ofVirtual().name("portforward-" + port).start(f::run);
        }
        return f;
    }

    /** The client is gone: the pod-side connection is closed. */
    public void abort() {
        aborted = true;
        closeSocket();
        synchronized (this) {
            if (worker != null) {
                worker.interrupt();
            }
        }
    }

    private void run() {
        Thread upstream = null;
        try {
            SocketChannel ch;
            try {
                ch = backend.portForward(podSandboxId, port);
            } catch (IOException | RuntimeException e) {
                if (!aborted) {
                    report("error forwarding port " + port + " to pod " + podSandboxId + ": " + e.getMessage());
                }
                return;
            }
            socket = ch;
            if (aborted) {
                return;
            }
            upstream = Thread.ofVirtual().name("portforward-up-" + port).start(() -> copyUp(ch));
            copyDown(ch);
        } finally {
            close(toClient);
            close(error);
            if (upstream == null) {
                closeSocket();
            }
            // the socket closes when the client side is done too (copyUp), or on abort
            done.run();
        }
    }

    private void copyUp(SocketChannel ch) {
        byte[] buf = new byte[BUFFER];
        try {
            for (int n; (n = fromClient.read(buf)) >= 0; ) {
                var bb = ByteBuffer.wrap(buf, 0, n);
                while (bb.hasRemaining()) {
                    ch.write(bb);
                }
            }
            ch.shutdownOutput();
        } catch (IOException e) {
            closeSocket();
            return;
        }
        // Both directions may still be busy: the socket is closed when the pod side ends (copyDown).
    }

    private void copyDown(SocketChannel ch) {
        var bb = ByteBuffer.allocate(BUFFER);
        try {
            while (ch.read(bb) >= 0) {
                bb.flip();
                toClient.write(bb.array(), 0, bb.limit());
                bb.clear();
            }
        } catch (IOException e) {
            if (!aborted) {
                LOG.debug("port-forward ended", "port", port, "error", String.valueOf(e.getMessage()));
            }
        } finally {
            closeSocket();
        }
    }

    private void report(String message) {
        try {
            error.write(message.getBytes(StandardCharsets.UTF_8));
        } catch (IOException e) {
            // the client is gone
        }
    }

    private void closeSocket() {
        var s = socket;
        if (s != null) {
            try {
                s.close();
            } catch (IOException e) {
                // already closed
            }
        }
    }

    private static void close(OutputStream out) {
        try {
            out.close();
        } catch (IOException e) {
            // nothing to tell
        }
    }
}
