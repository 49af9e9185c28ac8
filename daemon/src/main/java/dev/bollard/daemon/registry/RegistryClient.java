package dev.bollard.daemon.registry;

import com.google.gson.JsonElement;
import com.google.gson.JsonParser;
import dev.bollard.daemon.BollardVersion;
import dev.bollard.daemon.content.Digest;
import dev.bollard.daemon.registry.RegistryException.Kind;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.SeekableByteChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;
import java.util.function.LongSupplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Pulls manifests and blobs over the OCI distribution API, trying a repository's endpoints (mirrors, then the
 * upstream) in order. Every request authenticates as the registry asks (anonymous, Basic, Bearer token), retries
 * transport failures, 5xx and 429 with exponential backoff, and fails when no byte arrives for the progress
 * timeout; a broken blob transfer continues with a Range request. Everything served is verified against its
 * digest and size before the caller gets it.
 *
 * <p>Blocking by design: call it on a virtual thread. Thread-safe; one instance serves the whole daemon so that
 * tokens are shared.
 */
public final class RegistryClient {

    /** Manifests and indexes above this size are refused (containerd uses the same limit). */
    public static final int MAX_MANIFEST_BYTES = 4 << 20;
    /** A transfer that keeps making progress is resumed at most this many times, whatever the attempt budget. */
    static final int MAX_ATTEMPTS_WITH_PROGRESS = 100;
    private static final int MAX_REDIRECTS = 10;
    private static final int MAX_INDEX_DEPTH = 4;
    private static final int ERROR_BODY_LIMIT = 64 << 10;

    private static final Pattern PATH_COMPONENT = Pattern.compile("[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*");
    private static final Pattern TAG = Pattern.compile("[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}");
    private static final Pattern CONTENT_RANGE = Pattern.compile("bytes (\\d+)-(\\d+)/(\\d+|\\*)");

    /** Sleeps between retries; tests pass one that records instead of sleeping. */
    @FunctionalInterface
    public interface Sleeper {
        void sleep(Duration d) throws InterruptedException;
    }

    /**
     * @param platform        the platform picked from an index
     * @param progressTimeout a request fails when no response header or body byte arrives for this long
     * @param maxAttempts     attempts per endpoint for a retryable failure (1 = no retry); an attempt that moved
     *                        bytes does not use up the budget
     * @param initialBackoff  the wait before the first retry; it doubles up to {@code maxBackoff}
     */
    public record Options(Platform platform, Duration progressTimeout, int maxAttempts, Duration initialBackoff,
                          Duration maxBackoff, Sleeper sleeper, Clock clock, String userAgent) {

        public Options {
            if (maxAttempts < 1) {
                throw new IllegalArgumentException("maxAttempts must be at least 1");
            }
        }

        public static Options defaults() {
            return new Options(Platform.node(), Duration.ofSeconds(60), 4, Duration.ofMillis(500),
                    Duration.ofSeconds(8), d -> Thread.sleep(d), Clock.systemUTC(),
                    BollardVersion.RUNTIME_NAME + "/" + BollardVersion.version());
        }

        public Options withPlatform(Platform p) {
            return new Options(p, progressTimeout, maxAttempts, initialBackoff, maxBackoff, sleeper, clock,
                    userAgent);
        }

        public Options withProgressTimeout(Duration d) {
            return new Options(platform, d, maxAttempts, initialBackoff, maxBackoff, sleeper, clock, userAgent);
        }

        public Options withRetries(int attempts, Duration initial, Duration max, Sleeper s) {
            return new Options(platform, progressTimeout, attempts, initial, max, s, clock, userAgent);
        }

        public Options withClock(Clock c) {
            return new Options(platform, progressTimeout, maxAttempts, initialBackoff, maxBackoff, sleeper, c,
                    userAgent);
        }
    }

    private final Function<RegistryEndpoint.Tls, HttpClient> clients;
    private final Options options;
    private final Authenticator auth;

