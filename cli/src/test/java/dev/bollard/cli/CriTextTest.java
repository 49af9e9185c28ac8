package dev.bollard.cli;

import com.google.gson.JsonObject;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class CriTextTest {

    @Test
    void humanDurationsAsGoUnitsWordsThem() {
        assertEquals("Less than a second", CriText.humanDuration(Duration.ofMillis(999)));
        assertEquals("1 second", CriText.humanDuration(Duration.ofSeconds(1)));
        assertEquals("59 seconds", CriText.humanDuration(Duration.ofSeconds(59)));
        assertEquals("About a minute", CriText.humanDuration(Duration.ofSeconds(119)));
        assertEquals("59 minutes", CriText.humanDuration(Duration.ofMinutes(59)));
        assertEquals("About an hour", CriText.humanDuration(Duration.ofMinutes(89)));
        assertEquals("2 hours", CriText.humanDuration(Duration.ofMinutes(90)));
        assertEquals("47 hours", CriText.humanDuration(Duration.ofHours(47)));
        assertEquals("2 days", CriText.humanDuration(Duration.ofHours(48)));
        assertEquals("2 weeks", CriText.humanDuration(Duration.ofDays(14)));
        assertEquals("2 months", CriText.humanDuration(Duration.ofDays(60)));
        assertEquals("2 years", CriText.humanDuration(Duration.ofDays(731)));
    }

    @Test
    void timestampsAsGoPrintsThem() {
        Instant t = Instant.parse("2024-01-02T03:04:05.120Z");
        assertEquals("2024-01-02T03:04:05.12Z", CriText.rfc3339Nano(t, ZoneOffset.UTC));
        assertEquals("2024-01-02T03:04:05Z", CriText.rfc3339Nano(Instant.parse("2024-01-02T03:04:05Z"), ZoneOffset.UTC));
        assertEquals("2024-01-02T04:04:05.12+01:00", CriText.rfc3339Nano(t, ZoneId.of("+01:00")));
        assertEquals(Instant.parse("2024-01-02T03:04:05.000000007Z"), CriText.instant(1_704_164_645_000_000_007L));
    }

    @Test
    void idsImagesAndStates() {
        assertEquals("0123456789abc", CriText.truncate("0123456789abcdef"));
        assertEquals("short", CriText.truncate("short"));
        assertEquals("0123456789abc", CriText.shortImage("sha256:" + "0123456789abcdef".repeat(4)));
        assertEquals("docker.io/library/busybox:1.36", CriText.shortImage("docker.io/library/busybox:1.36"));
        assertEquals("Ready", CriText.state(dev.bollard.api.cri.v1.PodSandboxState.SANDBOX_READY));
        assertEquals("Exited", CriText.state(dev.bollard.api.cri.v1.ContainerState.CONTAINER_EXITED));
        assertEquals("unknown", CriText.fromLabels(Map.of(), CriText.POD_NAME_LABEL));
    }

    @Test
    void labelsRegexesAndNewest() {
        assertEquals(Map.of("a", "1", "b", ""), CriText.labels(List.of("a=1", "b=")));
        assertThrows(CliException.class, () -> CriText.labels(List.of("a=1=2")));
        assertEquals("--name: invalid regular expression \"(\": Unclosed group",
                assertThrows(CliException.class, () -> CriText.regex("--name", "(")).getMessage());
        assertEquals(true, CriText.matches(CriText.regex("--name", "eb"), "web"));
        assertEquals(true, CriText.matches(null, "x"));
        assertEquals(List.of(1), CriText.newest(List.of(1, 2, 3), true, 0));
        assertEquals(List.of(1, 2), CriText.newest(List.of(1, 2, 3), true, 2));
        assertEquals(List.of(1, 2, 3), CriText.newest(List.of(1, 2, 3), false, 9));
    }

    @Test
    void statusDocumentsDecodeObjectInfoAndSortKeys() {
        var status = new JsonObject();
        status.addProperty("id", "x");
        var doc = CriText.statusDocument(status, Map.of("z", "\"q\"", "info", "{\"pid\": 1}", "bad", "{nope"));
        assertEquals("{\"status\":{\"id\":\"x\"},\"bad\":\"{nope\",\"info\":{\"pid\":1},\"z\":\"q\"}", doc.toString());
    }

    @Test
    void tablesPadToTheMinimumWidthLikeTabwriter() {
        var t = new Table("A", "LONGER HEADER", "C").minWidth(8).row("x", "y", "z");
        assertEquals("A       LONGER HEADER   C\nx       y               z\n", t.render());
    }
}
