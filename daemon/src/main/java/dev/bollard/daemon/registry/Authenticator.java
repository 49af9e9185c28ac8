package dev.bollard.daemon.registry;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.bollard.daemon.registry.RegistryException.Kind;

import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;

/**
 * Answers registry challenges: Basic with the host's credentials, Bearer through the token server of docker's
 * token authentication spec (GET realm?service=&scope=, or the OAuth2 POST when an identity token is given).
 * Remembers each host's last challenge so later requests authenticate up front, and caches tokens per realm,
 * service and scope until their {@code expires_in}.
 */
final class Authenticator {

    /** token.md: when expires_in is absent the token lasts 60 seconds. */
    static final Duration DEFAULT_TOKEN_LIFETIME = Duration.ofSeconds(60);
    /** Refresh a little early so a token does not expire in flight. */
    private static final Duration EXPIRY_MARGIN = Duration.ofSeconds(5);
    private static final String CLIENT_ID = "bollard";

    private record TokenKey(String realm, String service, String scopes) {
    }

    private record Token(String value, Instant expires) {
    }

    private final Function<String, Optional<Credentials>> credentials;
    private final Clock clock;
    private final Duration requestTimeout;
    private final String userAgent;
    private final Map<String, Challenge> challenges = new ConcurrentHashMap<>();
    private final Map<TokenKey, Token> tokens = new ConcurrentHashMap<>();

    Authenticator(Function<String, Optional<Credentials>> credentials, Clock clock, Duration requestTimeout,
                  String userAgent) {
        this.credentials = credentials;
        this.clock = clock;
        this.requestTimeout = requestTimeout;
        this.userAgent = userAgent;
    }

    static String pullScope(String repository) {
        return "repository:" + repository + ":pull";
    }

    private Credentials credentialsFor(String host) {
        return credentials.apply(host).orElse(Credentials.ANONYMOUS);
    }

    /** The Authorization header to send up front, when an earlier challenge from this host tells how. */
    Optional<String> preemptive(String host, String repository) {
        Challenge c = challenges.get(host);
        if (c == null) {
            return Optional.empty();
        }
        Credentials creds = credentialsFor(host);
        if (c.scheme().equals("basic")) {
            return creds.hasPassword() ? Optional.of(basic(creds.username(), creds.password())) : Optional.empty();
        }
        if (!creds.registryToken().isEmpty()) {
            return Optional.of("Bearer " + creds.registryToken());
        }
        Token t = tokens.get(key(c, repository));
        return t != null && clock.instant().isBefore(t.expires()) ? Optional.of("Bearer " + t.value())
                : Optional.empty();
    }

    /**
     * The Authorization header to retry a request that got 401 with. A rejected cached token is dropped and
     * fetched again once; a header equal to {@code previous} means the retry cannot help.
     *
     * @throws RegistryException UNAUTHORIZED when there is nothing (else) to try
     */
    String onUnauthorized(HttpClient http, String host, String repository, List<String> wwwAuthenticate,
                          String previous) throws IOException, InterruptedException {
        List<Challenge> all = Challenge.parse(wwwAuthenticate);
        Challenge c = all.stream().filter(x -> x.scheme().equals("bearer")).findFirst()
                .or(() -> all.stream().filter(x -> x.scheme().equals("basic")).findFirst())
                .orElseThrow(() -> new RegistryException(Kind.UNAUTHORIZED, "unauthorized: the registry answered "
                        + "401 without a Basic or Bearer challenge (" + String.join("; ", wwwAuthenticate) + ")",
                        401, List.of(), null));
        challenges.put(host, c);
        Credentials creds = credentialsFor(host);
        if (c.scheme().equals("basic")) {
            if (!creds.hasPassword()) {
                throw new RegistryException(Kind.UNAUTHORIZED, "unauthorized: the registry requires Basic "
                        + "authentication and no credentials are configured for " + host, 401, List.of(), null);
            }
            String header = basic(creds.username(), creds.password());
            if (header.equals(previous)) {
                throw rejected(creds);
            }
            return header;
        }
        if (!creds.registryToken().isEmpty()) {
            String header = "Bearer " + creds.registryToken();
            if (header.equals(previous)) {
                throw new RegistryException(Kind.UNAUTHORIZED, "unauthorized: the registry rejected the "
                        + "configured registry token", 401, List.of(), null);
            }
            return header;
        }
        if (c.param("realm").isEmpty()) {
            throw new RegistryException(Kind.UNAUTHORIZED, "unauthorized: Bearer challenge without a realm", 401,
                    List.of(), null);
        }
        TokenKey key = key(c, repository);
        Token cached = tokens.get(key);
        if (cached != null && clock.instant().isBefore(cached.expires())
                && !("Bearer " + cached.value()).equals(previous)) {
            return "Bearer " + cached.value();
        }
        tokens.remove(key);
        Token fresh = fetchToken(http, key, creds);
        tokens.put(key, fresh);
        String header = "Bearer " + fresh.value();
        if (header.equals(previous)) {
            throw rejected(creds);
        }
        return header;
    }

    private static RegistryException rejected(Credentials creds) {
        return new RegistryException(Kind.UNAUTHORIZED, "unauthorized: the registry rejected the credentials"
                + (creds.username().isEmpty() ? "" : " of user \"" + creds.username() + "\""), 401, List.of(), null);
    }

