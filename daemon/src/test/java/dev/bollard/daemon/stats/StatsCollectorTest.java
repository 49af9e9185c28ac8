package dev.bollard.daemon.stats;

import com.google.gson.JsonObject;
import dev.bollard.api.cri.v1.ContainerConfig;
import dev.bollard.api.cri.v1.ContainerMetadata;
import dev.bollard.daemon.container.Container;
import dev.bollard.daemon.container.ContainerRecord;
import dev.bollard.daemon.container.ContainerState;
import dev.bollard.daemon.container.ContainerStore;
import dev.bollard.daemon.sandbox.SandboxStore;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.LongUnaryOperator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

/** Readings on demand: at most one per interval, a rate between two readings, nothing kept for what is gone. */
class StatsCollectorTest {

    @TempDir
    Path root;

    /** A guest pod whose every read is counted; read n uses n seconds of CPU at monotonic time {@code mono(n)}. */
    private static final class CountingGuest implements StatsCollector.GuestSource {
        final AtomicInteger reads = new AtomicInteger();
        final LongUnaryOperator mono;

        CountingGuest(LongUnaryOperator mono) {
            this.mono = mono;
        }

        @Override
        public boolean isGuest(String podId) {
            return true;
        }

        @Override
        public Optional<CgroupSample> read(String podId, String taskId) {
            int n = reads.incrementAndGet();
            return Optional.of(new CgroupSample(CgroupSample.epochNanos(), mono.applyAsLong(n), n * 1_000_000_000L,
                    4096, -1, 0, 4096, -1, -1, 1, -1, -1, null, null, null));
        }
    }

    private static Container running(String id) {
        var config = ContainerConfig.newBuilder().setMetadata(ContainerMetadata.newBuilder().setName(id)).build();
        var record = ContainerRecord.builder().id(id).sandboxId("pod1").name(id + "_pod").config(new JsonObject())
                .state(ContainerState.RUNNING).build();
        return new Container(record, config, new JsonObject(), null, "SIGTERM");
    }

    private StatsCollector collector(Duration interval) throws Exception {
        return new StatsCollector(root, new ContainerStore(Files.createDirectories(root.resolve("c"))),
                new SandboxStore(Files.createDirectories(root.resolve("p"))), interval);
    }

    @Test
    void callsWithinTheIntervalShareOneReadingAndNothingIsReadBetweenCalls() throws Exception {
        var guest = new CountingGuest(n -> System.nanoTime());
        try (var stats = collector(Duration.ofHours(1))) {
            stats.guestSource(guest);
            var c = running("c1");
            var first = stats.containerStats(c);
            var second = stats.containerStats(c);
            assertEquals(1, guest.reads.get(), "one reading for both calls");
            assertEquals(first.getCpu(), second.getCpu());
            assertFalse(first.getCpu().hasUsageNanoCores(), "no rate from a single reading");
        }
    }

    @Test
    void nothingIsReadBetweenCallsHoweverShortTheInterval() throws Exception {
        var guest = new CountingGuest(n -> System.nanoTime());
        var store = new ContainerStore(Files.createDirectories(root.resolve("c")));
        var c = running("c1");
        store.insert(c);
        try (var stats = new StatsCollector(root, store, new SandboxStore(Files.createDirectories(root.resolve("p"))),
                Duration.ofMillis(5))) {
            stats.guestSource(guest);
            stats.containerStats(c);
            Thread.sleep(300); // sixty intervals: a sampling timer would have read it again and again
            assertEquals(1, guest.reads.get());
        }
    }

    @Test
    void aCallAfterTheIntervalReadsAgainAndGetsTheRateSinceTheLastReading() throws Exception {
        // readings one second apart on the monotonic clock, long ago: each call finds the last one stale
        long longAgo = System.nanoTime() - Duration.ofHours(1).toNanos();
        var guest = new CountingGuest(n -> longAgo + n * 1_000_000_000L);
        try (var stats = collector(Duration.ofSeconds(1))) {
            stats.guestSource(guest);
            var c = running("c1");
            stats.containerStats(c);
            var second = stats.containerStats(c);
            assertEquals(2, guest.reads.get());
            assertEquals(2_000_000_000L, second.getCpu().getUsageCoreNanoSeconds().getValue());
            assertEquals(1_000_000_000L, second.getCpu().getUsageNanoCores().getValue(), "1 s of CPU in 1 s");
        }
    }

    @Test
    void twoReadingsMicrosecondsApartKeepTheEarlierRate() throws Exception {
        // two calls that raced past a stale reading: the second's CPU delta over a few µs would be noise
        long longAgo = System.nanoTime() - Duration.ofHours(1).toNanos();
        var guest = new CountingGuest(n -> longAgo + (n < 3 ? n * 1_000_000_000L : 2_000_000_000L + 1_000));
        try (var stats = collector(Duration.ofSeconds(1))) {
            stats.guestSource(guest);
            var c = running("c1");
            stats.containerStats(c);
            stats.containerStats(c);
            var third = stats.containerStats(c);
            assertEquals(3, guest.reads.get());
            assertEquals(3_000_000_000L, third.getCpu().getUsageCoreNanoSeconds().getValue(), "the new total");
            assertEquals(1_000_000_000L, third.getCpu().getUsageNanoCores().getValue(), "the rate before");
        }
    }

    @Test
    void theHousekeepingForgetsTheReadingsOfContainersNoLongerInTheStore() throws Exception {
        var guest = new CountingGuest(n -> System.nanoTime());
        try (var stats = collector(Duration.ofHours(1))) {
            stats.guestSource(guest);
            var gone = running("c1"); // never in the collector's store: as if removed
            stats.containerStats(gone);
            stats.forget();
            stats.containerStats(gone);
            assertEquals(2, guest.reads.get(), "its reading was dropped, so the next call reads again");
        }
    }
}
