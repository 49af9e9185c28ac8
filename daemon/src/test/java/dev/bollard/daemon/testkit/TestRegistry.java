package dev.bollard.daemon.testkit;

import dev.bollard.daemon.registry.RegistryEndpoint;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * A real registry for tests: Debian's {@code docker-registry} (distribution 2.x) on a free loopback port, storing
 * into a directory that is deleted on close. Optionally with htpasswd (Basic) or token (Bearer) authentication.
 */
public final class TestRegistry implements AutoCloseable {

    public static final Path BINARY = Path.of("/usr/bin/docker-registry");

    /** Whether the binary is installed ({@code apt-get install docker-registry}); tests assume it. */
    public static boolean available() {
        return Files.isExecutable(BINARY);
    }

    /** Token authentication settings: the registry trusts JWTs signed by the key of {@code rootCertBundle}. */
    public record TokenAuth(String realm, String service, String issuer, Path rootCertBundle) {
    }

    private final Process process;
    private final Path dir;
    private final int port;
    private final Path caFile;

    private final Thread reaper;

    private TestRegistry(Process process, Path dir, int port, Path caFile) {
        this.process = process;
        this.dir = dir;
        this.port = port;
        this.caFile = caFile;
        // a test JVM that exits without close() must not leave the registry running
        this.reaper = new Thread(process::destroyForcibly, "docker-registry-reaper");
        Runtime.getRuntime().addShutdownHook(reaper);
    }

    public static TestRegistry start(Path dir) throws IOException, InterruptedException {
        return launch(dir, null, null);
    }

    /**
     * Serving https with a certificate for 127.0.0.1 signed by a fresh CA ({@link #caFile()}), both made with
     * openssl.
     */
    public static TestRegistry startWithTls(Path dir) throws IOException, InterruptedException {
        return launch(dir, null, makeTls(dir));
    }

    /** https (as {@link #startWithTls}) and Basic authentication (as {@link #startWithHtpasswd}) together. */
    public static TestRegistry startWithTlsAndHtpasswd(Path dir, String user, String password)
            throws IOException, InterruptedException {
        Path tls = makeTls(dir);
        return launch(dir, htpasswdAuth(dir, user, password), tls);
    }

