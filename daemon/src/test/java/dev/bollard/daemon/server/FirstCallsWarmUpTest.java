package dev.bollard.daemon.server;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.junit.jupiter.api.Assertions.assertTrue;

class FirstCallsWarmUpTest {

    private static final AtomicBoolean INITIALIZED = new AtomicBoolean();

    /** Initialized only by the warm-up: nothing in the test touches it. */
    static final class CostlyToInitialize {
        static {
            INITIALIZED.set(true);
        }
    }

    @Test
    void runsTheStaticInitializersAndTheTasksOffTheCaller() throws Exception {
        var ran = new AtomicBoolean();
        Runnable failing = () -> {
            throw new IllegalStateException("a warm-up task failed");
        };
        Thread t = FirstCallsWarmUp.start(List.of(CostlyToInitialize.class), List.of(failing, () -> ran.set(true)));
        assertTrue(t.isVirtual());
        assertTrue(t.join(java.time.Duration.ofSeconds(TimeUnit.MINUTES.toSeconds(2))), "the warm-up ended");
        assertTrue(ran.get(), "a failed task does not stop the ones after it");
        assertTrue(INITIALIZED.get(), "the class's static initializer ran");
    }
}
