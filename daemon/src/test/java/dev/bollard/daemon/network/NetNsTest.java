package dev.bollard.daemon.network;

import dev.bollard.daemon.linux.MountInfo;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Runs as root: unshare(CLONE_NEWNET) and the bind mount need it. */
class NetNsTest {

    @org.junit.jupiter.api.BeforeAll
    static void needsRoot() {
        dev.bollard.daemon.testkit.Root.assume("network namespaces");
    }

    @TempDir
    Path dir;

    @Test
    void createPinsANewNamespaceWithOnlyLoopbackAndRemoveUnpinsIt() throws Exception {
        Path p = dir.resolve("sub/dir/ns1");
        NetNs ns = NetNs.create(p);
        try {
            assertTrue(ns.exists());
            assertTrue(HostNet.mountInfoHas(p), "mountinfo lists " + p);
            String hostNs = Files.readSymbolicLink(Path.of("/proc/thread-self/ns/net")).toString();
            String inside = ns.run(() -> Files.readSymbolicLink(Path.of("/proc/thread-self/ns/net")).toString());
            assertNotEquals(hostNs, inside);
            List<String> interfaces = ns.run(() -> HostNet.interfacesOfThread());
            assertEquals(List.of("lo"), interfaces);
            // The calling thread itself never moved.
            assertEquals(hostNs, Files.readSymbolicLink(Path.of("/proc/thread-self/ns/net")).toString());
        } finally {
            ns.remove();
        }
        assertFalse(ns.exists());
        assertFalse(Files.exists(p));
        assertFalse(HostNet.mountInfoHas(p), "no mount left at " + p);
        ns.remove();
        NetNs.at(dir.resolve("never-was")).remove();
    }

    @Test
    void runPropagatesTheBodysException() throws Exception {
        NetNs ns = NetNs.create(dir.resolve("ns2"));
        try {
            var e = assertThrows(IllegalStateException.class, () -> ns.run(() -> {
                throw new IllegalStateException("from inside");
            }));
            assertEquals("from inside", e.getMessage());
        } finally {
            ns.remove();
        }
    }

    @Test
    void createRefusesAnOccupiedPathAndAcceptsAnEmptyLeftoverFile() throws Exception {
        Path full = Files.writeString(dir.resolve("full"), "x");
        var e = assertThrows(IOException.class, () -> NetNs.create(full));
        assertTrue(e.getMessage().contains(full.toString()), e.getMessage());

        Path leftover = Files.createFile(dir.resolve("leftover"));
        NetNs ns = NetNs.create(leftover);
        try {
            assertTrue(ns.exists());
            var again = assertThrows(IOException.class, () -> NetNs.create(leftover));
            assertTrue(again.getMessage().contains("already a pinned namespace"), again.getMessage());
        } finally {
            ns.remove();
        }
        assertFalse(HostNet.mountInfoHas(leftover));
    }

    @Test
    void runOnAnUnpinnedPathFailsNamingIt() {
        Path p = dir.resolve("nothing");
        var e = assertThrows(IOException.class, () -> NetNs.at(p).run(() -> 1));
        assertTrue(e.getMessage().contains(p.toString()), e.getMessage());
        assertFalse(NetNs.at(p).exists());
    }

    @Test
    void mountInfoUnescapesOctal() {
        assertEquals("/a b\\c", MountInfo.unescape("/a\\040b\\134c"));
        assertEquals("/plain", MountInfo.unescape("/plain"));
    }
}