    /**
     * @param clients     the HTTP client for an endpoint's TLS settings; it should not follow redirects itself
     *                    (this class follows them and drops the Authorization header on a change of host)
     * @param credentials credentials by registry host ({@code host[:port]} of the endpoint's API root)
     */
    public RegistryClient(Function<RegistryEndpoint.Tls, HttpClient> clients,
                          Function<String, Optional<Credentials>> credentials, Options options) {
        this.clients = clients;
        this.options = options;
        this.auth = new Authenticator(credentials, options.clock(), options.progressTimeout(), options.userAgent());
    }

    // ---------------------------------------------------------------------------------------------- manifests

    /**
     * Resolves a tag or digest to the node's image manifest, following an index to the platform entry.
     *
     * @param repository the repository path on the registry, e.g. {@code library/busybox}
     * @param reference  a tag ({@code 1.36}) or a digest ({@code sha256:…})
     */
    public ResolvedImage resolve(String repository, String reference, List<RegistryEndpoint> endpoints)
            throws IOException, InterruptedException {
        Fetched top = fetch(repository, reference, endpoints, Optional.empty(), -1);
        var indexes = new ArrayList<ManifestBytes>();
        Fetched current = top;
        while (current.parsed() instanceof Manifest.Index index) {
            indexes.add(current.bytes());
            if (indexes.size() > MAX_INDEX_DEPTH) {
                throw new RegistryException(Kind.INVALID_MANIFEST, where(repository, reference)
                        + ": indexes nested deeper than " + MAX_INDEX_DEPTH);
            }
            Descriptor chosen;
            try {
                chosen = Manifests.selectPlatform(index, options.platform());
            } catch (RegistryException e) {
                throw e.withContext(where(repository, reference));
            }
            current = fetch(repository, chosen.digest().toString(), endpoints, Optional.of(chosen.digest()),
                    chosen.size());
        }
        return new ResolvedImage(top.bytes(), indexes, current.bytes(), (Manifest.Image) current.parsed());
    }

    /** Fetches and verifies one manifest or index without following it. */
    public ManifestBytes fetchManifest(String repository, String reference, List<RegistryEndpoint> endpoints)
            throws IOException, InterruptedException {
        return fetch(repository, reference, endpoints, Optional.empty(), -1).bytes();
    }

    private record Fetched(ManifestBytes bytes, Manifest parsed) {
    }

    private Fetched fetch(String repository, String reference, List<RegistryEndpoint> endpoints,
                          Optional<Digest> knownDigest, long knownSize) throws IOException, InterruptedException {
        checkRepository(repository);
        Optional<Digest> expected = knownDigest.isPresent() ? knownDigest : parseReference(reference);
        // containerd: only endpoints with "resolve" may turn a tag into a digest; content by digest needs "pull"
        boolean byDigest = expected.isPresent();
        List<RegistryEndpoint> usable = endpoints.stream()
                .filter(byDigest ? RegistryEndpoint::canPull : RegistryEndpoint::canResolve).toList();
        String what = where(repository, reference);
        return acrossEndpoints(usable, what, byDigest ? "pull" : "resolve", ep -> retrying(
                () -> fetchOnce(ep, repository, reference, expected, knownSize), () -> 0));
    }

