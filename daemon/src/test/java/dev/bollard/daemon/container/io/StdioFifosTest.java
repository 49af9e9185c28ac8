package dev.bollard.daemon.container.io;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class StdioFifosTest {

    @TempDir
    Path dir;

    @Test
    void existingFindsTheFifosCreateMade() throws IOException {
        var made = StdioFifos.create(dir, "init", true, false);
        assertEquals(made, StdioFifos.existing(dir, "init", true, false));
        var withTerminal = StdioFifos.create(dir, "tty", false, true);
        var found = StdioFifos.existing(dir, "tty", false, true);
        assertEquals(withTerminal, found);
        assertNull(found.stderr());
        assertNull(found.stdin());
    }

    @Test
    void existingRefusesMissingFifosAndOtherFilesNamingThem() throws IOException {
        var missing = assertThrows(IOException.class, () -> StdioFifos.existing(dir, "init", false, false));
        assertTrue(missing.getMessage().contains(dir.resolve("init-stdout").toString()), missing.getMessage());
        StdioFifos.create(dir, "init", false, true);
        Files.writeString(dir.resolve("init-stderr"), "not a fifo");
        var plain = assertThrows(IOException.class, () -> StdioFifos.existing(dir, "init", false, false));
        assertEquals(dir.resolve("init-stderr") + " is not a FIFO", plain.getMessage());
        assertThrows(IllegalArgumentException.class, () -> StdioFifos.existing(dir, "a/b", false, false));
    }
}
