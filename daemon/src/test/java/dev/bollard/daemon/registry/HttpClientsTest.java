package dev.bollard.daemon.registry;

import com.sun.net.httpserver.HttpServer;
import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsParameters;
import com.sun.net.httpserver.HttpsServer;
import dev.bollard.daemon.config.ConfigException;
import dev.bollard.daemon.registry.RegistryEndpoint.ClientCert;
import dev.bollard.daemon.registry.RegistryEndpoint.Tls;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLHandshakeException;
import javax.net.ssl.TrustManagerFactory;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Real TLS against local HttpsServers, with a CA and certificates made by openssl for the run. */
class HttpClientsTest {

    @TempDir
    static Path pki;

    private static HttpsServer plain;
    private static HttpsServer wrongHost;
    private static HttpsServer mutual;

    private final HttpClients clients = new HttpClients();

    private static final String OPENSSL_CNF = """
            [req]
            distinguished_name = dn
            prompt = no
            [dn]
            CN = unused
            [ca]
            basicConstraints = critical,CA:TRUE
            keyUsage = critical,keyCertSign,cRLSign
            subjectKeyIdentifier = hash
            [server]
            basicConstraints = CA:FALSE
            keyUsage = critical,digitalSignature,keyEncipherment
            extendedKeyUsage = serverAuth
            subjectAltName = IP:127.0.0.1,DNS:localhost
            [wronghost]
            basicConstraints = CA:FALSE
            keyUsage = critical,digitalSignature,keyEncipherment
            extendedKeyUsage = serverAuth
            subjectAltName = DNS:wrong.example
            [client]
            basicConstraints = CA:FALSE
            keyUsage = critical,digitalSignature,keyEncipherment
            extendedKeyUsage = clientAuth
            """;

