package dev.bollard.cli;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Starting, stopping and refusing to start: each case a real process, each failure one line and no leftovers. */
@LeakChecked
class DaemonLifecycleTest {

    private Path dir;

    @BeforeEach
    void tempDir() throws Exception {
        dir = Files.createTempDirectory("bollard-lc-");
    }

    @AfterEach
    void cleanUp() throws Exception {
        TestFiles.deleteTree(dir);
    }

    private DaemonProcess.Result daemon(String... args) throws Exception {
        var all = new java.util.ArrayList<String>();
        all.add("daemon");
        all.addAll(java.util.List.of(args));
        return DaemonProcess.run(dir, all.toArray(String[]::new));
    }

    private void assertOneLineError(DaemonProcess.Result r, String expectedStart) {
        assertEquals(1, r.exit(), r.err());
        assertEquals(1, r.err().lines().count(), "one line: " + r.err());
        assertTrue(r.err().startsWith("bollard: " + expectedStart), r.err());
    }

    private void assertOnlyLeft(String... names) throws Exception {
        try (var files = Files.list(dir)) {
            assertEquals(java.util.Set.of(names),
                    files.map(p -> p.getFileName().toString()).collect(java.util.stream.Collectors.toSet()));
        }
    }

    @Test
    void sigtermShutsDownAndRemovesTheSocket() throws Exception {
        var d = DaemonProcess.start(dir);
        assertTrue(Files.exists(d.socket));
        int exit = d.stop();
        assertEquals(143, exit, "terminated by SIGTERM through the JVM's orderly shutdown");
        assertFalse(Files.exists(d.socket), "socket removed");
        String log = d.logText();
        assertTrue(log.contains("msg=\"shutting down\""), log);
        assertTrue(log.contains("msg=stopped"), log);
        assertTrue(Files.exists(d.root), "persistent state stays");
    }

    @Test
    void theSocketAppearsOnlyOnceTheDaemonAnswers() throws Exception {
        Path socket = dir.resolve("run/bollard.sock");
        var p = new ProcessBuilder(DaemonProcess.command("daemon", "--socket", socket.toString(),
                "--root", dir.resolve("root").toString(), "--state", dir.resolve("state").toString(),
                "--config", dir.resolve("none.toml").toString()))
                .redirectErrorStream(true).redirectOutput(dir.resolve("log").toFile()).start();
        try {
            long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(60);
            while (!Files.exists(socket) && System.nanoTime() < deadline && p.isAlive()) {
                Thread.onSpinWait();
            }
            // No retry and no wait-for-ready: the first call after the path appears must be answered.
            try (var client = new CriClient("unix://" + socket, 10)) {
                var v = client.runtime(stub -> stub.version(dev.bollard.api.cri.v1.VersionRequest.getDefaultInstance()));
                assertEquals("bollard", v.getRuntimeName());
            }
        } finally {
            p.destroy();
            assertEquals(143, p.waitFor());
        }
        assertFalse(Files.exists(socket));
    }

    @Test
    void staleSocketIsReplaced() throws Exception {
        Path socket = dir.resolve("run/bollard.sock");
        Files.createDirectories(socket.getParent());
        try (var server = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            server.bind(UnixDomainSocketAddress.of(socket));
        }
        assertTrue(Files.exists(socket), "closing a JDK server socket leaves its file: a stale socket");
        try (var d = DaemonProcess.start(dir)) {
            var v = DaemonProcess.run(dir, "-r", d.endpoint(), "version");
            assertEquals(0, v.exit(), v.err());
            assertTrue(d.logText().contains("removed stale socket"));
        }
    }

    @Test
    void malformedConfigNamesTheLineAndCreatesNothing() throws Exception {
        Path config = dir.resolve("bad.toml");
        Files.writeString(config, "[daemon]\nlog_level = \"loud\"\n");
        var r = daemon("--config", config.toString(), "--socket", dir.resolve("run/b.sock").toString(),
                "--root", dir.resolve("root").toString(), "--state", dir.resolve("state").toString());
        assertOneLineError(r, config + ":2: daemon.log_level: \"loud\" is not one of debug, info, warn, error");
        assertOnlyLeft("bad.toml");
    }

