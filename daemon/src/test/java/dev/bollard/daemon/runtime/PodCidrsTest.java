package dev.bollard.daemon.runtime;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

class PodCidrsTest {

    @Test
    void parsesSingleAndDualStack() {
        assertEquals(List.of("10.88.0.0/16"), PodCidrs.parse("10.88.0.0/16"));
        assertEquals(List.of("10.88.0.0/16", "fd00::/64"), PodCidrs.parse("10.88.0.0/16, fd00::/64"));
        assertEquals(List.of(), PodCidrs.parse(""));
    }

    @Test
    void rejectsWhatIsNotACidr() {
        assertEquals("\"10.0.0.0\" is not a CIDR (address/prefix)",
                assertThrows(IllegalArgumentException.class, () -> PodCidrs.parse("10.0.0.0")).getMessage());
        assertEquals("\"10.0.0.0/33\" has a prefix length outside 0..32",
                assertThrows(IllegalArgumentException.class, () -> PodCidrs.parse("10.0.0.0/33")).getMessage());
        assertEquals("\"fd00::/129\" has a prefix length outside 0..128",
                assertThrows(IllegalArgumentException.class, () -> PodCidrs.parse("fd00::/129")).getMessage());
        assertEquals("\"pods.example/16\" does not start with an IP address",
                assertThrows(IllegalArgumentException.class, () -> PodCidrs.parse("pods.example/16")).getMessage());
        assertThrows(IllegalArgumentException.class, () -> PodCidrs.parse("10.0.0.0/8,10.1.0.0/16,fd00::/64"));
    }

    @Test
    void persistsAcrossInstances(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("pod-cidr");
        var first = new PodCidrs(f);
        assertEquals(List.of(), first.get());
        first.set("10.244.1.0/24");
        assertEquals(List.of("10.244.1.0/24"), new PodCidrs(f).get());
        assertThrows(IllegalArgumentException.class, () -> first.set("nonsense"));
        assertEquals(List.of("10.244.1.0/24"), new PodCidrs(f).get(), "a rejected value changes nothing");
        try (var files = Files.list(dir)) {
            assertEquals(List.of(f), files.toList(), "no temporary file left behind");
        }
    }

    @Test
    void corruptFileIsReportedNotIgnored(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("pod-cidr");
        Files.writeString(f, "garbage");
        var e = assertThrows(java.io.IOException.class, () -> new PodCidrs(f));
        assertFalse(e.getMessage().isEmpty());
    }
}