    private Fetched fetchOnce(RegistryEndpoint ep, String repository, String reference, Optional<Digest> expected,
                              long knownSize) throws IOException, InterruptedException {
        URI uri = URI.create(ep.apiRoot() + "/" + repository + "/manifests/" + reference);
        HttpResponse<StreamingBody> r = get(ep, repository, uri,
                Map.of("Accept", String.join(", ", MediaTypes.MANIFEST_ACCEPT)));
        if (r.statusCode() != 200) {
            throw statusError(r, "manifest " + reference);
        }
        long length = r.headers().firstValueAsLong("Content-Length").orElse(-1);
        if (length > MAX_MANIFEST_BYTES) {
            r.body().close();
            throw tooLarge(length + " bytes");
        }
        byte[] bytes;
        try {
            bytes = readBody(r.body(), MAX_MANIFEST_BYTES + 1);
        } finally {
            r.body().close();
        }
        if (bytes.length > MAX_MANIFEST_BYTES) {
            throw tooLarge("more than " + MAX_MANIFEST_BYTES + " bytes");
        }
        if (knownSize >= 0 && bytes.length != knownSize) {
            throw new RegistryException(Kind.SIZE_MISMATCH, "manifest " + reference + " has " + bytes.length
                    + " bytes, its descriptor says " + knownSize);
        }
        Digest digest = expected.orElseGet(() -> r.headers().firstValue("Docker-Content-Digest")
                .flatMap(RegistryClient::tryDigest).orElse(null));
        Digest actual;
        if (digest == null) {
            actual = Digest.sha256(bytes);
        } else {
            actual = new Digest(digest.algorithm(),
                    java.util.HexFormat.of().formatHex(digest.newHasher().digest(bytes)));
            if (!actual.equals(digest)) {
                throw new RegistryException(Kind.DIGEST_MISMATCH, "manifest " + reference + " has digest " + actual
                        + ", expected " + digest + (expected.isPresent() ? "" : " (Docker-Content-Digest)"));
            }
        }
        Manifest parsed = Manifests.parse(r.headers().firstValue("Content-Type").orElse(""), bytes);
        return new Fetched(new ManifestBytes(actual, parsed.mediaType(), bytes, ep), parsed);
    }

    private static RegistryException tooLarge(String size) {
        return new RegistryException(Kind.TOO_LARGE, "manifest too large: " + size + ", the limit is "
                + MAX_MANIFEST_BYTES + " bytes (4 MiB)");
    }

    private static Optional<Digest> tryDigest(String s) {
        try {
            return Optional.of(Digest.parse(s.trim()));
        } catch (IllegalArgumentException e) {
            return Optional.empty();
        }
    }

    // -------------------------------------------------------------------------------------------------- blobs

    public BlobFetch fetchBlob(String repository, Descriptor blob, List<RegistryEndpoint> endpoints,
                               BlobTarget target) throws IOException, InterruptedException {
        return fetchBlob(repository, blob.digest(), blob.size(), endpoints, target);
    }

    /** A small blob (an image config) into memory, verified. */
    public byte[] fetchBlobBytes(String repository, Descriptor blob, List<RegistryEndpoint> endpoints)
            throws IOException, InterruptedException {
        if (blob.size() > MAX_MANIFEST_BYTES) {
            throw new RegistryException(Kind.TOO_LARGE, where(repository, blob.digest().toString())
                    + ": blob of " + blob.size() + " bytes is too large to hold in memory");
        }
        var out = new ByteArrayOutputStream((int) blob.size());
        fetchBlob(repository, blob, endpoints, BlobTarget.of(Channels.newChannel(out)));
        return out.toByteArray();
    }

    /**
     * Streams blob {@code digest} of {@code size} bytes into the target, verifying both. A broken connection
     * continues with {@code Range: bytes=N-}; a server that ignores the range has its first N bytes skipped.
     * On a digest or size mismatch the next endpoint starts over when the target's channel is seekable.
     *
     * @throws IOException a failure of the target's channel, unchanged and not retried
     */
    public BlobFetch fetchBlob(String repository, Digest digest, long size, List<RegistryEndpoint> endpoints,
                               BlobTarget target) throws IOException, InterruptedException {
        checkRepository(repository);
        if (size < 0) {
            throw new IllegalArgumentException("negative blob size " + size);
        }
        if (target.offset() > size) {
            throw new IllegalArgumentException("offset " + target.offset() + " beyond the blob's size " + size);
        }
        var st = new BlobState(target, digest);
        String what = where(repository, digest.toString());
        if (target.offset() == size) {
            st.verify(size);
            return new BlobFetch(endpoints.isEmpty() ? null : endpoints.getFirst(), size, 0);
        }
        List<RegistryEndpoint> usable = endpoints.stream().filter(RegistryEndpoint::canPull).toList();
        try {
            return acrossEndpoints(usable, what, "pull", ep -> {
                try {
                    retrying(() -> {
                        blobOnce(ep, repository, digest, size, st);
                        return null;
                    }, () -> st.written);
                    return new BlobFetch(ep, size, st.resumes);
                } catch (RegistryException e) {
                    if ((e.kind() == Kind.DIGEST_MISMATCH || e.kind() == Kind.SIZE_MISMATCH) && !st.rewind()) {
                        // the bad bytes are in a channel that cannot be rewound: no other endpoint can help
                        throw new Abort(e.withContext(describe(ep) + ": " + what));
                    }
                    throw e;
                }
            });
        } catch (Abort a) {
            throw a.getCause();
        }
    }

