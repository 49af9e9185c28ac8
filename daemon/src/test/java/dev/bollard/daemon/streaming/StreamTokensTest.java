package dev.bollard.daemon.streaming;

import org.junit.jupiter.api.Test;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class StreamTokensTest {

    /** A clock the test moves by hand. */
    private static final class ManualClock extends Clock {
        Instant now = Instant.parse("2026-01-01T00:00:00Z");

        @Override
        public ZoneId getZone() {
            return ZoneOffset.UTC;
        }

        @Override
        public Clock withZone(ZoneId zone) {
            return this;
        }

        @Override
        public Instant instant() {
            return now;
        }
    }

    private final ManualClock clock = new ManualClock();
    private final StreamTokens tokens = new StreamTokens(Duration.ofMinutes(1), clock);
    private final StreamRequest exec = new StreamRequest.Exec("c1", List.of("sh"), true, true, true, false);

    @Test
    void aTokenIsTakenOnce() {
        String t = tokens.put(exec);
        assertEquals(Optional.of(exec), tokens.take(t));
        assertEquals(Optional.empty(), tokens.take(t), "single use");
    }

    @Test
    void anUnknownTokenIsEmpty() {
        tokens.put(exec);
        assertEquals(Optional.empty(), tokens.take("no-such-token"));
        assertEquals(Optional.empty(), tokens.take(""));
        assertEquals(Optional.empty(), tokens.take(null));
    }

    @Test
    void aTokenExpiresAfterItsTtl() {
        String early = tokens.put(exec);
        clock.now = clock.now.plusSeconds(59);
        String late = tokens.put(new StreamRequest.PortForward("p1", List.of(80)));
        assertTrue(tokens.take(early).isPresent(), "59 s old is still valid");
        String expiring = tokens.put(exec);
        clock.now = clock.now.plusSeconds(60);
        assertEquals(Optional.empty(), tokens.take(expiring), "exactly the TTL old is expired");
        assertEquals(Optional.empty(), tokens.take(late));
    }

    @Test
    void expiredTokensAreForgotten() {
        for (int i = 0; i < 100; i++) {
            tokens.put(exec);
        }
        assertEquals(100, tokens.pending());
        clock.now = clock.now.plus(Duration.ofMinutes(2));
        tokens.put(exec);
        assertEquals(1, tokens.pending(), "a put purges what expired");
    }

    @Test
    void tokensAreUrlSafeUniqueAndAtLeast128Bits() {
        var seen = new HashSet<String>();
        for (int i = 0; i < 1000; i++) {
            String t = tokens.put(exec);
            assertTrue(t.matches("[A-Za-z0-9_-]+"), t);
            assertTrue(t.length() * 6 >= 128, t);
            assertTrue(seen.add(t));
        }
        assertNotEquals(tokens.put(exec), tokens.put(exec));
    }

    @Test
    void theTtlMustBePositive() {
        assertThrows(IllegalArgumentException.class, () -> new StreamTokens(Duration.ZERO, clock));
        assertThrows(IllegalArgumentException.class, () -> new StreamTokens(Duration.ofSeconds(-1), clock));
    }
}
