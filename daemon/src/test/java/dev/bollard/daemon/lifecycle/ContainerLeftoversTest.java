package dev.bollard.daemon.lifecycle;

import dev.bollard.daemon.linux.MountInfo;
import dev.bollard.daemon.linux.Syscalls;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * RemoveContainer's unmount of what is left mounted in a bundle: each place a mount can be is asked with statx, and
 * mountinfo is read (and everything below the bundle unmounted) only when one is mounted. Runs as root (mounts).
 */
class ContainerLeftoversTest {

    @BeforeAll
    static void needsRoot() {
        dev.bollard.daemon.testkit.Root.assume("bind mounts");
    }

    @TempDir
    Path dir;

    @AfterEach
    void unmountWhateverATestLeft() throws IOException {
        MountInfo.unmountBelow(dir);
    }

    private Path bundle() throws IOException {
        Path bundle = Files.createDirectories(dir.resolve("bundle"));
        Files.createDirectories(bundle.resolve("rootfs"));
        Files.writeString(bundle.resolve("config.json"), "{}");
        return bundle;
    }

    private Path bind(Path at) throws IOException {
        Path source = Files.createDirectories(dir.resolve("source"));
        Files.createDirectories(at);
        Syscalls.mount(source.toString(), at, null, Syscalls.MS_BIND, null);
        return at;
    }

    @Test
    void aBundleWithNothingMountedIsLeftWithoutReadingMountinfo() throws IOException {
        Path bundle = bundle();
        Files.createDirectories(bundle.resolve("volumes/empty")); // an image volume's directories, unmounted
        Files.createDirectories(bundle.resolve("idmap/layers"));
        assertFalse(Tasks.unmountContainerLeftovers(bundle));
        assertFalse(Tasks.unmountContainerLeftovers(dir.resolve("no-such-bundle")));
    }

    @Test
    void aRootfsTheShimLeftMountedIsUnmountedWithWhatIsBelowIt() throws IOException {
        Path bundle = bundle();
        Path rootfs = bind(bundle.resolve("rootfs"));
        Path inner = Files.createDirectories(rootfs.resolve("proc"));
        Syscalls.mount("tmpfs", inner, "tmpfs", 0, "size=1m");
        assertTrue(Tasks.unmountContainerLeftovers(bundle));
        assertEquals(java.util.List.of(), MountInfo.mountPointsBelow(bundle));
        assertEquals(Syscalls.MountRoot.NO, Syscalls.mountRoot(rootfs));
    }

    @Test
    void imageVolumesAndIdmappedMountsBollardMadeAreUnmounted() throws IOException {
        Path bundle = bundle();
        Files.createDirectories(bundle.resolve("volumes/empty"));
        bind(bundle.resolve("volumes/1"));
        assertTrue(Tasks.unmountContainerLeftovers(bundle));
        assertEquals(java.util.List.of(), MountInfo.mountPointsBelow(bundle));

        bind(bundle.resolve("idmap/volume-0"));
        assertTrue(Tasks.unmountContainerLeftovers(bundle));
        assertEquals(java.util.List.of(), MountInfo.mountPointsBelow(bundle));
    }

    @Test
    void aMountOutsideTheBundleIsNotTouched() throws IOException {
        Path bundle = bundle();
        Path other = bind(dir.resolve("other"));
        assertFalse(Tasks.unmountContainerLeftovers(bundle));
        assertEquals(Syscalls.MountRoot.YES, Syscalls.mountRoot(other));
    }
}