    private TokenKey key(Challenge c, String repository) {
        // the challenge's scope describes this request; ours covers the whole pull, so ask for both
        var scopes = new TreeSet<String>();
        scopes.add(pullScope(repository));
        for (String s : c.param("scope").split(" ")) {
            if (!s.isBlank()) {
                scopes.add(s);
            }
        }
        return new TokenKey(c.param("realm"), c.param("service"), String.join(" ", scopes));
    }

    private Token fetchToken(HttpClient http, TokenKey key, Credentials creds)
            throws IOException, InterruptedException {
        if (!creds.identityToken().isEmpty()) {
            var form = new StringBuilder("grant_type=refresh_token")
                    .append("&refresh_token=").append(enc(creds.identityToken()))
                    .append("&client_id=").append(CLIENT_ID);
            if (!key.service().isEmpty()) {
                form.append("&service=").append(enc(key.service()));
            }
            form.append("&scope=").append(enc(key.scopes()));
            var post = HttpRequest.newBuilder(URI.create(key.realm())).timeout(requestTimeout)
                    .header("User-Agent", userAgent)
                    .header("Content-Type", "application/x-www-form-urlencoded")
                    .POST(HttpRequest.BodyPublishers.ofString(form.toString())).build();
            HttpResponse<byte[]> r = send(http, post, key);
            // oauth.md: a token server without OAuth2 answers 404 (or 405) to the POST; fall back to GET
            if (r.statusCode() != 404 && r.statusCode() != 405) {
                return parseToken(r, key);
            }
        }
        var query = new StringBuilder();
        if (!key.service().isEmpty()) {
            query.append("service=").append(enc(key.service()));
        }
        for (String s : key.scopes().split(" ")) {
            query.append(query.isEmpty() ? "" : "&").append("scope=").append(enc(s));
        }
        String realm = key.realm();
        var get = HttpRequest.newBuilder(URI.create(realm + (realm.contains("?") ? "&" : "?") + query))
                .timeout(requestTimeout).header("User-Agent", userAgent).GET();
        if (creds.hasPassword()) {
            get.header("Authorization", basic(creds.username(), creds.password()));
        } else if (!creds.identityToken().isEmpty() && !creds.username().isEmpty()) {
            get.header("Authorization", basic(creds.username(), creds.identityToken()));
        }
        return parseToken(send(http, get.build(), key), key);
    }

    private static HttpResponse<byte[]> send(HttpClient http, HttpRequest request, TokenKey key)
            throws IOException, InterruptedException {
        try {
            return http.send(request, HttpResponse.BodyHandlers.ofByteArray());
        } catch (IOException e) {
            throw new RegistryException(Kind.AUTH_FAILED, "token server " + key.realm() + " unreachable: " + e, e);
        }
    }

    private Token parseToken(HttpResponse<byte[]> r, TokenKey key) throws RegistryException {
        if (r.statusCode() == 401 || r.statusCode() == 403) {
            throw new RegistryException(r.statusCode() == 401 ? Kind.UNAUTHORIZED : Kind.DENIED,
                    "unauthorized: token server " + key.realm() + " refused a token for scope \"" + key.scopes()
                            + "\" (HTTP " + r.statusCode() + ")", r.statusCode(), List.of(), null);
        }
        if (r.statusCode() != 200) {
            throw new RegistryException(Kind.AUTH_FAILED, "token server " + key.realm() + " answered HTTP "
                    + r.statusCode(), r.statusCode(), List.of(), null);
        }
        JsonObject o;
        try {
            o = JsonParser.parseString(new String(r.body(), StandardCharsets.UTF_8)).getAsJsonObject();
        } catch (RuntimeException e) {
            throw new RegistryException(Kind.AUTH_FAILED, "token server " + key.realm() + " answered no JSON object",
                    e);
        }
        String token = text(o, "token");
        if (token.isEmpty()) {
            token = text(o, "access_token");
        }
        if (token.isEmpty()) {
            throw new RegistryException(Kind.AUTH_FAILED, "token server " + key.realm() + " answered without a token");
        }
        Duration lifetime = DEFAULT_TOKEN_LIFETIME;
        try {
            long s = o.has("expires_in") ? o.get("expires_in").getAsLong() : 0;
            // token.md: a lifetime under 60 s is taken as 60 s
            lifetime = Duration.ofSeconds(Math.max(s, DEFAULT_TOKEN_LIFETIME.toSeconds()));
        } catch (RuntimeException ignored) {
            // keep the default
        }
        Instant issued = clock.instant();
        String issuedAt = text(o, "issued_at");
        if (!issuedAt.isEmpty()) {
            try {
                Instant i = Instant.parse(issuedAt);
                // trust the server's issue time unless its clock is ahead of ours
                if (i.isBefore(issued)) {
                    issued = i;
                }
            } catch (DateTimeParseException ignored) {
                // keep the local time
            }
        }
        return new Token(token, issued.plus(lifetime).minus(EXPIRY_MARGIN));
    }

    private static String text(JsonObject o, String k) {
        JsonElement e = o.get(k);
        return e != null && e.isJsonPrimitive() ? e.getAsString() : "";
    }

    static String basic(String user, String password) {
        return "Basic " + Base64.getEncoder().encodeToString((user + ":" + password).getBytes(StandardCharsets.UTF_8));
    }

    private static String enc(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8);
    }

    /** For tests: the number of cached tokens. */
    int cachedTokens() {
        return tokens.size();
    }
}
