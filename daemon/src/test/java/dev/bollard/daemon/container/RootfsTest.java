package dev.bollard.daemon.container;

import dev.bollard.daemon.linux.Syscalls;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RootfsTest {

    @Test
    void filesAreReadThroughTheLayersAsTheOverlayWouldShowThem(@TempDir Path dir) throws Exception {
        dev.bollard.daemon.testkit.Root.assume("an overlayfs whiteout is a 0:0 character device");
        Path bottom = Files.createDirectories(dir.resolve("bottom/etc"));
        Files.writeString(bottom.resolve("passwd"), "old\n");
        Files.writeString(bottom.resolve("group"), "root:x:0:\n");
        Files.writeString(Files.createDirectories(dir.resolve("bottom/opt")).resolve("gone"), "x");
        Path top = Files.createDirectories(dir.resolve("top/etc"));
        Files.writeString(top.resolve("passwd"), "new\n");
        Syscalls.mknod(top.resolve("group"), Syscalls.S_IFCHR | 0600, 0, 0); // an overlayfs whiteout
        Path opt = Files.createDirectories(dir.resolve("top/opt"));
        Syscalls.lsetxattr(opt, "trusted.overlay.opaque", new byte[] {'y'});

        var rootfs = new Rootfs(List.of(dir.resolve("top"), dir.resolve("bottom")), dir.resolve("c"));
        rootfs.prepare();
        var files = rootfs.files();
        assertArrayEquals("new\n".getBytes(), files.read("/etc/passwd").orElseThrow());
        assertEquals(Optional.empty(), files.read("/etc/group"), "whited out");
        assertEquals(Optional.empty(), files.read("/opt/gone"), "hidden by an opaque directory");
        assertEquals(Optional.empty(), files.read("/../../etc/shadow"));
        Files.writeString(Files.createDirectories(rootfs.upper().resolve("etc")).resolve("passwd"), "mine\n");
        assertArrayEquals("mine\n".getBytes(), files.read("/etc/passwd").orElseThrow(), "the writable layer wins");

        var mount = rootfs.mount();
        assertEquals("overlay", mount.getType());
        assertTrue(mount.getOptionsList().contains("lowerdir=" + dir.resolve("top") + ":" + dir.resolve("bottom")));
        rootfs.remove();
        assertTrue(Files.notExists(dir.resolve("c")));
    }
}
