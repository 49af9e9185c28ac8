package dev.bollard.daemon.registry;

import dev.bollard.daemon.registry.RegistryException.Kind;
import dev.bollard.daemon.testkit.TestImages;
import dev.bollard.daemon.testkit.TestPush;
import dev.bollard.daemon.testkit.TestRegistry;
import dev.bollard.daemon.testkit.TestTokenServer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.net.http.HttpClient;
import java.nio.channels.Channels;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Authentication against real docker-registries: htpasswd mode (Basic challenge) and token mode (Bearer
 * challenge, tokens from {@link TestTokenServer}, verified by the registry).
 */
class RegistryAuthTest {

    @TempDir
    static Path tmp;
    static TestRegistry basicRegistry;
    static TestRegistry tokenRegistry;
    static TestTokenServer tokens;
    static final TestImages.Image IMAGE = TestImages.busybox();
    static final TestImages.Image OTHER = TestImages.tiny(Platform.LINUX_AMD64);

    @BeforeAll
    static void start() throws Exception {
        assumeTrue(TestRegistry.available(), "docker-registry is not installed");
        basicRegistry = TestRegistry.startWithHtpasswd(tmp.resolve("basic"), "alice", "s3cret");
        IMAGE.push(new TestPush(basicRegistry.apiRoot(), HttpClient.newHttpClient(),
                Authenticator.basic("alice", "s3cret")), "private/busybox", "1.0");

        tokens = new TestTokenServer(tmp.resolve("tokens"));
        tokenRegistry = TestRegistry.startWithToken(tmp.resolve("token"), tokens.registryConfig());
        String pushToken = "Bearer " + tokens.issue(List.of("repository:private/busybox:pull,push",
                "repository:private/other:pull,push"), "pusher");
        var push = new TestPush(tokenRegistry.apiRoot(), HttpClient.newHttpClient(), pushToken);
        IMAGE.push(push, "private/busybox", "1.0");
        OTHER.push(push, "private/other", "1.0");
    }

    @AfterAll
    static void stop() throws Exception {
        if (basicRegistry != null) {
            basicRegistry.close();
        }
        if (tokenRegistry != null) {
            tokenRegistry.close();
        }
        if (tokens != null) {
            tokens.close();
        }
    }

    @BeforeEach
    void resetTokenServer() {
        tokens.hits.clear();
        tokens.requireUser = null;
        tokens.identityToken = "";
        tokens.badFirstToken.set(false);
        tokens.noOAuth = false;
    }

    static RegistryClient client(Map<String, Credentials> creds, Clock clock) {
        var options = RegistryClient.Options.defaults().withPlatform(Platform.LINUX_AMD64)
                .withProgressTimeout(Duration.ofSeconds(5)).withClock(clock)
                .withRetries(2, Duration.ofMillis(1), Duration.ofMillis(2), d -> {
                });
        return new RegistryClient(tls -> HttpClient.newHttpClient(), host -> Optional.ofNullable(creds.get(host)),
                options);
    }

    static RegistryClient client(Map<String, Credentials> creds) {
        return client(creds, Clock.systemUTC());
    }

    static void pullAll(RegistryClient c, TestRegistry r, String repository) throws Exception {
        var resolved = c.resolve(repository, "1.0", List.of(r.upstream()));
        for (Descriptor layer : resolved.image().layers()) {
            var out = new ByteArrayOutputStream();
            c.fetchBlob(repository, layer, List.of(r.upstream()), BlobTarget.of(Channels.newChannel(out)));
            assertEquals(layer.size(), out.size());
        }
    }

    // ------------------------------------------------------------------------------------------------ Basic

    @Test
    void basicAuthWithTheRightPassword() throws Exception {
        var c = client(Map.of(basicRegistry.host(), Credentials.basic("alice", "s3cret")));
        var r = c.resolve("private/busybox", "1.0", List.of(basicRegistry.upstream()));
        assertEquals(IMAGE.manifest().digest(), r.manifest().digest());
        var layer = IMAGE.layers().getFirst();
        var out = new ByteArrayOutputStream();
        c.fetchBlob("private/busybox", layer.digest(), layer.size(), List.of(basicRegistry.upstream()),
                BlobTarget.of(Channels.newChannel(out)));
        assertArrayEquals(layer.bytes(), out.toByteArray());
    }

    @Test
    void basicAuthWithoutCredentialsIsAClearUnauthorized() {
        var e = assertThrows(RegistryException.class, () -> client(Map.of()).resolve("private/busybox", "1.0",
                List.of(basicRegistry.upstream())));
        assertEquals(Kind.UNAUTHORIZED, e.kind());
        assertEquals(401, e.status());
        String m = e.getMessage();
        assertTrue(m.contains("unauthorized") && m.contains(basicRegistry.host()) && m.contains("private/busybox")
                && m.contains("no credentials"), m);
    }

    @Test
    void basicAuthWithAWrongPasswordIsRejected() {
        var e = assertThrows(RegistryException.class, () -> client(Map.of(basicRegistry.host(),
                Credentials.basic("alice", "wrong"))).resolve("private/busybox", "1.0",
                List.of(basicRegistry.upstream())));
        assertEquals(Kind.UNAUTHORIZED, e.kind());
        assertTrue(e.getMessage().contains("rejected the credentials of user \"alice\""), e.getMessage());
        assertTrue(!e.getMessage().contains("wrong"), "no password in messages: " + e.getMessage());
    }

    // ----------------------------------------------------------------------------------------------- Bearer

