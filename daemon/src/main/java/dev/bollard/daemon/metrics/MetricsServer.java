package dev.bollard.daemon.metrics;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * GET /metrics in the Prometheus text format (0.0.4) on the JDK's HTTP server, one virtual thread per request.
 * Anything else answers 404 (other paths) or 405 (other methods).
 */
public final class MetricsServer implements AutoCloseable {

    private final HttpServer server;
    private final ExecutorService executor;

    private MetricsServer(HttpServer server, ExecutorService executor) {
        this.server = server;
        this.executor = executor;
    }

    /** @param address {@code host:port}; an empty host listens on every address */
    public static MetricsServer start(String address, PrometheusRegistry registry) throws IOException {
        InetSocketAddress bind = parse(address);
        HttpServer server;
        try {
            server = HttpServer.create(bind, 16);
        } catch (IOException e) {
            throw new IOException("metrics address " + address + ": cannot listen: " + e.getMessage(), e);
        }
        var writer = PrometheusTextFormatWriter.create();
        server.createContext("/", exchange -> {
            try (exchange) {
                handle(exchange, registry, writer);
            }
        });
        ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor();
        server.setExecutor(executor);
        server.start();
        return new MetricsServer(server, executor);
    }

    private static void handle(HttpExchange exchange, PrometheusRegistry registry, PrometheusTextFormatWriter writer)
            throws IOException {
        if (!exchange.getRequestURI().getPath().equals("/metrics")) {
            reply(exchange, 404, "not found: only /metrics is served\n");
            return;
        }
        String method = exchange.getRequestMethod();
        if (!method.equals("GET") && !method.equals("HEAD")) {
            exchange.getResponseHeaders().set("Allow", "GET, HEAD");
            reply(exchange, 405, "method not allowed\n");
            return;
        }
        // Rendered whole first: a scrape failing halfway must give an error, not a truncated 200.
        var body = new ByteArrayOutputStream(16 * 1024);
        try {
            writer.write(body, registry.scrape());
        } catch (RuntimeException e) {
            reply(exchange, 500, "scrape failed: " + e + "\n");
            return;
        }
        exchange.getResponseHeaders().set("Content-Type", writer.getContentType());
        if (method.equals("HEAD")) {
            exchange.sendResponseHeaders(200, -1);
            return;
        }
        exchange.sendResponseHeaders(200, body.size());
        try (OutputStream out = exchange.getResponseBody()) {
            body.writeTo(out);
        }
    }

    private static void reply(HttpExchange exchange, int status, String text) throws IOException {
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        exchange.getResponseHeaders().set("Content-Type", "text/plain; charset=utf-8");
        exchange.sendResponseHeaders(status, bytes.length);
        try (OutputStream out = exchange.getResponseBody()) {
            out.write(bytes);
        }
    }

    static InetSocketAddress parse(String address) {
        int colon = address.lastIndexOf(':');
        if (colon < 0) {
            throw new IllegalArgumentException("metrics address " + address + " is not host:port");
        }
        String host = address.substring(0, colon);
        int port = Integer.parseInt(address.substring(colon + 1));
        if (host.startsWith("[") && host.endsWith("]")) {
            host = host.substring(1, host.length() - 1);
        }
        return host.isEmpty() ? new InetSocketAddress(port) : new InetSocketAddress(host, port);
    }

    /** The bound address (the real port when the configured one was 0). */
    public InetSocketAddress address() {
        return server.getAddress();
    }

    @Override
    public void close() {
        server.stop(0);
        executor.shutdownNow();
    }
}