    /** Bytes held so far and the hash over them, across attempts and endpoints. */
    private static final class BlobState {
        final BlobTarget target;
        final Digest digest;
        final MessageDigest startHash;
        MessageDigest hasher;
        long written;
        int requests;
        int resumes;

        BlobState(BlobTarget target, Digest digest) {
            this.target = target;
            this.digest = digest;
            this.startHash = target.prefixHash().orElseGet(digest::newHasher);
            this.hasher = copy(startHash);
            this.written = target.offset();
        }

        static MessageDigest copy(MessageDigest m) {
            try {
                return (MessageDigest) m.clone();
            } catch (CloneNotSupportedException e) {
                throw new IllegalStateException(e);
            }
        }

        void verify(long size) throws RegistryException {
            Digest actual = new Digest(digest.algorithm(), java.util.HexFormat.of().formatHex(hasher.digest()));
            if (!actual.equals(digest)) {
                throw new RegistryException(Kind.DIGEST_MISMATCH, "blob content has digest " + actual
                        + ", expected " + digest + " (" + size + " bytes)");
            }
        }

        /** Back to the target's start so the next endpoint can serve the whole blob again; false if impossible. */
        boolean rewind() {
            if (!(target.channel() instanceof SeekableByteChannel ch)) {
                return false;
            }
            try {
                ch.truncate(target.offset());
                ch.position(target.offset());
            } catch (IOException e) {
                throw new Abort(e);
            }
            hasher = copy(startHash);
            written = target.offset();
            target.progress().accept(written);
            return true;
        }
    }

    /** Stops all retries and fallbacks: the caller's channel failed or cannot be rewound. */
    private static final class Abort extends RuntimeException {
        Abort(IOException cause) {
            super(cause);
        }

        @Override
        public synchronized IOException getCause() {
            return (IOException) super.getCause();
        }
    }

    private void blobOnce(RegistryEndpoint ep, String repository, Digest digest, long size, BlobState st)
            throws IOException, InterruptedException {
        URI uri = URI.create(ep.apiRoot() + "/" + repository + "/blobs/" + digest);
        Map<String, String> headers = new LinkedHashMap<>();
        long from = st.written;
        if (from > 0) {
            headers.put("Range", "bytes=" + from + "-");
        }
        if (st.requests++ > 0 && from > st.target.offset()) {
            st.resumes++;
        }
        HttpResponse<StreamingBody> r = get(ep, repository, uri, headers);
        long skip = 0;
        if (r.statusCode() == 206) {
            String range = r.headers().firstValue("Content-Range").orElse("");
            Matcher m = CONTENT_RANGE.matcher(range);
            if (!m.matches() || Long.parseLong(m.group(1)) != from) {
                r.body().close();
                throw new RegistryException(Kind.UNEXPECTED_STATUS, "blob " + digest + ": asked for bytes from "
                        + from + ", got Content-Range \"" + range + "\"", 206, List.of(), null);
            }
        } else if (r.statusCode() == 200) {
            skip = from; // the server ignored the Range header: drop what is held already
            long length = r.headers().firstValueAsLong("Content-Length").orElse(-1);
            if (length >= 0 && length != size) {
                r.body().close();
                throw new RegistryException(Kind.SIZE_MISMATCH, "blob " + digest + " is served with " + length
                        + " bytes, its descriptor says " + size);
            }
        } else {
            throw statusError(r, "blob " + digest);
        }
        StreamingBody body = r.body();
        try {
            ByteBuffer b;
            while ((b = body.next(options.progressTimeout())) != null) {
                if (skip > 0) {
                    int n = (int) Math.min(skip, b.remaining());
                    b.position(b.position() + n);
                    skip -= n;
                    if (!b.hasRemaining()) {
                        continue;
                    }
                }
                int n = b.remaining();
                if (st.written + n > size) {
                    body.close();
                    throw new RegistryException(Kind.SIZE_MISMATCH, "blob " + digest + " is longer than the "
                            + size + " bytes its descriptor says");
                }
                st.hasher.update(b.duplicate());
                write(st.target.channel(), b);
                st.written += n;
                st.target.progress().accept(st.written);
            }
        } catch (StreamingBody.StalledException e) {
            throw new RegistryException(Kind.PROGRESS_TIMEOUT, "blob " + digest + ": no data for "
                    + options.progressTimeout().toMillis() + " ms at byte " + st.written + " of " + size, e);
        } finally {
            body.close();
        }
        if (st.written < size) {
            throw new IOException("blob " + digest + ": connection ended at byte " + st.written + " of " + size);
        }
        st.verify(size);
    }

