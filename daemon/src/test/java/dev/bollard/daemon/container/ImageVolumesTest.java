package dev.bollard.daemon.container;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ImageVolumesTest {

    @Test
    void aSubPathIsItsNamesWithinTheImage() {
        assertEquals(List.of(), ImageVolumes.subPath("", "mounts[0]"));
        assertEquals(List.of("data", "sub"), ImageVolumes.subPath("data/sub", "mounts[0]"));
        assertEquals(List.of("data", "sub"), ImageVolumes.subPath("./data//sub/", "mounts[0]"));
    }

    @Test
    void escapesAndAbsolutePathsAreRefusedNamingTheField() {
        var up = assertThrows(IllegalArgumentException.class, () -> ImageVolumes.subPath("data/../../etc", "mounts[2]"));
        assertTrue(up.getMessage().startsWith("mounts[2].image_sub_path"), up.getMessage());
        assertTrue(up.getMessage().contains(".."), up.getMessage());
        var abs = assertThrows(IllegalArgumentException.class, () -> ImageVolumes.subPath("/etc", "mounts[1]"));
        assertTrue(abs.getMessage().contains("relative"), abs.getMessage());
    }
}