    @Test
    void anonymousBearerTokenIsFetchedOnceAndCached() throws Exception {
        var c = client(Map.of());
        pullAll(c, tokenRegistry, "private/busybox");
        pullAll(c, tokenRegistry, "private/busybox");
        assertEquals(1, tokens.hits.size(), tokens.hits.toString());
        var hit = tokens.hits.getFirst();
        assertEquals("GET", hit.method());
        assertTrue(hit.query().contains("service=" + TestTokenServer.SERVICE), hit.query());
        assertTrue(hit.query().contains("scope=repository%3Aprivate%2Fbusybox%3Apull"), hit.query());

        pullAll(c, tokenRegistry, "private/other");
        assertEquals(2, tokens.hits.size(), "tokens are cached per scope");
    }

    @Test
    void parallelFetchesShareOneClient() throws Exception {
        var c = client(Map.of());
        var resolved = c.resolve("private/busybox", "1.0", List.of(tokenRegistry.upstream()));
        var blobs = new java.util.ArrayList<>(resolved.image().layers());
        blobs.add(resolved.image().config());
        try (var pool = java.util.concurrent.Executors.newVirtualThreadPerTaskExecutor()) {
            var futures = new java.util.ArrayList<java.util.concurrent.Future<Integer>>();
            for (int i = 0; i < 3; i++) {
                for (Descriptor d : blobs) {
                    futures.add(pool.submit(() -> c.fetchBlobBytes("private/busybox", d,
                            List.of(tokenRegistry.upstream())).length));
                }
            }
            for (int i = 0; i < futures.size(); i++) {
                assertEquals(blobs.get(i % blobs.size()).size(), (long) futures.get(i).get());
            }
        }
        assertEquals(1, tokens.hits.size(), "one token for the scope, shared by all fetches");
    }

    @Test
    void rejectedCachedTokenIsRefreshedOnce() throws Exception {
        tokens.badFirstToken.set(true);
        var c = client(Map.of());
        var r = c.resolve("private/busybox", "1.0", List.of(tokenRegistry.upstream()));
        assertEquals(IMAGE.manifest().digest(), r.manifest().digest());
        assertEquals(2, tokens.hits.size());
    }

    @Test
    void expiredTokenIsFetchedAgain() throws Exception {
        var clock = new MutableClock(Instant.now());
        var c = client(Map.of(), clock);
        c.resolve("private/busybox", "1.0", List.of(tokenRegistry.upstream()));
        c.resolve("private/busybox", "1.0", List.of(tokenRegistry.upstream()));
        assertEquals(1, tokens.hits.size());
        clock.now = clock.now.plusSeconds(tokens.expiresIn + 1);
        c.resolve("private/busybox", "1.0", List.of(tokenRegistry.upstream()));
        assertEquals(2, tokens.hits.size());
    }

    @Test
    void tokenServerGetsBasicCredentials() throws Exception {
        tokens.requireUser = "bob:hunter2";
        pullAll(client(Map.of(tokenRegistry.host(), Credentials.basic("bob", "hunter2"))), tokenRegistry,
                "private/busybox");
        assertTrue(tokens.hits.getFirst().authorization().startsWith("Basic "));

        var e = assertThrows(RegistryException.class, () -> client(Map.of(tokenRegistry.host(),
                Credentials.basic("bob", "nope"))).resolve("private/busybox", "1.0",
                List.of(tokenRegistry.upstream())));
        assertEquals(Kind.UNAUTHORIZED, e.kind());
        assertTrue(e.getMessage().contains("token server") && e.getMessage().contains(tokenRegistry.host())
                && e.getMessage().contains("private/busybox"), e.getMessage());
    }

    @Test
    void identityTokenIsExchangedWithTheOAuth2Post() throws Exception {
        tokens.identityToken = "refresh-me";
        pullAll(client(Map.of(tokenRegistry.host(), new Credentials("", "", "refresh-me", ""))), tokenRegistry,
                "private/busybox");
        assertEquals(1, tokens.hits.size());
        var hit = tokens.hits.getFirst();
        assertEquals("POST", hit.method());
        assertTrue(hit.form().contains("grant_type=refresh_token") && hit.form().contains("refresh_token=refresh-me")
                && hit.form().contains("client_id=bollard"), hit.form());
    }

    @Test
    void identityTokenFallsBackToGetWhenTheTokenServerHasNoOAuth2() throws Exception {
        tokens.noOAuth = true;
        tokens.requireUser = "carol:refresh-me";
        pullAll(client(Map.of(tokenRegistry.host(), new Credentials("carol", "", "refresh-me", ""))), tokenRegistry,
                "private/busybox");
        assertEquals(List.of("POST", "GET"), tokens.hits.stream().map(TestTokenServer.Hit::method).toList());
    }

    @Test
    void registryTokenIsUsedAsIs() throws Exception {
        String token = tokens.issue(List.of("repository:private/busybox:pull"), "ci");
        tokens.hits.clear();
        pullAll(client(Map.of(tokenRegistry.host(), new Credentials("", "", "", token))), tokenRegistry,
                "private/busybox");
        assertTrue(tokens.hits.isEmpty(), tokens.hits.toString());

        var e = assertThrows(RegistryException.class, () -> client(Map.of(tokenRegistry.host(),
                new Credentials("", "", "", token))).resolve("private/other", "1.0",
                List.of(tokenRegistry.upstream())));
        assertEquals(Kind.UNAUTHORIZED, e.kind(), e.getMessage());
        assertTrue(e.getMessage().contains("private/other"), e.getMessage());
    }

    static final class MutableClock extends Clock {
        volatile Instant now;

        MutableClock(Instant now) {
            this.now = now;
        }

        @Override
        public java.time.ZoneId getZone() {
            return ZoneOffset.UTC;
        }

        @Override
        public Clock withZone(java.time.ZoneId zone) {
            return this;
        }

        @Override
        public Instant instant() {
            return now;
        }
    }
}