    @Test
    void tooLongSocketPathIsRefused() throws Exception {
        String longName = "s".repeat(120) + ".sock";
        var r = daemon("--socket", dir.resolve(longName).toString(), "--root", dir.resolve("root").toString(),
                "--state", dir.resolve("state").toString(), "--config", dir.resolve("none.toml").toString());
        assertOneLineError(r, "socket path " + dir.resolve(longName) + " is ");
        assertTrue(r.err().contains("limited to 107 bytes"), r.err());
        assertOnlyLeft();
    }

    @Test
    void unwritableRootIsRefusedAndRolledBack() throws Exception {
        Path file = dir.resolve("plain-file");
        Files.writeString(file, "x");
        var r = daemon("--socket", dir.resolve("run/b.sock").toString(), "--root", file.resolve("root").toString(),
                "--state", dir.resolve("state").toString(), "--config", dir.resolve("none.toml").toString());
        assertOneLineError(r, "root " + file.resolve("root") + ": ");
        assertOnlyLeft("plain-file");
    }

    @Test
    void rootOnAReadOnlyFilesystemIsRefused() throws Exception {
        var r = daemon("--socket", dir.resolve("run/b.sock").toString(), "--root", "/proc/bollard-root",
                "--state", dir.resolve("state").toString(), "--config", dir.resolve("none.toml").toString());
        assertOneLineError(r, "root /proc/bollard-root: cannot create /proc/bollard-root: No such file or directory");
        assertOnlyLeft();
    }

    @Test
    void socketPathThatIsAFileIsRefused() throws Exception {
        Path notSocket = dir.resolve("regular");
        Files.writeString(notSocket, "keep me");
        var r = daemon("--socket", notSocket.toString(), "--root", dir.resolve("root").toString(),
                "--state", dir.resolve("state").toString(), "--config", dir.resolve("none.toml").toString());
        assertOneLineError(r, "socket path " + notSocket + " exists and is not a socket");
        assertEquals("keep me", Files.readString(notSocket));
        assertOnlyLeft("regular");
    }

    @Test
    void systemdDriverWithoutSystemdIsRefused() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeFalse(dev.bollard.daemon.linux.Systemd.isRunning());
        Path config = dir.resolve("c.toml");
        Files.writeString(config, "[runtime]\ncgroup_driver = \"systemd\"\n");
        var r = daemon("--config", config.toString(), "--socket", dir.resolve("run/b.sock").toString(),
                "--root", dir.resolve("root").toString(), "--state", dir.resolve("state").toString());
        assertOneLineError(r, "runtime.cgroup_driver = \"systemd\", but systemd is not running");
        assertOnlyLeft("c.toml");
    }

    @Test
    void configFileSettingsApplyAndFlagsWin() throws Exception {
        Path config = dir.resolve("bollard.toml");
        Files.writeString(config, "[daemon]\nroot = \"" + dir.resolve("root-from-file") + "\"\nlog_format = \"json\"\n");
        try (var d = DaemonProcess.start(dir)) {
            assertTrue(Files.isDirectory(d.root), "--root given on the command line wins over the file");
            assertFalse(Files.exists(dir.resolve("root-from-file")));
            String first = d.logText().lines().findFirst().orElseThrow();
            assertTrue(first.startsWith("{\"time\":"), "json logs from the file's log_format: " + first);
        }
    }

    @Test
    void unknownLogLevelFlagIsRefused() throws Exception {
        var r = daemon("--log-level", "chatty", "--socket", dir.resolve("run/b.sock").toString());
        assertOneLineError(r, "--log-level: \"chatty\" is not one of debug, info, warn, error");
        assertOnlyLeft();
    }

    @Test
    void configDefaultPrintsAValidCommentedFile() throws Exception {
        var r = DaemonProcess.run(dir, "config", "default");
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().contains("[daemon]\n"), r.out());
        assertTrue(r.out().contains("socket = \"/run/bollard/bollard.sock\""), r.out());
        Path f = dir.resolve("default.toml");
        Files.writeString(f, r.out());
        var check = DaemonProcess.run(dir, "config", "check", f.toString());
        assertEquals(0, check.exit(), check.err());
        Files.writeString(f, r.out() + "\n[stream]\naddress = \"x\"\n");
        var bad = DaemonProcess.run(dir, "config", "check", f.toString());
        assertEquals(1, bad.exit());
        assertTrue(bad.err().contains("unknown section or key \"stream\""), bad.err());
    }
}
