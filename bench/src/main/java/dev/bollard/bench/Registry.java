package dev.bollard.bench;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

/**
 * Debian's {@code docker-registry} (distribution 2.x) on a free 127.0.0.1 port, plain http, storing into the
 * workspace; and the distribution API's push (monolithic blob uploads, then the manifest).
 */
final class Registry {

    static final Path BINARY = Path.of("/usr/bin/docker-registry");

    private final Process process;
    private final int port;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    private Registry(Process process, int port) {
        this.process = process;
        this.port = port;
    }

    static Registry start(Workspace ws) throws IOException, InterruptedException {
        Path dir = ws.path("registry");
        Files.createDirectories(dir);
        IOException last = null;
        for (int attempt = 0; attempt < 3; attempt++) {
            int port = freePort();
            Path config = dir.resolve("config.yml");
            Files.writeString(config, """
                    version: 0.1
                    log:
                      level: warn
                      accesslog:
                        disabled: true
                    storage:
                      filesystem:
                        rootdirectory: %s
                      delete:
                        enabled: true
                    http:
                      addr: 127.0.0.1:%d
                      secret: bollard-bench-secret
                    """.formatted(dir.resolve("data"), port));
            Path log = dir.resolve("registry.log");
            Process p = ws.start(List.of(BINARY.toString(), "serve", config.toString()), log, Map.of());
            var r = new Registry(p, port);
            try {
                r.awaitReady();
                return r;
            } catch (IOException e) {
                Workspace.stop(p, 5);
                last = new IOException(e.getMessage() + "; registry log:\n" + Files.readString(log), e);
            }
        }
        throw last;
    }

    private static int freePort() throws IOException {
        try (var s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    private void awaitReady() throws IOException, InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(15).toNanos();
        while (System.nanoTime() < deadline) {
            if (!process.isAlive()) {
                throw new IOException("docker-registry exited with " + process.exitValue());
            }
            try {
                int s = http.send(HttpRequest.newBuilder(api("/")).timeout(Duration.ofSeconds(2)).build(),
                        HttpResponse.BodyHandlers.discarding()).statusCode();
                if (s == 200) {
                    return;
                }
            } catch (IOException notYet) {
                // not listening yet
            }
            Thread.sleep(50);
        }
        throw new IOException("docker-registry did not answer /v2/ within 15 s");
    }

    /** {@code 127.0.0.1:port}: the registry host of image references, and its certs.d directory name. */
    String host() {
        return "127.0.0.1:" + port;
    }

    private URI api(String path) {
        return URI.create("http://" + host() + "/v2" + path);
    }

    /** Uploads one blob from a file (POST to open the upload, PUT with the digest), unless the registry has it. */
    void pushBlob(String repository, String digest, Path file) throws IOException, InterruptedException {
        int head = http.send(HttpRequest.newBuilder(api("/" + repository + "/blobs/" + digest))
                .method("HEAD", HttpRequest.BodyPublishers.noBody()).build(),
                HttpResponse.BodyHandlers.discarding()).statusCode();
        if (head == 200) {
            return;
        }
        var start = http.send(HttpRequest.newBuilder(api("/" + repository + "/blobs/uploads/"))
                .POST(HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString());
        if (start.statusCode() != 202) {
            throw new IOException("upload start: HTTP " + start.statusCode() + " " + start.body());
        }
        URI upload = api("/").resolve(start.headers().firstValue("Location").orElseThrow());
        String sep = upload.getRawQuery() == null ? "?" : "&";
        var put = http.send(HttpRequest.newBuilder(URI.create(upload + sep + "digest=" + digest))
                .header("Content-Type", "application/octet-stream")
                .PUT(HttpRequest.BodyPublishers.ofFile(file)).build(), HttpResponse.BodyHandlers.ofString());
        if (put.statusCode() != 201) {
            throw new IOException("upload of " + digest + ": HTTP " + put.statusCode() + " " + put.body());
        }
    }

    void pushManifest(String repository, String tag, String mediaType, byte[] manifest)
            throws IOException, InterruptedException {
        var put = http.send(HttpRequest.newBuilder(api("/" + repository + "/manifests/" + tag))
                .header("Content-Type", mediaType).PUT(HttpRequest.BodyPublishers.ofByteArray(manifest)).build(),
                HttpResponse.BodyHandlers.ofString());
        if (put.statusCode() != 201) {
            throw new IOException("manifest " + tag + ": HTTP " + put.statusCode() + " " + put.body());
        }
    }

    /** CPU seconds the registry used so far (it serves both runtimes' pulls). */
    double cpuSeconds() {
        return Proc.cpuSeconds(process.pid());
    }
}
