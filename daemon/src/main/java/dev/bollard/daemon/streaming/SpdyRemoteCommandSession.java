package dev.bollard.daemon.streaming;

import dev.bollard.daemon.log.Log;
import dev.bollard.daemon.streaming.spdy.SpdySession;
import dev.bollard.daemon.streaming.spdy.SpdyStream;

import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * Exec or attach over SPDY: the client opens one stream per {@code streamType} (error, stdin, stdout, stderr,
 * resize); once every stream the request needs is there, the command runs. A client that has not opened them
 * within the stream creation timeout is disconnected.
 */
final class SpdyRemoteCommandSession implements SpdySession.Listener {

    private static final Log LOG = Log.get("streaming");
    static final Set<String> TYPES = Set.of("error", "stdin", "stdout", "stderr", "resize");

    private final StreamBackend backend;
    private final StreamRequest request;
    private final RemoteCommandProtocol protocol;
    private final Duration creationTimeout;
    private final Map<String, SpdyStream> streams = new HashMap<>();
    private SpdySession session;
    private RemoteCommandRunner runner;
    private boolean gone;

    SpdyRemoteCommandSession(StreamBackend backend, StreamRequest request, RemoteCommandProtocol protocol,
                             Duration creationTimeout) {
        this.backend = backend;
        this.request = request;
        this.protocol = protocol;
        this.creationTimeout = creationTimeout;
    }

    void attach(SpdySession session) {
        this.session = session;
        session.channel().eventLoop().schedule(() -> {
            if (runner == null && !gone) {
                LOG.info("streaming client did not open its streams in time, disconnecting",
                        "timeout", creationTimeout, "have", streams.keySet());
                session.channel().close();
            }
        }, creationTimeout.toMillis(), TimeUnit.MILLISECONDS);
    }

    private Set<String> required() {
        boolean tty, stdin, stdout, stderr;
        switch (request) {
            case StreamRequest.Exec e -> {
                tty = e.tty();
                stdin = e.stdin();
                stdout = e.stdout();
                stderr = e.stderr();
            }
            case StreamRequest.Attach a -> {
                tty = a.tty();
                stdin = a.stdin();
                stdout = a.stdout();
                stderr = a.stderr();
            }
            case StreamRequest.PortForward p -> throw new IllegalStateException("not a remote command");
        }
        var need = new java.util.HashSet<String>();
        need.add("error");
        if (stdin) {
            need.add("stdin");
        }
        if (stdout) {
            need.add("stdout");
        }
        if (stderr && !tty) {
            need.add("stderr");
        }
        if (tty && protocol.resize()) {
            need.add("resize");
        }
        return need;
    }

    @Override
    public void streamOpened(SpdyStream stream) {
        String type = stream.header("streamtype");
        if (type == null || !TYPES.contains(type) || streams.containsKey(type) || runner != null) {
            LOG.debug("refusing a SPDY stream", "streamType", String.valueOf(type));
            stream.reset();
            return;
        }
        stream.reply();
        streams.put(type, stream);
        if (streams.keySet().containsAll(required())) {
            start();
        }
    }

    private void start() {
        boolean tty = request instanceof StreamRequest.Exec e ? e.tty() : ((StreamRequest.Attach) request).tty();
        var stdin = streams.get("stdin");
        var stdout = streams.get("stdout");
        var stderr = tty ? null : streams.get("stderr");
        var resize = streams.get("resize");
        var error = streams.get("error");
        var wires = new RemoteCommandRunner.Wires(
                stdin == null ? null : stdin.input(),
                stdout == null ? null : stdout.output(),
                stderr == null ? null : stderr.output(),
                resize == null ? null : resize.input(),
                error.output());
        runner = RemoteCommandRunner.start(backend, request, protocol, wires,
                () -> session.goAway(creationTimeout));
    }

    @Override
    public void sessionClosed() {
        gone = true;
        if (runner != null) {
            runner.abort();
        }
    }
}
