package dev.bollard.daemon.streaming;

import dev.bollard.daemon.log.Log;
import dev.bollard.daemon.streaming.spdy.SpdySession;
import dev.bollard.daemon.streaming.spdy.SpdyStream;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * Port-forward over SPDY ({@code portforward.k8s.io}): every forwarded connection is a pair of streams, data and
 * error, with the same {@code requestID} and a {@code port} header. A pair left incomplete past the stream
 * creation timeout is reset. Many connections share one SPDY connection.
 */
final class SpdyPortForwardSession implements SpdySession.Listener {

    private static final Log LOG = Log.get("streaming");

    private static final class Pair {
        SpdyStream data;
        SpdyStream error;
        int port;
        PortForwarder forwarder;
    }

    private final StreamBackend backend;
    private final StreamRequest.PortForward request;
    private final Duration creationTimeout;
    private final Map<String, Pair> pairs = new HashMap<>();
    private final Set<PortForwarder> running = new HashSet<>();
    private SpdySession session;

    SpdyPortForwardSession(StreamBackend backend, StreamRequest.PortForward request, Duration creationTimeout) {
        this.backend = backend;
        this.request = request;
        this.creationTimeout = creationTimeout;
    }

    void attach(SpdySession session) {
        this.session = session;
    }

    @Override
    public void streamOpened(SpdyStream stream) {
        String type = stream.header("streamtype");
        String portText = stream.header("port");
        Integer port = parsePort(portText);
        if (!"data".equals(type) && !"error".equals(type) || port == null) {
            LOG.debug("refusing a port-forward stream", "streamType", String.valueOf(type),
                    "port", String.valueOf(portText));
            stream.reset();
            return;
        }
        // Clients before requestID paired error stream N with data stream N+2.
        String requestId = stream.header("requestid");
        if (requestId == null) {
            requestId = Integer.toString("error".equals(type) ? stream.id() : stream.id() - 2);
        }
        var pair = pairs.get(requestId);
        boolean isNew = pair == null;
        if (isNew) {
            pair = new Pair();
            pair.port = port;
            pairs.put(requestId, pair);
        }
        if (("data".equals(type) ? pair.data : pair.error) != null || pair.port != port) {
            stream.reset();
            return;
        }
        stream.reply();
        if ("data".equals(type)) {
            pair.data = stream;
        } else {
            pair.error = stream;
        }
        if (!request.ports().isEmpty() && !request.ports().contains(port)) {
            // Refused like any other failure: on the error stream, so the client says which port.
            if (pair.data != null && pair.error != null) {
                pairs.remove(requestId);
                refuse(pair, "port " + port + " is not among the ports of this port-forward request "
                        + request.ports());
            }
            return;
        }
        if (pair.data != null && pair.error != null) {
            pairs.remove(requestId);
            startForward(pair);
        } else if (isNew) {
            String id = requestId;
            Pair p = pair;
            session.channel().eventLoop().schedule(() -> {
                if (pairs.get(id) == p) {
                    pairs.remove(id);
                    LOG.info("port-forward stream pair incomplete, resetting", "requestID", id);
                    if (p.data != null) {
                        p.data.reset();
                    }
                    if (p.error != null) {
                        p.error.reset();
                    }
                }
            }, creationTimeout.toMillis(), TimeUnit.MILLISECONDS);
        }
    }

    private void refuse(Pair pair, String message) {
        Thread.ofVirtual().start(() -> {
            try {
                pair.error.output().write(message.getBytes(StandardCharsets.UTF_8));
            } catch (java.io.IOException e) {
                // the client is gone
            }
            pair.error.closeOutput();
            pair.data.closeOutput();
        });
    }

    private void startForward(Pair pair) {
        pair.forwarder = PortForwarder.start(backend, request.podSandboxId(), pair.port, pair.data.input(),
                pair.data.output(), pair.error.output(), () -> session.channel().eventLoop().execute(() ->
                        running.remove(pair.forwarder)));
        running.add(pair.forwarder);
    }

    @Override
    public void sessionClosed() {
        for (var f : new HashSet<>(running)) {
            f.abort();
        }
        running.clear();
    }

    private static Integer parsePort(String text) {
        if (text == null) {
            return null;
        }
        try {
            int p = Integer.parseInt(text.strip());
            return p >= 1 && p <= 65535 ? p : null;
        } catch (NumberFormatException e) {
            return null;
        }
    }
}