    private static Path makeTls(Path dir) throws IOException, InterruptedException {
        Files.createDirectories(dir);
        Path tls = dir.resolve("tls");
        Files.createDirectories(tls);
        Files.writeString(tls.resolve("san.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
        openssl(tls, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
                "-days", "2", "-subj", "/CN=bollard-test-ca");
        openssl(tls, "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
                "-subj", "/CN=127.0.0.1");
        openssl(tls, "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", "server.crt", "-days", "2", "-extfile", "san.ext");
        return tls;
    }

    private static void openssl(Path dir, String... args) throws IOException, InterruptedException {
        var cmd = new java.util.ArrayList<String>();
        cmd.add("openssl");
        cmd.addAll(java.util.List.of(args));
        var p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (p.waitFor() != 0) {
            throw new IOException("openssl " + String.join(" ", args) + " failed: " + out);
        }
    }

    /** With Basic authentication for one user (bcrypt entry made by {@code htpasswd -B}). */
    public static TestRegistry startWithHtpasswd(Path dir, String user, String password)
            throws IOException, InterruptedException {
        return launch(dir, htpasswdAuth(dir, user, password), null);
    }

    private static String htpasswdAuth(Path dir, String user, String password) throws IOException, InterruptedException {
        Files.createDirectories(dir);
        Path htpasswd = dir.resolve("htpasswd");
        var p = new ProcessBuilder("htpasswd", "-Bbn", user, password).redirectErrorStream(true).start();
        String entry = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        if (p.waitFor() != 0) {
            throw new IOException("htpasswd failed: " + entry);
        }
        Files.writeString(htpasswd, entry + "\n");
        return "  htpasswd:\n    realm: bollard-test\n    path: " + htpasswd + "\n";
    }

    public static TestRegistry startWithToken(Path dir, TokenAuth token) throws IOException, InterruptedException {
        return launch(dir, "  token:\n    realm: " + token.realm() + "\n    service: " + token.service()
                + "\n    issuer: " + token.issuer() + "\n    rootcertbundle: " + token.rootCertBundle() + "\n", null);
    }

    private static TestRegistry launch(Path dir, String auth, Path tls) throws IOException, InterruptedException {
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
                      secret: bollard-test-secret
                    """.formatted(dir.resolve("data"), port)
                    + (tls == null ? "" : "  tls:\n    certificate: " + tls.resolve("server.crt") + "\n    key: "
                    + tls.resolve("server.key") + "\n")
                    + (auth == null ? "" : "auth:\n" + auth));
            Path log = dir.resolve("registry.log");
            Process p = new ProcessBuilder(BINARY.toString(), "serve", config.toString())
                    .redirectErrorStream(true).redirectOutput(log.toFile()).start();
            var r = new TestRegistry(p, dir, port, tls == null ? null : tls.resolve("ca.crt"));
            try {
                r.awaitReady();
                return r;
            } catch (IOException e) {
                r.stop();
                last = new IOException(e.getMessage() + "; registry log:\n" + Files.readString(log), e);
            }
        }
        throw last;
    }

    private static int freePort() throws IOException {
        try (var s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    private void awaitReady() throws IOException, InterruptedException {
        var b = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(1));
        if (caFile != null) {
            b.sslContext(trusting(caFile));
        }
        var http = b.build();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
        while (System.nanoTime() < deadline) {
            if (!process.isAlive()) {
                throw new IOException("docker-registry exited with " + process.exitValue());
            }
            try {
                int s = http.send(HttpRequest.newBuilder(URI.create(scheme() + "://127.0.0.1:" + port + "/v2/"))
                        .timeout(Duration.ofSeconds(2)).build(), HttpResponse.BodyHandlers.discarding()).statusCode();
                if (s == 200 || s == 401) {
                    return;
                }
            } catch (IOException e) {
                // not listening yet
            }
            Thread.sleep(50);
        }
        throw new IOException("docker-registry did not answer /v2/ within 15 s");
    }

    public int port() {
        return port;
    }

    /** {@code 127.0.0.1:port}, the key credentials are looked up by. */
    public String host() {
        return "127.0.0.1:" + port;
    }

    public URI apiRoot() {
        return URI.create(scheme() + "://" + host() + "/v2");
    }

    private String scheme() {
        return caFile == null ? "http" : "https";
    }

    /** The CA that signed the https certificate; null for plain http. */
    public Path caFile() {
        return caFile;
    }

    /** An SSL context trusting only the PEM certificates of {@code caFiles}. */
    public static javax.net.ssl.SSLContext trusting(Path... caFiles) throws IOException {
        try {
            var ks = java.security.KeyStore.getInstance("PKCS12");
            ks.load(null, null);
            var cf = java.security.cert.CertificateFactory.getInstance("X.509");
            int i = 0;
            for (Path f : caFiles) {
                try (var in = Files.newInputStream(f)) {
                    for (var cert : cf.generateCertificates(in)) {
                        ks.setCertificateEntry("ca" + i++, cert);
                    }
                }
            }
            var tmf = javax.net.ssl.TrustManagerFactory.getInstance(
                    javax.net.ssl.TrustManagerFactory.getDefaultAlgorithm());
            tmf.init(ks);
            var ctx = javax.net.ssl.SSLContext.getInstance("TLS");
            ctx.init(null, tmf.getTrustManagers(), null);
            return ctx;
        } catch (java.security.GeneralSecurityException e) {
            throw new IOException(e);
        }
    }

    public RegistryEndpoint upstream() {
        return RegistryEndpoint.upstream(apiRoot());
    }

    public RegistryEndpoint mirror(boolean canResolve) {
        return new RegistryEndpoint(apiRoot(), true, true, canResolve, RegistryEndpoint.Tls.DEFAULT,
                java.util.Map.of());
    }

    private void stop() throws InterruptedException {
        try {
            Runtime.getRuntime().removeShutdownHook(reaper);
        } catch (IllegalStateException shuttingDown) {
            // the hook runs anyway
        }
        process.destroy();
        if (!process.waitFor(5, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            process.waitFor(5, TimeUnit.SECONDS);
        }
    }

    @Override
    public void close() throws InterruptedException {
        stop();
        try (Stream<Path> s = Files.walk(dir)) {
            s.sorted(Comparator.reverseOrder()).forEach(p -> {
                try {
                    Files.deleteIfExists(p);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
        } catch (IOException | UncheckedIOException e) {
            // the test's @TempDir cleanup will retry
        }
    }
}
