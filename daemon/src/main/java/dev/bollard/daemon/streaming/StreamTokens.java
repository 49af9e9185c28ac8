package dev.bollard.daemon.streaming;

import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/** Single-use, unguessable, expiring tokens (default TTL 1 min). Stub until stream-core's version lands. */
public final class StreamTokens {
    private record Entry(StreamRequest request, Instant expires) {}

    private final Duration ttl;
    private final Clock clock;
    private final SecureRandom random = new SecureRandom();
    private final ConcurrentHashMap<String, Entry> entries = new ConcurrentHashMap<>();

    public StreamTokens(Duration ttl, Clock clock) {
        this.ttl = ttl;
        this.clock = clock;
    }

    public String put(StreamRequest r) {
        byte[] bytes = new byte[16];
        random.nextBytes(bytes);
        String token = Base64.getUrlEncoder().withoutPadding().encodeToString(bytes);
        entries.put(token, new Entry(r, clock.instant().plus(ttl)));
        return token;
    }

    public Optional<StreamRequest> take(String token) {
        Entry e = entries.remove(token);
        if (e == null || clock.instant().isAfter(e.expires())) {
            return Optional.empty();
        }
        return Optional.of(e.request());
    }
}
