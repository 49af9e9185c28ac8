package dev.bollard.daemon.store;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;

import static org.junit.jupiter.api.Assertions.assertEquals;

class ModesTest {

    private static String mode(Path p) throws Exception {
        return PosixFilePermissions.toString(Files.getPosixFilePermissions(p));
    }

    @Test
    void atomicWritesAreOwnerOnlyUnlessAskedReadable(@TempDir Path dir) throws Exception {
        AtomicFiles.write(dir.resolve("record.json"), "{}".getBytes());
        assertEquals("rw-------", mode(dir.resolve("record.json")));
        // a leftover temporary of a crash, world-readable, does not lend its mode
        Path tmp = dir.resolve(".spec.json.tmp-" + ProcessHandle.current().pid());
        Files.writeString(tmp, "old");
        Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rw-rw-rw-"));
        AtomicFiles.write(dir.resolve("spec.json"), "{}".getBytes());
        assertEquals("rw-------", mode(dir.resolve("spec.json")));
        AtomicFiles.writeReadable(dir.resolve("10-net.conflist"), "{}".getBytes());
        assertEquals("rw-r--r--", mode(dir.resolve("10-net.conflist")));
    }

    @Test
    void startUpMakesWhatAnOlderVersionWroteReadablePrivate(@TempDir Path dir) throws Exception {
        Path root = dir.resolve("root");
        Path state = dir.resolve("state");
        Path record = Files.createDirectories(root.resolve("store/containers")).resolve("c1.json");
        Files.writeString(record, "{\"env\":\"secret\"}");
        Path bundle = Files.createDirectories(state.resolve("containers/c1"));
        Files.writeString(bundle.resolve("config.json"), "{\"env\":\"secret\"}");
        for (Path p : new Path[]{record, bundle.resolve("config.json")}) {
            Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rw-r--r--"));
        }
        for (Path p : new Path[]{root.resolve("store"), root.resolve("store/containers"), state.resolve("containers"), bundle}) {
            Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rwxr-xr-x"));
        }

        Modes.secure(root, state);

        assertEquals("rw-------", mode(record));
        assertEquals("rw-------", mode(bundle.resolve("config.json")));
        assertEquals("rwx------", mode(root.resolve("store")));
        assertEquals("rwx------", mode(root.resolve("store/containers")));
        assertEquals("rwx------", mode(root.resolve("store/sandboxes")));
        assertEquals("rwx--x--x", mode(state.resolve("containers")));
        assertEquals("rwx--x--x", mode(state.resolve("pods")));
        assertEquals("rwx--x--x", mode(bundle));
    }
}
