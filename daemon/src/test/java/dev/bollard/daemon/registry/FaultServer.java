package dev.bollard.daemon.registry;

import com.sun.net.httpserver.Headers;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A scripted HTTP server on loopback for the faults a real registry will not produce on demand: cut connections,
 * stalls, 5xx, wrong content. Each request is recorded; the handler learns its 0-based request number.
 */
final class FaultServer implements AutoCloseable {

    record Request(String method, String path, Headers headers) {
    }

    @FunctionalInterface
    interface Handler {
        void handle(HttpExchange ex, int n) throws IOException, InterruptedException;
    }

    private final HttpServer server;
    final List<Request> requests = Collections.synchronizedList(new ArrayList<>());
    /** Released on close, so stalling handlers can wait on it. */
    final CountDownLatch closed = new CountDownLatch(1);
    private final AtomicInteger count = new AtomicInteger();

    FaultServer(Handler handler) throws IOException {
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
        server.createContext("/", ex -> {
            requests.add(new Request(ex.getRequestMethod(), ex.getRequestURI().getPath(), ex.getRequestHeaders()));
            try {
                handler.handle(ex, count.getAndIncrement());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } finally {
                ex.close();
            }
        });
        server.start();
    }

    String host() {
        return "127.0.0.1:" + server.getAddress().getPort();
    }

    RegistryEndpoint endpoint(boolean mirror) {
        return new RegistryEndpoint(URI.create("http://" + host() + "/v2"), mirror, true, true,
                RegistryEndpoint.Tls.DEFAULT, Map.of());
    }

    /** Stall: wait until the test closes the server. */
    void hang() throws InterruptedException {
        closed.await();
    }

    static void send(HttpExchange ex, int status, String contentType, byte[] body) throws IOException {
        if (contentType != null) {
            ex.getResponseHeaders().set("Content-Type", contentType);
        }
        ex.sendResponseHeaders(status, body.length == 0 ? -1 : body.length);
        if (body.length > 0) {
            ex.getResponseBody().write(body);
        }
    }

    /** Sends headers announcing {@code total} bytes, writes {@code body}, then drops the connection. */
    static void sendCut(HttpExchange ex, int status, long total, byte[] body) throws IOException {
        ex.sendResponseHeaders(status, total);
        ex.getResponseBody().write(body);
        ex.getResponseBody().flush();
        throw new IOException("connection cut on purpose");
    }

    @Override
    public void close() {
        closed.countDown();
        server.stop(0);
    }
}