    private static void write(WritableByteChannel ch, ByteBuffer b) {
        try {
            while (b.hasRemaining()) {
                ch.write(b);
            }
        } catch (IOException e) {
            throw new Abort(e);
        }
    }

    // ------------------------------------------------------------------------------------------------- HTTP

    /**
     * One GET with authentication and redirects. Answers 401 by authenticating (at most twice: the second time
     * with a fresh token); follows 3xx, sending Authorization and the endpoint's headers only to its own host.
     */
    private HttpResponse<StreamingBody> get(RegistryEndpoint ep, String repository, URI uri,
                                            Map<String, String> headers) throws IOException, InterruptedException {
        HttpClient http = clients.apply(ep.tls());
        String host = host(ep);
        String authorization = auth.preemptive(host, repository).orElse(null);
        int authRetries = 0;
        int redirects = 0;
        URI target = uri;
        while (true) {
            boolean sameHost = sameOrigin(uri, target);
            var b = HttpRequest.newBuilder(target).timeout(options.progressTimeout()).GET()
                    .header("User-Agent", options.userAgent());
            headers.forEach(b::header);
            if (sameHost) {
                ep.headers().forEach((k, vs) -> vs.forEach(v -> {
                    try {
                        b.header(k, v);
                    } catch (IllegalArgumentException restricted) {
                        // Host, Connection, ...: the JDK sets these itself
                    }
                }));
                if (authorization != null) {
                    b.header("Authorization", authorization);
                }
            }
            HttpResponse<StreamingBody> r;
            try {
                r = http.send(b.build(), StreamingBody.handler());
            } catch (HttpConnectTimeoutException e) {
                throw e;
            } catch (HttpTimeoutException e) {
                throw new RegistryException(Kind.PROGRESS_TIMEOUT, "no response within "
                        + options.progressTimeout().toMillis() + " ms", e);
            }
            int s = r.statusCode();
            if (s == 401 && sameHost && authRetries < 2) {
                r.body().close();
                authorization = auth.onUnauthorized(http, host, repository,
                        r.headers().allValues("WWW-Authenticate"), authorization);
                authRetries++;
                continue;
            }
            if ((s == 301 || s == 302 || s == 303 || s == 307 || s == 308)
                    && r.headers().firstValue("Location").isPresent()) {
                r.body().close();
                if (++redirects > MAX_REDIRECTS) {
                    throw new RegistryException(Kind.UNEXPECTED_STATUS, "more than " + MAX_REDIRECTS
                            + " redirects", s, List.of(), null);
                }
                target = target.resolve(r.headers().firstValue("Location").get());
                continue;
            }
            return r;
        }
    }

    private static boolean sameOrigin(URI a, URI b) {
        return a.getScheme().equalsIgnoreCase(b.getScheme()) && a.getHost().equalsIgnoreCase(b.getHost())
                && a.getPort() == b.getPort();
    }

