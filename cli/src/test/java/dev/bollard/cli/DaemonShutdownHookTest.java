package dev.bollard.cli;

import dev.bollard.daemon.server.Daemon;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The shutdown hook registered before the start: a signal during start-up waits for the start to end. */
class DaemonShutdownHookTest {

    @Test
    void theHookWaitsForAStartStillRunning() throws Exception {
        var started = new CompletableFuture<Daemon>();
        var startEnded = new AtomicBoolean();
        var starter = Thread.ofVirtual().start(() -> {
            try {
                Thread.sleep(300);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            startEnded.set(true);
            started.complete(null); // a start that failed (and rolled back) hands over nothing to close
        });
        assertTimeoutPreemptively(Duration.ofSeconds(30), () -> DaemonCommand.closeWhenStarted(started));
        assertTrue(startEnded.get(), "the hook returned only after the start had ended");
        starter.join();
    }

    @Test
    void aStartThatFailedLeavesTheHookNothingToDo() {
        var started = CompletableFuture.<Daemon>failedFuture(new IllegalStateException("start failed"));
        assertTimeoutPreemptively(Duration.ofSeconds(30), () -> DaemonCommand.closeWhenStarted(started));
    }
}