    @BeforeAll
    static void makePkiAndServers() throws Exception {
        Files.writeString(pki.resolve("openssl.cnf"), OPENSSL_CNF);
        openssl("req", "-x509", "-config", "openssl.cnf", "-extensions", "ca", "-newkey", "rsa:2048", "-nodes",
                "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=Bollard Test CA");
        signed("server", "server", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key");
        signed("wronghost", "wronghost", "-newkey", "rsa:2048", "-nodes", "-keyout", "wronghost.key");
        // Client keys in the three encodings openssl writes: PKCS#8, PKCS#1 RSA and SEC1 EC (with its parameters block).
        signed("client-pkcs8", "client", "-newkey", "rsa:2048", "-nodes", "-keyout", "client-pkcs8.key");
        openssl("genrsa", "-traditional", "-out", "client-pkcs1.key", "2048");
        signed("client-pkcs1", "client", "-key", "client-pkcs1.key");
        openssl("ecparam", "-name", "prime256v1", "-genkey", "-out", "client-ec.key");
        signed("client-ec", "client", "-key", "client-ec.key");
        Files.writeString(pki.resolve("client-combined.pem"),
                Files.readString(pki.resolve("client-pkcs8.pem")) + Files.readString(pki.resolve("client-pkcs8.key")));
        // A client certificate no CA of the server knows.
        openssl("req", "-x509", "-config", "openssl.cnf", "-extensions", "client", "-newkey", "rsa:2048", "-nodes",
                "-keyout", "stranger.key", "-out", "stranger.pem", "-days", "2", "-subj", "/CN=stranger");

        plain = server("server", false);
        wrongHost = server("wronghost", false);
        mutual = server("server", true);
    }

    @AfterAll
    static void stopServers() {
        for (var s : new HttpsServer[]{plain, wrongHost, mutual}) {
            if (s != null) {
                s.stop(0);
            }
        }
    }

    @AfterEach
    void closeClients() {
        clients.close();
    }

    private static void signed(String name, String extensions, String... keyArgs) throws Exception {
        var req = new ArrayList<>(List.of("req", "-new", "-config", "openssl.cnf"));
        req.addAll(List.of(keyArgs));
        req.addAll(List.of("-out", name + ".csr", "-subj", "/CN=" + name));
        openssl(req.toArray(String[]::new));
        openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", name + ".pem", "-days", "2", "-extfile", "openssl.cnf", "-extensions", extensions);
    }

    private static void openssl(String... args) throws Exception {
        var command = new ArrayList<>(List.of("openssl"));
        command.addAll(List.of(args));
        var process = new ProcessBuilder(command).directory(pki.toFile()).redirectErrorStream(true).start();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(process.waitFor(60, TimeUnit.SECONDS), "openssl timed out");
        assertEquals(0, process.exitValue(), () -> String.join(" ", command) + ":\n" + output);
    }

    private static HttpsServer server(String name, boolean needClientAuth) throws Exception {
        var keys = KeyStore.getInstance("PKCS12");
        keys.load(null, null);
        keys.setKeyEntry("server", Pem.privateKey(pki.resolve(name + ".key")), "pw".toCharArray(),
                Pem.certificates(pki.resolve(name + ".pem")).toArray(X509Certificate[]::new));
        var keyManagers = KeyManagerFactory.getInstance("PKIX");
        keyManagers.init(keys, "pw".toCharArray());
        var trusted = KeyStore.getInstance("PKCS12");
        trusted.load(null, null);
        trusted.setCertificateEntry("ca", Pem.certificates(pki.resolve("ca.pem")).getFirst());
        var trustManagers = TrustManagerFactory.getInstance("PKIX");
        trustManagers.init(trusted);
        var context = SSLContext.getInstance("TLS");
        context.init(keyManagers.getKeyManagers(), trustManagers.getTrustManagers(), null);

        var server = HttpsServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.setHttpsConfigurator(new HttpsConfigurator(context) {
            @Override
            public void configure(HttpsParameters params) {
                var parameters = context.getDefaultSSLParameters();
                parameters.setNeedClientAuth(needClientAuth);
                params.setSSLParameters(parameters);
            }
        });
        server.createContext("/v2/", exchange -> {
            byte[] body = "{}".getBytes(StandardCharsets.UTF_8);
            exchange.getResponseHeaders().add("Docker-Distribution-API-Version", "registry/2.0");
            exchange.sendResponseHeaders(200, body.length);
            exchange.getResponseBody().write(body);
            exchange.close();
        });
        server.start();
        return server;
    }

    private static int get(HttpClient client, HttpsServer server) throws IOException, InterruptedException {
        var uri = URI.create("https://127.0.0.1:" + server.getAddress().getPort() + "/v2/");
        return client.send(HttpRequest.newBuilder(uri).GET().build(), HttpResponse.BodyHandlers.discarding())
                .statusCode();
    }

    private static Tls ca() {
        return new Tls(List.of(pki.resolve("ca.pem")), false, List.of());
    }

    @Test
    void systemTrustAloneRefusesAPrivateCa() throws Exception {
        var client = clients.clientFor(Tls.DEFAULT);
        var e = assertThrows(SSLHandshakeException.class, () -> get(client, plain));
        assertTrue(e.getMessage().contains("PKIX path"), e.getMessage());
    }

    @Test
    void extraCaFileIsTrusted() throws Exception {
        assertEquals(200, get(clients.clientFor(ca()), plain));
    }

    @Test
    void extraCaStillChecksTheHostName() throws Exception {
        var e = assertThrows(SSLHandshakeException.class, () -> get(clients.clientFor(ca()), wrongHost));
        assertTrue(e.getMessage().contains("127.0.0.1"), e.getMessage());
    }

    @Test
    void skipVerifyAcceptsAnUnknownCaAndAWrongHostName() throws Exception {
        var skip = new Tls(List.of(), true, List.of());
        assertEquals(200, get(clients.clientFor(skip), plain));
        assertEquals(200, get(clients.clientFor(skip), wrongHost));
    }

    @Test
    void skipVerifyIsNotGlobal() throws Exception {
        assertEquals(200, get(clients.clientFor(new Tls(List.of(), true, List.of())), wrongHost));
        assertThrows(SSLHandshakeException.class, () -> get(clients.clientFor(ca()), wrongHost));
        assertThrows(SSLHandshakeException.class, () -> get(HttpClient.newHttpClient(), wrongHost));
    }

    @Test
    void clientCertificateRequiredByTheServer() throws Exception {
        assertThrows(IOException.class, () -> get(clients.clientFor(ca()), mutual), "no client certificate");
        for (String name : List.of("client-pkcs8", "client-pkcs1", "client-ec")) {
            var tls = new Tls(List.of(pki.resolve("ca.pem")), false, List.of(
                    new ClientCert(pki.resolve(name + ".pem"), Optional.of(pki.resolve(name + ".key")))));
            assertEquals(200, get(clients.clientFor(tls), mutual), name);
        }
    }

    @Test
    void certificateAndKeyInOneFile() throws Exception {
        var tls = new Tls(List.of(pki.resolve("ca.pem")), false,
                List.of(new ClientCert(pki.resolve("client-combined.pem"), Optional.empty())));
        assertEquals(200, get(clients.clientFor(tls), mutual));
    }

    @Test
    void theRightOneOfSeveralClientCertificatesIsPicked() throws Exception {
        var tls = new Tls(List.of(pki.resolve("ca.pem")), false, List.of(
                new ClientCert(pki.resolve("stranger.pem"), Optional.of(pki.resolve("stranger.key"))),
                new ClientCert(pki.resolve("client-ec.pem"), Optional.of(pki.resolve("client-ec.key")))));
        assertEquals(200, get(clients.clientFor(tls), mutual));
    }

    @Test
    void aCertificateTheServerDoesNotKnowIsRefused() throws Exception {
        var tls = new Tls(List.of(pki.resolve("ca.pem")), false, List.of(
                new ClientCert(pki.resolve("stranger.pem"), Optional.of(pki.resolve("stranger.key")))));
        assertThrows(IOException.class, () -> get(clients.clientFor(tls), mutual));
    }

    @Test
    void oneClientPerDistinctTls() throws Exception {
        var first = clients.clientFor(ca());
        assertSame(first, clients.clientFor(new Tls(List.of(pki.resolve("ca.pem")), false, List.of())));
        assertNotSame(first, clients.clientFor(Tls.DEFAULT));
        assertEquals(HttpClient.Version.HTTP_1_1, first.version());
        assertEquals(HttpClient.Redirect.NEVER, first.followRedirects(), "RegistryClient follows redirects itself");
    }

    @Test
    void aChangedCertificateFileGivesANewClient() throws Exception {
        Path copy = Files.copy(pki.resolve("ca.pem"), pki.resolve("renewed-ca.pem"));
        var tls = new Tls(List.of(copy), false, List.of());
        var first = clients.clientFor(tls);
        assertSame(first, clients.clientFor(tls));
        Files.setLastModifiedTime(copy, FileTime.fromMillis(Files.getLastModifiedTime(copy).toMillis() + 5_000));
        var second = clients.clientFor(tls);
        assertNotSame(first, second);
        assertSame(second, clients.clientFor(tls));
        assertEquals(200, get(second, plain));
    }

    /** Redirects reach RegistryClient, which decides what a cross-origin hop may carry. */
    @Test
    void redirectsAreLeftToTheRegistryClient() throws Exception {
        var registry = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        registry.createContext("/", exchange -> {
            exchange.getResponseHeaders().add("Location", "http://localhost:1/blob");
            exchange.sendResponseHeaders(307, -1);
            exchange.close();
        });
        registry.start();
        try {
            var uri = URI.create("http://127.0.0.1:" + registry.getAddress().getPort() + "/v2/a/blobs/sha256:1");
            var response = clients.clientFor(Tls.DEFAULT).send(HttpRequest.newBuilder(uri).build(),
                    HttpResponse.BodyHandlers.discarding());
            assertEquals(307, response.statusCode());
        } finally {
            registry.stop(0);
        }
    }

    @Test
    void keyEncodingsAreRead() throws Exception {
        assertEquals("RSA", Pem.privateKey(pki.resolve("client-pkcs1.key")).getAlgorithm());
        assertEquals("RSA", Pem.privateKey(pki.resolve("client-pkcs8.key")).getAlgorithm());
        assertEquals("EC", Pem.privateKey(pki.resolve("client-ec.key")).getAlgorithm());
        assertTrue(Files.readString(pki.resolve("client-pkcs1.key")).contains("BEGIN RSA PRIVATE KEY"));
        assertTrue(Files.readString(pki.resolve("client-ec.key")).contains("BEGIN EC PRIVATE KEY"));
    }

    private String error(Tls tls) {
        return assertThrows(ConfigException.class, () -> clients.clientFor(tls)).getMessage();
    }

    @Test
    void badFilesAreNamed() throws Exception {
        Path missing = pki.resolve("missing.pem");
        assertTrue(error(new Tls(List.of(missing), false, List.of())).startsWith(missing + ": cannot read"));

        Path notPem = Files.writeString(pki.resolve("not.pem"), "hello\n");
        assertEquals(notPem + ": no PEM certificate (BEGIN CERTIFICATE) found",
                error(new Tls(List.of(notPem), false, List.of())));

        Path certOnly = pki.resolve("client-pkcs8.pem");
        assertTrue(error(new Tls(List.of(), false, List.of(new ClientCert(certOnly, Optional.empty()))))
                .startsWith(certOnly + ": no private key found"));

        Path encrypted = Files.writeString(pki.resolve("enc.key"),
                "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n");
        assertTrue(error(new Tls(List.of(), false, List.of(new ClientCert(certOnly, Optional.of(encrypted)))))
                .startsWith(encrypted + ": encrypted private keys are not supported"));

        Path ecKey = pki.resolve("client-ec.key");
        assertEquals(ecKey + ": the private key is EC but the certificate in " + certOnly + " is RSA",
                error(new Tls(List.of(), false, List.of(new ClientCert(certOnly, Optional.of(ecKey))))));
    }
}