    private byte[] readBody(StreamingBody body, int limit) throws IOException, InterruptedException {
        try {
            return body.readAtMost(limit, options.progressTimeout());
        } catch (StreamingBody.StalledException e) {
            throw new RegistryException(Kind.PROGRESS_TIMEOUT, "no data for " + options.progressTimeout().toMillis()
                    + " ms", e);
        }
    }

    /** The error of a non-success response, with the distribution-spec error codes of its JSON body. */
    private RegistryException statusError(HttpResponse<StreamingBody> r, String what) {
        int s = r.statusCode();
        byte[] body;
        try {
            body = r.body().readAtMost(ERROR_BODY_LIMIT, options.progressTimeout());
        } catch (IOException e) {
            body = new byte[0];
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            body = new byte[0];
        }
        var codes = new ArrayList<String>();
        var details = new ArrayList<String>();
        try {
            JsonElement root = JsonParser.parseString(new String(body, StandardCharsets.UTF_8));
            if (root.isJsonObject() && root.getAsJsonObject().has("errors")) {
                for (JsonElement e : root.getAsJsonObject().getAsJsonArray("errors")) {
                    var o = e.getAsJsonObject();
                    String code = o.has("code") ? o.get("code").getAsString() : "";
                    String message = o.has("message") && o.get("message").isJsonPrimitive()
                            ? o.get("message").getAsString() : "";
                    codes.add(code);
                    details.add(code + (message.isEmpty() ? "" : ": " + message));
                }
            }
        } catch (RuntimeException ignored) {
            // not the JSON error body of the spec
        }
        Kind kind;
        String phrase;
        if (s == 401) {
            kind = Kind.UNAUTHORIZED;
            phrase = "unauthorized";
        } else if (s == 403) {
            kind = Kind.DENIED;
            phrase = "access denied";
        } else if (s == 404 || codes.contains("MANIFEST_UNKNOWN") || codes.contains("NAME_UNKNOWN")
                || codes.contains("BLOB_UNKNOWN")) {
            kind = Kind.NOT_FOUND;
            phrase = codes.contains("NAME_UNKNOWN") ? "repository not found"
                    : codes.contains("MANIFEST_UNKNOWN") ? "manifest not found"
                    : codes.contains("BLOB_UNKNOWN") ? "blob not found" : "not found";
        } else if (s == 429 || s >= 500) {
            kind = Kind.SERVER_ERROR;
            phrase = s == 429 ? "too many requests" : "server error";
        } else {
            kind = Kind.UNEXPECTED_STATUS;
            phrase = "unexpected response";
        }
        String detail = details.isEmpty() ? "" : "; " + String.join("; ", details);
        var e = new RegistryException(kind, what + ": " + phrase + " (HTTP " + s + detail + ")", s, codes, null);
        // Retry-After in seconds; the HTTP-date form is rare from registries and falls back to the backoff
        r.headers().firstValue("Retry-After").filter(v -> v.trim().matches("\\d{1,6}"))
                .ifPresent(v -> e.withRetryAfter(Duration.ofSeconds(Long.parseLong(v.trim()))));
        return e;
    }

    // ----------------------------------------------------------------------------------- retries and fallback

    @FunctionalInterface
    private interface Call<T> {
        T run() throws IOException, InterruptedException;
    }

    @FunctionalInterface
    private interface EndpointCall<T> {
        T run(RegistryEndpoint ep) throws IOException, InterruptedException;
    }

    private static boolean retryable(IOException e) {
        if (e instanceof RegistryException r) {
            return r.kind() == Kind.SERVER_ERROR || r.kind() == Kind.PROGRESS_TIMEOUT || r.kind() == Kind.TRANSPORT;
        }
        // nothing listens there, it cannot be reached, or its certificate is not trusted: the next endpoint
        return !(e instanceof ConnectException) && !(e instanceof HttpConnectTimeoutException)
                && !(e instanceof javax.net.ssl.SSLHandshakeException);
    }

