package dev.bollard.daemon.testkit;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyFactory;
import java.security.PrivateKey;
import java.security.Signature;
import java.security.cert.CertificateFactory;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A token server after docker's token authentication spec, for a {@link TestRegistry} in token mode: GET
 * {@code /token?service=&scope=} (Basic credentials when {@link #requireUser} is set) and the OAuth2 POST with
 * {@code grant_type=refresh_token}. Tokens are RS256 JWTs whose {@code x5c} header carries a self-signed
 * certificate (made with openssl) that the registry trusts as its root bundle; they grant what the scopes ask.
 */
public final class TestTokenServer implements AutoCloseable {

    public static final String SERVICE = "bollard-test-registry";
    public static final String ISSUER = "bollard-test-issuer";

    public record Hit(String method, String query, String authorization, String form) {
    }

    private final HttpServer server;
    private final PrivateKey key;
    private final String certificate;
    private final Path certFile;
    public final List<Hit> hits = Collections.synchronizedList(new ArrayList<>());
    /** When set, GET needs Basic credentials for this user:password. */
    public volatile String requireUser;
    /** The refresh token the OAuth2 POST accepts. */
    public volatile String identityToken = "";
    /** The first token issued is for the wrong audience, so the registry rejects it. */
    public final AtomicBoolean badFirstToken = new AtomicBoolean();
    public volatile long expiresIn = 300;
    /** Answer the OAuth2 POST with 404, as token servers without OAuth2 do. */
    public volatile boolean noOAuth;

    public TestTokenServer(Path dir) throws IOException, InterruptedException {
        Files.createDirectories(dir);
        Path keyFile = dir.resolve("token.key");
        certFile = dir.resolve("token.crt");
        var p = new ProcessBuilder("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                keyFile.toString(), "-out", certFile.toString(), "-days", "2", "-subj", "/CN=bollard-test-token")
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (p.waitFor() != 0) {
            throw new IOException("openssl failed: " + out);
        }
        try {
            String pem = Files.readString(keyFile).replaceAll("-----[A-Z ]+-----", "").replaceAll("\\s", "");
            key = KeyFactory.getInstance("RSA").generatePrivate(new PKCS8EncodedKeySpec(
                    Base64.getDecoder().decode(pem)));
            try (var in = Files.newInputStream(certFile)) {
                certificate = Base64.getEncoder().encodeToString(
                        CertificateFactory.getInstance("X.509").generateCertificate(in).getEncoded());
            }
        } catch (java.security.GeneralSecurityException e) {
            throw new IOException(e);
        }
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
        server.createContext("/token", this::handle);
        server.start();
    }

    public TestRegistry.TokenAuth registryConfig() {
        return new TestRegistry.TokenAuth(realm(), SERVICE, ISSUER, certFile);
    }

    public String realm() {
        return "http://127.0.0.1:" + server.getAddress().getPort() + "/token";
    }

    private void handle(HttpExchange ex) throws IOException {
        try (ex) {
            String query = ex.getRequestURI().getRawQuery() == null ? "" : ex.getRequestURI().getRawQuery();
            String auth = ex.getRequestHeaders().getFirst("Authorization");
            String form = ex.getRequestMethod().equals("POST")
                    ? new String(ex.getRequestBody().readAllBytes(), StandardCharsets.UTF_8) : "";
            hits.add(new Hit(ex.getRequestMethod(), query, auth, form));
            List<String> scopes;
            String subject = "";
            if (ex.getRequestMethod().equals("POST") && noOAuth) {
                reply(ex, 404, "{}");
                return;
            }
            if (ex.getRequestMethod().equals("POST")) {
                var params = params(form);
                if (!"refresh_token".equals(first(params, "grant_type"))
                        || identityToken.isEmpty() || !identityToken.equals(first(params, "refresh_token"))) {
                    reply(ex, 401, "{\"error\":\"invalid_grant\"}");
                    return;
                }
                scopes = new ArrayList<>();
                for (String s : params.getOrDefault("scope", List.of())) {
                    scopes.addAll(List.of(s.split(" ")));
                }
                String jwt = issue(scopes, "oauth-user");
                reply(ex, 200, "{\"access_token\":\"" + jwt + "\",\"expires_in\":" + expiresIn + "}");
                return;
            }
            if (requireUser != null) {
                // docker's clients send an identity token as the password of its user
                String expected = "Basic " + Base64.getEncoder().encodeToString(
                        requireUser.getBytes(StandardCharsets.UTF_8));
                if (!expected.equals(auth)) {
                    reply(ex, 401, "{\"details\":\"bad credentials\"}");
                    return;
                }
                subject = requireUser.substring(0, requireUser.indexOf(':'));
            }
            scopes = params(query).getOrDefault("scope", List.of());
            String jwt = issue(scopes, subject);
            reply(ex, 200, "{\"token\":\"" + jwt + "\",\"expires_in\":" + expiresIn + ",\"issued_at\":\""
                    + java.time.Instant.now() + "\"}");
        }
    }

    private static void reply(HttpExchange ex, int status, String body) throws IOException {
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", "application/json");
        ex.sendResponseHeaders(status, b.length);
        ex.getResponseBody().write(b);
    }

    private static Map<String, List<String>> params(String s) {
        var out = new LinkedHashMap<String, List<String>>();
        for (String kv : s.split("&")) {
            if (kv.isEmpty()) {
                continue;
            }
            int eq = kv.indexOf('=');
            String k = URLDecoder.decode(eq < 0 ? kv : kv.substring(0, eq), StandardCharsets.UTF_8);
            String v = eq < 0 ? "" : URLDecoder.decode(kv.substring(eq + 1), StandardCharsets.UTF_8);
            out.computeIfAbsent(k, x -> new ArrayList<>()).add(v);
        }
        return out;
    }

    private static String first(Map<String, List<String>> m, String k) {
        return m.getOrDefault(k, List.of("")).getFirst();
    }

    /** A token granting the actions of {@code scopes} ({@code repository:name:pull,push}). */
    public String issue(List<String> scopes, String subject) {
        var access = new ArrayList<String>();
        for (String s : scopes) {
            String[] parts = s.split(":");
            if (parts.length != 3) {
                continue;
            }
            var actions = new ArrayList<String>();
            for (String a : parts[2].split(",")) {
                actions.add("\"" + a + "\"");
            }
            access.add("{\"type\":\"" + parts[0] + "\",\"name\":\"" + parts[1] + "\",\"actions\":["
                    + String.join(",", actions) + "]}");
        }
        long now = System.currentTimeMillis() / 1000;
        String audience = badFirstToken.compareAndSet(true, false) ? "someone-else" : SERVICE;
        String header = "{\"typ\":\"JWT\",\"alg\":\"RS256\",\"x5c\":[\"" + certificate + "\"]}";
        String claims = "{\"iss\":\"" + ISSUER + "\",\"sub\":\"" + subject + "\",\"aud\":\"" + audience
                + "\",\"exp\":" + (now + 300) + ",\"nbf\":" + (now - 10) + ",\"iat\":" + now + ",\"jti\":\""
                + UUID.randomUUID() + "\",\"access\":[" + String.join(",", access) + "]}";
        var b64 = Base64.getUrlEncoder().withoutPadding();
        String signingInput = b64.encodeToString(header.getBytes(StandardCharsets.UTF_8)) + "."
                + b64.encodeToString(claims.getBytes(StandardCharsets.UTF_8));
        try {
            var sig = Signature.getInstance("SHA256withRSA");
            sig.initSign(key);
            sig.update(signingInput.getBytes(StandardCharsets.US_ASCII));
            return signingInput + "." + b64.encodeToString(sig.sign());
        } catch (java.security.GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public void close() {
        server.stop(0);
    }
}
