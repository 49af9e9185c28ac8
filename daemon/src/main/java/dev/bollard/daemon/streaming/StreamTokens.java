package dev.bollard.daemon.streaming;

import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.Iterator;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/** Single-use, unguessable, expiring tokens (default TTL 1 min). */
public final class StreamTokens {
    public static final Duration DEFAULT_TTL = Duration.ofMinutes(1);
    private static final int TOKEN_BYTES = 24; // 192 bits, well above the 128 the URL needs to be unguessable

    private record Entry(StreamRequest request, Instant expiresAt) {}

    private final Duration ttl;
    private final Clock clock;
    private final SecureRandom random = new SecureRandom();
    private final Map<String, Entry> entries = new ConcurrentHashMap<>();

    public StreamTokens(Duration ttl, Clock clock) {
        if (ttl.isNegative() || ttl.isZero()) {
            throw new IllegalArgumentException("stream token TTL must be positive, got " + ttl);
        }
        this.ttl = ttl;
        this.clock = Objects.requireNonNull(clock);
    }

    /** Returns a URL-safe random token for the request. */
    public String put(StreamRequest r) {
        Objects.requireNonNull(r);
        Instant now = clock.instant();
        // Purging on put bounds the map by the requests of one TTL, with no timer thread.
        purgeExpired(now);
        byte[] bytes = new byte[TOKEN_BYTES];
        while (true) {
            random.nextBytes(bytes);
            String token = Base64.getUrlEncoder().withoutPadding().encodeToString(bytes);
            if (entries.putIfAbsent(token, new Entry(r, now.plus(ttl))) == null) {
                return token;
            }
        }
    }

    /** Removes the token; empty when it is unknown, expired or already used. */
    public Optional<StreamRequest> take(String token) {
        if (token == null) {
            return Optional.empty();
        }
        Entry e = entries.remove(token);
        if (e == null || !clock.instant().isBefore(e.expiresAt())) {
            return Optional.empty();
        }
        return Optional.of(e.request());
    }

    /** Tokens not yet used nor expired (for tests and diagnostics). */
    public int pending() {
        purgeExpired(clock.instant());
        return entries.size();
    }

    private void purgeExpired(Instant now) {
        for (Iterator<Entry> it = entries.values().iterator(); it.hasNext(); ) {
            if (!now.isBefore(it.next().expiresAt())) {
                it.remove();
            }
        }
    }
}
