package dev.bollard.daemon.server;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SystemdNotifyTest {

    @Test
    void sendsOneDatagramToAPathSocket(@TempDir Path dir) throws IOException {
        try (var receiver = NotifyReceiver.at(dir.resolve("notify"))) {
            SystemdNotify.send(receiver.address(), SystemdNotify.READY);
            SystemdNotify.send(receiver.address(), SystemdNotify.STOPPING);
            assertEquals(Optional.of("READY=1"), receiver.receive(Duration.ofSeconds(5)));
            assertEquals(Optional.of("STOPPING=1"), receiver.receive(Duration.ofSeconds(5)));
            assertTrue(receiver.receive(Duration.ofMillis(100)).isEmpty());
        }
    }

    @Test
    void sendsToAnAbstractAddress() throws IOException {
        try (var receiver = NotifyReceiver.abstractNamed("bollard-notify-test-" + ProcessHandle.current().pid())) {
            assertTrue(receiver.address().startsWith("@"));
            SystemdNotify.send(receiver.address(), SystemdNotify.READY);
            assertEquals(Optional.of("READY=1"), receiver.receive(Duration.ofSeconds(5)));
        }
    }

    @Test
    void abstractAddressesStartWithNulAndHaveNoTerminator() throws IOException {
        assertArrayEquals(new byte[] {0, 'a', 'b'}, SystemdNotify.sunPath("@ab"));
        assertArrayEquals(new byte[] {'/', 'x', 0}, SystemdNotify.sunPath("/x"));
        assertThrows(IOException.class, () -> SystemdNotify.sunPath("relative/path"));
        assertThrows(IOException.class, () -> SystemdNotify.sunPath("/" + "x".repeat(200)));
    }

    @Test
    void aMissingSocketIsAnErrorNamingIt(@TempDir Path dir) {
        var e = assertThrows(IOException.class, () -> SystemdNotify.send(dir.resolve("gone").toString(), "READY=1"));
        assertTrue(e.getMessage().contains("gone"), e.getMessage());
    }
}
