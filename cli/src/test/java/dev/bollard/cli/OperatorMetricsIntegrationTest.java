package dev.bollard.cli;

import dev.bollard.api.cri.v1.ImageSpec;
import dev.bollard.api.cri.v1.ImageStatusRequest;
import dev.bollard.api.cri.v1.ListPodSandboxRequest;
import dev.bollard.api.cri.v1.PullImageRequest;
import dev.bollard.daemon.testkit.TestImages;
import dev.bollard.daemon.testkit.TestPush;
import dev.bollard.daemon.testkit.TestRegistry;
import dev.bollard.api.cri.v1.PodSandboxStatusRequest;
import dev.bollard.api.cri.v1.VersionRequest;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

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
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The operator's /metrics endpoint of a real daemon: on when [metrics] address is set, absent when it is not. */
@LeakChecked
class OperatorMetricsIntegrationTest {

    /** A sample line of the text format: name, optional {labels}, value (and an optional timestamp). */
    private static final Pattern SAMPLE = Pattern.compile(
            "[a-zA-Z_:][a-zA-Z0-9_:]*(\\{[a-zA-Z_][a-zA-Z0-9_]*=\"(\\\\.|[^\"\\\\])*\"(,[a-zA-Z_][a-zA-Z0-9_]*=\"(\\\\.|[^\"\\\\])*\")*,?})?"
                    + " (NaN|[+-]Inf|[-+0-9.eE]+)( -?[0-9]+)?");
    private static final String VERSION = "runtime.v1.RuntimeService/Version";

    private Path dir;

    @BeforeEach
    void tempDir() throws Exception {
        dir = Files.createTempDirectory("bollard-metrics-");
    }

    @AfterEach
    void cleanUp() throws Exception {
        TestFiles.deleteTree(dir);
    }

    @Test
    void servesPrometheusTextWithRpcLatencyAndJvmMetrics() throws Exception {
        int port = freePort();
        Files.writeString(dir.resolve("bollard.toml"), "[metrics]\naddress = \"127.0.0.1:" + port + "\"\n");
        try (var d = DaemonProcess.start(dir); var client = new CriClient(d.endpoint(), 10)) {
            assertTrue(listeningTcpPorts(d.process.pid()).contains(port), "the daemon listens on " + port);
            assertTrue(d.logText().contains("url=http://127.0.0.1:" + port + "/metrics"), d.logText());
            int calls = 3;
            for (int i = 0; i < calls; i++) {
                client.runtime(stub -> stub.version(VersionRequest.getDefaultInstance()));
            }
            client.runtime(stub -> stub.listPodSandbox(ListPodSandboxRequest.getDefaultInstance()));
            assertThrows(CliException.class, () -> client.runtime(stub -> stub.podSandboxStatus(
                    PodSandboxStatusRequest.newBuilder().setPodSandboxId("nosuchpod").build())));

            var http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
            var response = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/metrics"))
                    .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(200, response.statusCode(), response.body());
            assertTrue(response.headers().firstValue("Content-Type").orElse("").startsWith("text/plain"),
                    response.headers().toString());
            String body = response.body();
            for (String line : body.split("\n")) {
                if (line.isEmpty()) {
                    continue;
                }
                assertTrue(line.startsWith("# HELP ") || line.startsWith("# TYPE ") || SAMPLE.matcher(line).matches(),
                        "not a text-format line: " + line);
            }
            assertTrue(body.contains("# TYPE bollard_cri_request_duration_seconds histogram"), body);
            String count = "bollard_cri_request_duration_seconds_count{code=\"OK\",method=\"" + VERSION + "\"} ";
            double versionCalls = value(body, count);
            assertTrue(versionCalls >= calls, "Version calls counted: " + versionCalls);
            assertEquals(versionCalls, value(body, "bollard_cri_request_duration_seconds_bucket{code=\"OK\",method=\""
                    + VERSION + "\",le=\"+Inf\"} "), "the +Inf bucket holds every call");
            String notFound = "bollard_cri_request_errors_total{code=\"NOT_FOUND\",method=\"runtime.v1.RuntimeService/PodSandboxStatus\"} ";
            assertEquals(1.0, value(body, notFound), body);
            assertEquals(0.0, value(body, "bollard_pods{state=\"READY\"} "), body);
            assertEquals(0.0, value(body, "bollard_shims "), body);
            assertTrue(value(body, "jvm_memory_used_bytes{area=\"heap\"} ") > 0, body);
            assertTrue(body.contains("jvm_gc_collection_seconds_count{"), body);

            var other = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/other")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(404, other.statusCode());
        }
    }

