package dev.bollard.daemon.network;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CniDefaultConfigTest {

    @Test
    void thePodCidrRewritesOnlyBollardsOwnDefault(@TempDir Path dir) throws Exception {
        assertFalse(Cni.updateDefaultConfig(dir, "bollard0", "10.244.1.0/24"), "nothing to update yet");
        assertTrue(Cni.writeDefaultConfig(dir, "bollard0", "10.88.0.0/16"));
        assertFalse(Cni.writeDefaultConfig(dir, "bollard0", "10.99.0.0/16"), "an existing config is kept");
        Path file = dir.resolve("10-bollard.conflist");
        assertTrue(Files.readString(file).contains("10.88.0.0/16"));

        assertTrue(Cni.updateDefaultConfig(dir, "bollard0", "10.244.1.0/24,fd00:10:244:1::/64"));
        String text = Files.readString(file);
        assertTrue(text.contains("10.244.1.0/24") && text.contains("fd00:10:244:1::/64") && !text.contains("10.88.0.0"), text);

        Files.writeString(file, text.replace("\"name\": \"bollard\"", "\"name\": \"mine\""));
        assertFalse(Cni.updateDefaultConfig(dir, "bollard0", "10.1.0.0/24"), "an edited file is the operator's");
        assertEquals(text.replace("\"name\": \"bollard\"", "\"name\": \"mine\""), Files.readString(file));
    }
}
