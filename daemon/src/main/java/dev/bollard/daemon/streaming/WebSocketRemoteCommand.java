package dev.bollard.daemon.streaming;

import io.netty.channel.ChannelHandlerContext;

import java.io.InputStream;
import java.io.OutputStream;
import java.time.Duration;

/**
 * Exec or attach over WebSocket (channels 0 stdin, 1 stdout, 2 stderr, 3 error, 4 resize; with v5, a message on
 * channel 255 carrying a channel number closes that channel, which is how stdin reaches EOF). As kubelet does, an
 * empty message on the first writable channel tells the client the streams are ready.
 */
final class WebSocketRemoteCommand extends WebSocketChannels {

    static final int STDIN = 0, STDOUT = 1, STDERR = 2, ERROR = 3, RESIZE = 4;

    private final StreamBackend backend;
    private final StreamRequest request;
    private final RemoteCommandProtocol protocol;
    private final Duration grace;
    private RemoteCommandRunner runner;

    WebSocketRemoteCommand(StreamBackend backend, StreamRequest request, RemoteCommandProtocol protocol,
                           boolean base64, Duration grace) {
        super(base64);
        this.backend = backend;
        this.request = request;
        this.protocol = protocol;
        this.grace = grace;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        super.handlerAdded(ctx);
        boolean tty, stdin, stdout, stderr;
        switch (request) {
            case StreamRequest.Exec e -> {
                tty = e.tty();
                stdin = e.stdin();
                stdout = e.stdout();
                stderr = e.stderr() && !e.tty();
            }
            case StreamRequest.Attach a -> {
                tty = a.tty();
                stdin = a.stdin();
                stdout = a.stdout();
                stderr = a.stderr() && !a.tty();
            }
            case StreamRequest.PortForward p -> throw new IllegalStateException("not a remote command");
        }
        InputStream in = stdin ? inbound(STDIN) : null;
        InputStream resize = tty ? inbound(RESIZE) : null;
        OutputStream out = stdout ? outbound(STDOUT) : null;
        OutputStream err = stderr ? outbound(STDERR) : null;
        OutputStream error = outbound(ERROR);
        sendNow(stdout ? STDOUT : stderr ? STDERR : ERROR, new byte[0]);
        runner = RemoteCommandRunner.start(backend, request, protocol,
                new RemoteCommandRunner.Wires(in, out, err, resize, error), () -> closeGracefully(grace));
    }

    @Override
    protected void unknownChannel(int channelNumber, byte[] data) {
        if (channelNumber == CLOSE_CHANNEL && protocol == RemoteCommandProtocol.V5 && data.length == 1) {
            finishInbound(data[0] & 0xff);
            return;
        }
        super.unknownChannel(channelNumber, data);
    }

    @Override
    protected void closed() {
        if (runner != null) {
            runner.abort();
        }
    }
}
