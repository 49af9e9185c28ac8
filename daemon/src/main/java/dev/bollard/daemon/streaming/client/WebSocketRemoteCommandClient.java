package dev.bollard.daemon.streaming.client;

import dev.bollard.daemon.streaming.RemoteCommandProtocol;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.URI;
import java.util.concurrent.ExecutionException;

/** Exec/attach over WebSocket: channels 0 stdin, 1 stdout, 2 stderr, 3 error, 4 resize; v5's 255 closes stdin. */
final class WebSocketRemoteCommandClient {

    private WebSocketRemoteCommandClient() {
    }

    static int run(StreamClient client, URI url, StreamClient.Io io) throws IOException, InterruptedException {
        var error = new ByteArrayOutputStream();
        var mux = WebSocketMux.connect(client, url, StreamClient.WS_PROTOCOLS, (ch, data) -> {
                switch (ch) {
                    case 1 -> write(io.stdout(), data);
                    case 2 -> write(io.stderr() != null ? io.stderr() : io.stdout(), data);
                    case 3 -> {
                        synchronized (error) {
                            error.write(data);
                        }
                    }
                    default -> {
                    }
                }
            });
        try {
            String chosen = mux.protocol();
            var protocol = chosen.isEmpty() ? RemoteCommandProtocol.V1
                    : RemoteCommandProtocol.byWireName(chosen).orElseThrow(() -> new IOException(
                    "the server chose an unknown protocol " + chosen));
            if (io.stdin() != null) {
                Thread.ofVirtual().name("stream-stdin").start(() -> {
                    byte[] buf = new byte[32 * 1024];
                    try {
                        for (int n; (n = io.stdin().read(buf)) >= 0; ) {
                            mux.send(0, buf, 0, n);
                        }
                        if (protocol == RemoteCommandProtocol.V5) {
                            mux.send(255, new byte[]{0}, 0, 1);
                        }
                    } catch (IOException e) {
                        // the session ended
                    }
                });
            }
            Thread resizer = null;
            if (io.tty() && io.resizes() != null) {
                resizer = Thread.ofVirtual().name("stream-resize").start(() -> StreamClient.sendResizes(io.resizes(),
                        new OutputStream() {
                            @Override
                            public void write(int b) throws IOException {
                                write(new byte[]{(byte) b}, 0, 1);
                            }

                            @Override
                            public void write(byte[] b, int off, int len) throws IOException {
                                mux.send(4, b, off, len);
                            }
                        }));
            }
            try {
                mux.closed().get();
            } catch (ExecutionException e) {
                throw new IOException("the streaming connection failed: " + e.getCause().getMessage(), e.getCause());
            } finally {
                if (resizer != null) {
                    resizer.interrupt();
                }
            }
            byte[] status;
            synchronized (error) {
                status = error.toByteArray();
            }
            return StreamClient.outcome(protocol, status);
        } finally {
            mux.close();
        }
    }

    private static void write(OutputStream out, byte[] data) throws IOException {
        if (out != null && data.length > 0) {
            out.write(data);
            out.flush();
        }
    }
}