    @Test
    void imagePullsAreCountedWithTheirSizeAndDuration() throws Exception {
        var registry = TestRegistry.start(Files.createDirectories(dir.resolve("registry")));
        try {
            var busybox = TestImages.busybox();
            busybox.push(new TestPush(registry.apiRoot()), "library/busybox", "1.36");
            Path certsD = Files.createDirectories(dir.resolve("certs.d/docker.io"));
            Files.writeString(certsD.resolve("hosts.toml"), """
                    server = "https://registry-1.docker.io"
                    [host."http://%s"]
                      capabilities = ["pull", "resolve"]
                    """.formatted(registry.host()));
            int port = freePort();
            Files.writeString(dir.resolve("bollard.toml"), "[registry]\nconfig_path = \"" + dir.resolve("certs.d")
                    + "\"\n[metrics]\naddress = \"127.0.0.1:" + port + "\"\n");
            try (var d = DaemonProcess.start(dir); var client = new CriClient(d.endpoint(), 60)) {
                var image = client.image(stub -> stub.pullImage(PullImageRequest.newBuilder()
                        .setImage(ImageSpec.newBuilder().setImage("busybox:1.36")).build()));
                assertFalse(image.getImageRef().isEmpty());
                long size = client.image(stub -> stub.imageStatus(ImageStatusRequest.newBuilder()
                        .setImage(ImageSpec.newBuilder().setImage("busybox:1.36")).build())).getImage().getSize();
                assertThrows(CliException.class, () -> client.image(stub -> stub.pullImage(PullImageRequest.newBuilder()
                        .setImage(ImageSpec.newBuilder().setImage("nothing-here:1")).build())));

                String body = scrape(port);
                assertEquals(1.0, value(body, "bollard_image_pull_duration_seconds_count "), body);
                assertTrue(size > 0);
                assertEquals((double) size, value(body, "bollard_image_pull_bytes_total "), body);
                assertEquals(1.0, value(body, "bollard_image_pull_failures_total "), body);
                // The pulled image's record went through the image store: one timed write at least.
                String imageWrites = "bollard_store_operation_duration_seconds_count{op=\"write\",store=\"images\"} ";
                assertTrue(value(body, imageWrites) >= 1, body);
                assertEquals(value(body, imageWrites), value(body,
                        "bollard_store_operation_duration_seconds_bucket{op=\"write\",store=\"images\",le=\"+Inf\"} "));
                assertTrue(value(body, "bollard_cri_request_duration_seconds_count{code=\"OK\",method=\"runtime.v1.ImageService/PullImage\"} ") >= 1,
                        body);
            }
        } finally {
            registry.close();
        }
    }

    private static String scrape(int port) throws Exception {
        var http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
        var response = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/metrics"))
                .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, response.statusCode(), response.body());
        return response.body();
    }

    @Test
    void noListenerWithoutAnAddress() throws Exception {
        // The streaming server (exec/attach/port-forward) always listens; pinned here, it is the only TCP listener.
        int streaming = freePort();
        Files.writeString(dir.resolve("bollard.toml"), "[streaming]\nport = " + streaming + "\n");
        try (var d = DaemonProcess.start(dir); var client = new CriClient(d.endpoint(), 10)) {
            client.runtime(stub -> stub.version(VersionRequest.getDefaultInstance()));
            assertTrue(d.logText().contains("metrics off"), d.logText());
            assertEquals(Set.of(streaming), listeningTcpPorts(d.process.pid()), "TCP ports the daemon listens on");
        }
    }

    @Test
    void aMalformedAddressIsRefusedNamingTheKey() throws Exception {
        Files.writeString(dir.resolve("bollard.toml"), "[metrics]\naddress = \"localhost\"\n");
        var r = DaemonProcess.run(dir, DaemonProcess.daemonArgs(dir).toArray(String[]::new));
        assertEquals(1, r.exit(), r.out() + r.err());
        assertTrue(r.err().contains("metrics.address"), r.err());
        assertFalse(Files.exists(dir.resolve("root")), "nothing created");
    }

    private static double value(String body, String prefix) {
        for (String line : body.split("\n")) {
            if (line.startsWith(prefix)) {
                return Double.parseDouble(line.substring(prefix.length()).split(" ")[0]);
            }
        }
        throw new AssertionError("no sample " + prefix + "in:\n" + body);
    }

    private static int freePort() throws IOException {
        try (var s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    /** TCP ports in LISTEN state on sockets the process holds open, from /proc (fd links and net/tcp{,6}). */
    static Set<Integer> listeningTcpPorts(long pid) throws IOException {
        var inodes = new HashSet<String>();
        try (var fds = Files.list(Path.of("/proc", Long.toString(pid), "fd"))) {
            for (Path fd : fds.toList()) {
                try {
                    String target = Files.readSymbolicLink(fd).toString();
                    if (target.startsWith("socket:[")) {
                        inodes.add(target.substring(8, target.length() - 1));
                    }
                } catch (IOException ignored) {
                    // closed meanwhile
                }
            }
        }
        var ports = new HashSet<Integer>();
        for (String table : List.of("tcp", "tcp6")) {
            Path file = Path.of("/proc", Long.toString(pid), "net", table);
            if (!Files.exists(file)) {
                continue;
            }
            for (String line : Files.readAllLines(file).subList(1, Files.readAllLines(file).size())) {
                String[] f = line.trim().split("\\s+");
                // local_address is HEX_IP:HEX_PORT, st 0A is LISTEN, field 9 the inode
                if (f.length > 9 && f[3].equals("0A") && inodes.contains(f[9])) {
                    ports.add(Integer.parseInt(f[1].substring(f[1].indexOf(':') + 1), 16));
                }
            }
        }
        return ports;
    }
}
