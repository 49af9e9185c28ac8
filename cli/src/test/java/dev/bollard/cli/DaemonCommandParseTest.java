package dev.bollard.cli;

import org.junit.jupiter.api.Test;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

/** The daemon's own option parsing (picocli is kept off the daemon's start): the same result picocli would give. */
class DaemonCommandParseTest {

    @Test
    void readsEveryOptionInBothForms() {
        var c = DaemonCommand.parse(new String[] {"--socket", "/run/b.sock", "--root=/var/lib/b", "--state", "/run/b",
                "--config=/etc/b.toml", "--log-level", "debug"});
        assertEquals(Path.of("/run/b.sock"), c.socket);
        assertEquals(Path.of("/var/lib/b"), c.root);
        assertEquals(Path.of("/run/b"), c.state);
        assertEquals(Path.of("/etc/b.toml"), c.config);
        assertEquals("debug", c.logLevel);
    }

    @Test
    void defaultsAsDeclared() {
        var c = DaemonCommand.parse(new String[0]);
        assertEquals(Path.of("/etc/bollard/bollard.toml"), c.config);
        assertNull(c.socket);
        assertNull(c.root);
        assertNull(c.state);
        assertNull(c.logLevel);
    }

    @Test
    void leavesAnythingElseToPicocli() {
        assertNull(DaemonCommand.parse(new String[] {"--help"}));
        assertNull(DaemonCommand.parse(new String[] {"-h"}));
        assertNull(DaemonCommand.parse(new String[] {"--socket"}));
        assertNull(DaemonCommand.parse(new String[] {"--socket="}));
        assertNull(DaemonCommand.parse(new String[] {"--sockett", "/x"}));
        assertNull(DaemonCommand.parse(new String[] {"--root", "/r", "extra"}));
    }

    @Test
    void picocliStillAnswersHelpAndTypos() {
        assertEquals(0, Main.run("daemon", "--help"));
        assertEquals(2, Main.run("daemon", "--sockett", "/x"));
    }
}