    /** Runs {@code call} until it succeeds, fails for good, or uses up the attempts. */
    private <T> T retrying(Call<T> call, LongSupplier progress) throws IOException, InterruptedException {
        int failures = 0;
        int total = 0;
        while (true) {
            long before = progress.getAsLong();
            try {
                return call.run();
            } catch (IOException e) {
                if (!retryable(e)) {
                    throw e;
                }
                if (progress.getAsLong() > before) {
                    failures = 0; // a moving transfer keeps its budget
                }
                failures++;
                total++;
                if (failures >= options.maxAttempts() || total >= MAX_ATTEMPTS_WITH_PROGRESS) {
                    throw e;
                }
                Duration wait = backoff(failures);
                if (e instanceof RegistryException r && r.retryAfter().isPresent()) {
                    // honour the server's wish, but never wait longer than the longest backoff
                    Duration asked = r.retryAfter().get();
                    wait = asked.compareTo(options.maxBackoff()) > 0 ? options.maxBackoff()
                            : asked.compareTo(wait) > 0 ? asked : wait;
                }
                options.sleeper().sleep(wait);
            }
        }
    }

    Duration backoff(int failures) {
        Duration d = options.initialBackoff();
        for (int i = 1; i < failures && d.compareTo(options.maxBackoff()) < 0; i++) {
            d = d.multipliedBy(2);
        }
        return d.compareTo(options.maxBackoff()) > 0 ? options.maxBackoff() : d;
    }

    /**
     * Tries the endpoints in order; the error of the last one is thrown, naming the others that failed before it.
     */
    private <T> T acrossEndpoints(List<RegistryEndpoint> endpoints, String what, String capability,
                                  EndpointCall<T> call) throws IOException, InterruptedException {
        if (endpoints.isEmpty()) {
            throw new RegistryException(Kind.NO_ENDPOINT, what + ": no configured endpoint may " + capability);
        }
        var failures = new ArrayList<RegistryException>();
        for (RegistryEndpoint ep : endpoints) {
            try {
                return call.run(ep);
            } catch (RegistryException e) {
                failures.add(e.withContext(describe(ep) + ": " + what));
            } catch (IOException e) {
                failures.add(new RegistryException(Kind.TRANSPORT, describe(ep) + ": " + what + ": " + e, e));
            }
        }
        RegistryException last = failures.getLast();
        if (failures.size() == 1) {
            throw last;
        }
        var also = new StringBuilder();
        for (RegistryException e : failures.subList(0, failures.size() - 1)) {
            also.append(also.isEmpty() ? "" : "; ").append(e.getMessage());
        }
        var e = new RegistryException(last.kind(), last.getMessage() + " [also tried: " + also + "]",
                last.status(), last.errorCodes(), last.getCause());
        failures.subList(0, failures.size() - 1).forEach(e::addSuppressed);
        throw e;
    }

    private static String describe(RegistryEndpoint ep) {
        return (ep.upstream() ? (ep.mirror() ? "upstream server " : "registry ") : ep.mirror() ? "mirror " : "registry ")
                + host(ep);
    }

    private static String host(RegistryEndpoint ep) {
        return ep.apiRoot().getAuthority();
    }

    private static String where(String repository, String reference) {
        return "repository " + repository + (reference.contains(":") ? "@" : ":") + reference;
    }

    // ------------------------------------------------------------------------------------------- validation

    static void checkRepository(String repository) {
        if (repository.isEmpty() || repository.length() > 255) {
            throw new IllegalArgumentException("invalid repository name \"" + repository + "\"");
        }
        for (String c : repository.split("/", -1)) {
            if (!PATH_COMPONENT.matcher(c).matches()) {
                throw new IllegalArgumentException("invalid repository name \"" + repository + "\"");
            }
        }
    }

    /** The digest a reference names, empty for a tag. */
    static Optional<Digest> parseReference(String reference) {
        if (reference.contains(":")) {
            return Optional.of(Digest.parse(reference));
        }
        if (!TAG.matcher(reference).matches()) {
            throw new IllegalArgumentException("invalid tag \"" + reference + "\"");
        }
        return Optional.empty();
    }
}
