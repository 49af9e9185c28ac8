package dev.bollard.daemon.streaming.client;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.WebSocket;
import java.net.http.WebSocketHandshakeException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The client end of Kubernetes' channel framing over the JDK's WebSocket: one message per write, its first byte
 * the channel. Messages are handed to the handler one at a time and the next is requested only after it returned,
 * so a slow consumer slows the server down instead of filling memory.
 */
final class WebSocketMux implements WebSocket.Listener {

    interface Handler {
        void frame(int channel, byte[] data) throws IOException;
    }

    private final HttpClient http;
    private final ByteArrayOutputStream partial = new ByteArrayOutputStream();
    private final CompletableFuture<Void> closed = new CompletableFuture<>();
    private final Handler handler;
    private WebSocket socket;
    private StreamClient owner;

    private WebSocketMux(HttpClient http, Handler handler) {
        this.http = http;
        this.handler = handler;
    }

    /** @param handler gets every message from the first on (the server may send before connect returns) */
    static WebSocketMux connect(StreamClient client, URI url, List<String> subprotocols, Handler handler)
            throws IOException, InterruptedException {
        var http = HttpClient.newBuilder().sslContext(client.jdkSsl()).connectTimeout(Duration.ofSeconds(30))
                .executor(Executors.newVirtualThreadPerTaskExecutor()).build();
        var mux = new WebSocketMux(http, handler);
        String scheme = "https".equals(url.getScheme()) ? "wss" : "http".equals(url.getScheme()) ? "ws" : url.getScheme();
        URI wsUrl = URI.create(scheme + url.toString().substring(url.getScheme().length()));
        var builder = http.newWebSocketBuilder().connectTimeout(Duration.ofSeconds(30));
        if (!subprotocols.isEmpty()) {
            builder.subprotocols(subprotocols.getFirst(), subprotocols.subList(1, subprotocols.size()).toArray(String[]::new));
        }
        try {
            mux.socket = builder.buildAsync(wsUrl, mux).get(60, TimeUnit.SECONDS);
            mux.owner = client;
            client.opened(mux);
            return mux;
        } catch (ExecutionException e) {
            http.shutdownNow();
            if (e.getCause() instanceof WebSocketHandshakeException h) {
                var response = h.getResponse();
                String body = response.body() instanceof String s ? s.strip() : "";
                throw new StreamClientException(response.statusCode(), "HTTP " + response.statusCode()
                        + (body.isEmpty() ? "" : ": " + body));
            }
            throw new IOException("WebSocket connection to " + url.getHost() + " failed: " + e.getCause().getMessage(),
                    e.getCause());
        } catch (TimeoutException e) {
            http.shutdownNow();
            throw new IOException("the streaming server did not answer the WebSocket upgrade");
        }
    }

    String protocol() {
        return socket.getSubprotocol();
    }

    /** Sends one message on a channel (blocking until the JDK took it; sends are serialized). */
    synchronized void send(int channel, byte[] data, int off, int len) throws IOException {
        var frame = ByteBuffer.allocate(1 + len);
        frame.put((byte) channel).put(data, off, len).flip();
        try {
            socket.sendBinary(frame, true).get();
        } catch (ExecutionException e) {
            throw new IOException("WebSocket send failed: " + e.getCause().getMessage(), e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new java.io.InterruptedIOException("interrupted while sending");
        }
    }

    /** Completes when the server closed the WebSocket (normally, after the command's status). */
    CompletableFuture<Void> closed() {
        return closed;
    }

    void close() {
        try {
            if (!socket.isOutputClosed()) {
                socket.sendClose(WebSocket.NORMAL_CLOSURE, "").get(5, TimeUnit.SECONDS);
            }
        } catch (Exception e) {
            // closing anyway
        }
        abort();
    }

    /** Drops the connection without a close handshake (the client going away). */
    void abort() {
        socket.abort();
        http.shutdownNow();
        owner.closed(this);
    }

    @Override
    public void onOpen(WebSocket webSocket) {
        webSocket.request(1);
    }

    @Override
    public CompletionStage<?> onBinary(WebSocket webSocket, ByteBuffer data, boolean last) {
        byte[] bytes = new byte[data.remaining()];
        data.get(bytes);
        partial.write(bytes, 0, bytes.length);
        if (last) {
            byte[] message = partial.toByteArray();
            partial.reset();
            if (message.length > 0) {
                try {
                    handler.frame(message[0] & 0xff, java.util.Arrays.copyOfRange(message, 1, message.length));
                } catch (IOException e) {
                    webSocket.abort();
                    closed.completeExceptionally(e);
                    return null;
                }
            }
        }
        webSocket.request(1);
        return null;
    }

    @Override
    public CompletionStage<?> onText(WebSocket webSocket, CharSequence data, boolean last) {
        webSocket.request(1);
        return null;
    }

    @Override
    public CompletionStage<?> onClose(WebSocket webSocket, int statusCode, String reason) {
        closed.complete(null);
        return null;
    }

    @Override
    public void onError(WebSocket webSocket, Throwable error) {
        closed.completeExceptionally(error);
    }
}
