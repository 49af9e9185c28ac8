package dev.bollard.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;

class BollardDaemonTest {

    @Test
    void addedJavaOptionsKeepTheVariantsSettings() {
        var daemon = new BollardDaemon(Path.of("/nonexistent"), null, "info", "pps10",
                Map.of("BOLLARD_JAVA_OPTS", "-Xmx64m", "MALLOC_ARENA_MAX", "2"), 10);
        var withNmt = daemon.withJavaOpts("-XX:NativeMemoryTracking=summary");
        assertEquals(10, withNmt.podsPerShim(), "the soak's NMT daemon shares shims as the variant does");
        assertEquals("-Xmx64m -XX:NativeMemoryTracking=summary", withNmt.env().get("BOLLARD_JAVA_OPTS"));
        assertEquals("2", withNmt.env().get("MALLOC_ARENA_MAX"));
        assertEquals(daemon.name(), withNmt.name());
    }
}
