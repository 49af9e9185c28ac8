package dev.bollard.cli;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * Just enough of a Kubernetes API server for kubectl exec/port-forward to drive Bollard's streaming server:
 * discovery, one pod's GET, and the pod's exec/attach/portforward upgrade requests, each turned into a CRI call
 * (by the test's function, which returns the streaming URL) and then spliced byte for byte to that URL with the
 * request's own headers. So kubectl's Go SPDY and WebSocket talk to the real server. Test-only, plain HTTP.
 */
final class FakeApiServer implements AutoCloseable {

    /** An upgrade request kubectl sent: the subresource (exec, attach, portforward) and its query parameters. */
    record Upgrade(String subresource, Map<String, List<String>> query) {
    }

    private final ServerSocket socket;
    private final String podName;
    private final Function<Upgrade, URI> streamingUrl;
    private final List<Socket> open = new java.util.concurrent.CopyOnWriteArrayList<>();
    /** Every upgrade seen, as "subresource upgrade-header" (e.g. "portforward websocket"), in order. */
    final List<String> upgrades = new java.util.concurrent.CopyOnWriteArrayList<>();

    FakeApiServer(String podName, Function<Upgrade, URI> streamingUrl) throws IOException {
        this.podName = podName;
        this.streamingUrl = streamingUrl;
        socket = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        Thread.ofVirtual().start(this::acceptLoop);
    }

    int port() {
        return socket.getLocalPort();
    }

    /** A kubeconfig pointing kubectl here. */
    String kubeconfig() {
        return """
                apiVersion: v1
                kind: Config
                clusters:
                - name: fake
                  cluster:
                    server: http://127.0.0.1:%d
                users:
                - name: fake
                  user: {}
                contexts:
                - name: fake
                  context: {cluster: fake, user: fake, namespace: default}
                current-context: fake
                """.formatted(port());
    }

    private void acceptLoop() {
        while (!socket.isClosed()) {
            try {
                var conn = socket.accept();
                open.add(conn);
                Thread.ofVirtual().start(() -> serve(conn));
            } catch (IOException e) {
                return;
            }
        }
    }

    private void serve(Socket conn) {
        try (conn) {
            var in = conn.getInputStream();
            var out = conn.getOutputStream();
            while (true) {
                String head = readHead(in);
                if (head == null) {
                    return;
                }
                String[] lines = head.split("\r\n");
                String[] requestLine = lines[0].split(" ");
                URI target = URI.create(requestLine[1]);
                var headers = new LinkedHashMap<String, String>();
                for (int i = 1; i < lines.length; i++) {
                    int colon = lines[i].indexOf(':');
                    if (colon > 0) {
                        headers.put(lines[i].substring(0, colon).strip().toLowerCase(), lines[i].substring(colon + 1).strip());
                    }
                }
                int length = Integer.parseInt(headers.getOrDefault("content-length", "0"));
                in.readNBytes(length);
                String path = target.getPath();
                String podPrefix = "/api/v1/namespaces/default/pods/" + podName;
                if (path.startsWith(podPrefix + "/") && headers.containsKey("upgrade")) {
                    String sub = path.substring(podPrefix.length() + 1);
                    upgrades.add(sub + " " + headers.get("upgrade").toLowerCase());
                    URI url;
                    try {
                        url = streamingUrl.apply(new Upgrade(sub, query(target.getRawQuery())));
                    } catch (RuntimeException e) {
                        respond(out, 500, "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\",\"message\":\""
                                + e.getMessage().replace("\"", "'") + "\"}");
                        continue;
                    }
                    splice(conn, head, lines, url);
                    return;
                }
                String body = switch (path) {
                    case "/api" -> "{\"kind\":\"APIVersions\",\"versions\":[\"v1\"],\"serverAddressByClientCIDRs\":"
                            + "[{\"clientCIDR\":\"0.0.0.0/0\",\"serverAddress\":\"127.0.0.1:" + port() + "\"}]}";
                    case "/apis" -> "{\"kind\":\"APIGroupList\",\"apiVersion\":\"v1\",\"groups\":[]}";
                    case "/api/v1" -> "{\"kind\":\"APIResourceList\",\"groupVersion\":\"v1\",\"resources\":["
                            + "{\"name\":\"pods\",\"singularName\":\"pod\",\"namespaced\":true,\"kind\":\"Pod\","
                            + "\"verbs\":[\"get\",\"list\"],\"shortNames\":[\"po\"]},"
                            + "{\"name\":\"pods/exec\",\"singularName\":\"\",\"namespaced\":true,\"kind\":\"PodExecOptions\",\"verbs\":[\"create\",\"get\"]},"
                            + "{\"name\":\"pods/attach\",\"singularName\":\"\",\"namespaced\":true,\"kind\":\"PodAttachOptions\",\"verbs\":[\"create\",\"get\"]},"
                            + "{\"name\":\"pods/portforward\",\"singularName\":\"\",\"namespaced\":true,\"kind\":\"PodPortForwardOptions\",\"verbs\":[\"create\",\"get\"]}]}";
                    case "/version" -> "{\"major\":\"1\",\"minor\":\"32\",\"gitVersion\":\"v1.32.0\"}";
                    default -> path.equals(podPrefix) ? pod() : null;
                };
                if (body == null) {
                    respond(out, 404, "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\",\"reason\":\"NotFound\",\"code\":404}");
                } else {
                    respond(out, 200, body);
                }
            }
        } catch (IOException e) {
            // kubectl went away
        } finally {
            open.remove(conn);
        }
    }

    private String pod() {
        return "{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"" + podName + "\",\"namespace\":\"default\"},"
                + "\"spec\":{\"containers\":[{\"name\":\"main\",\"image\":\"busybox\"}]},"
                + "\"status\":{\"phase\":\"Running\"}}";
    }

    /** Replays the upgrade request to the streaming URL (same headers, the token's path) and splices both ways. */
    private static void splice(Socket client, String head, String[] lines, URI url) throws IOException {
        try (var upstream = new Socket(url.getHost(), url.getPort())) {
            String[] requestLine = lines[0].split(" ");
            var rewritten = new StringBuilder(requestLine[0] + " " + url.getRawPath()
                    + (url.getRawQuery() == null ? "" : "?" + url.getRawQuery()) + " HTTP/1.1\r\n");
            for (int i = 1; i < lines.length; i++) {
                if (lines[i].toLowerCase().startsWith("host:")) {
                    rewritten.append("Host: ").append(url.getHost()).append(':').append(url.getPort()).append("\r\n");
                } else {
                    rewritten.append(lines[i]).append("\r\n");
                }
            }
            rewritten.append("\r\n");
            upstream.getOutputStream().write(rewritten.toString().getBytes(StandardCharsets.ISO_8859_1));
            upstream.getOutputStream().flush();
            var up = Thread.ofVirtual().start(() -> {
                try {
                    client.getInputStream().transferTo(upstream.getOutputStream());
                    upstream.shutdownOutput();
                } catch (IOException e) {
                    // one side closed
                }
            });
            try {
                upstream.getInputStream().transferTo(client.getOutputStream());
                client.shutdownOutput();
            } catch (IOException e) {
                // one side closed
            }
            try {
                up.join(5_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private static Map<String, List<String>> query(String raw) {
        var map = new LinkedHashMap<String, List<String>>();
        if (raw == null) {
            return map;
        }
        for (String pair : raw.split("&")) {
            int eq = pair.indexOf('=');
            String k = URLDecoder.decode(eq < 0 ? pair : pair.substring(0, eq), StandardCharsets.UTF_8);
            String v = eq < 0 ? "" : URLDecoder.decode(pair.substring(eq + 1), StandardCharsets.UTF_8);
            map.computeIfAbsent(k, x -> new ArrayList<>()).add(v);
        }
        return map;
    }

    private static String readHead(InputStream in) throws IOException {
        var buf = new ByteArrayOutputStream();
        int state = 0;
        for (int c; (c = in.read()) >= 0; ) {
            buf.write(c);
            state = switch (state) {
                case 0, 2 -> c == '\r' ? state + 1 : 0;
                case 1 -> c == '\n' ? 2 : 0;
                case 3 -> c == '\n' ? 4 : 0;
                default -> 0;
            };
            if (state == 4) {
                return buf.toString(StandardCharsets.ISO_8859_1);
            }
        }
        return null;
    }

    private static void respond(OutputStream out, int status, String body) throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        out.write(("HTTP/1.1 " + status + (status == 200 ? " OK" : " Error") + "\r\nContent-Type: application/json\r\n"
                + "Content-Length: " + bytes.length + "\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
        out.write(bytes);
        out.flush();
    }

    @Override
    public void close() throws IOException {
        socket.close();
        for (var s : open) {
            s.close();
        }
    }
}
