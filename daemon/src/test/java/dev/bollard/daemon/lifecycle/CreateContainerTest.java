package dev.bollard.daemon.lifecycle;

import dev.bollard.api.cri.v1.ContainerConfig;
import dev.bollard.api.cri.v1.ContainerMetadata;
import dev.bollard.api.cri.v1.ImageSpec;
import dev.bollard.api.cri.v1.LinuxContainerConfig;
import dev.bollard.api.cri.v1.LinuxContainerSecurityContext;
import dev.bollard.api.cri.v1.Mount;
import dev.bollard.api.cri.v1.NamespaceMode;
import dev.bollard.api.cri.v1.NamespaceOption;
import dev.bollard.daemon.container.ContainerState;
import dev.bollard.daemon.errors.AlreadyExistsException;
import dev.bollard.daemon.sandbox.LifecycleEvent;
import dev.bollard.daemon.sandbox.Sandbox;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import dev.bollard.daemon.errors.NotFoundException;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** CreateContainer with a real image store and spec builder, a fake shim and node: what it makes, and its rollback. */
class CreateContainerTest {

    @TempDir
    Path dir;
    LifecycleFixture f;
    Sandbox pod;

    @BeforeEach
    void setUp() throws Exception {
        f = new LifecycleFixture(dir);
        f.importBusybox(dir);
        pod = f.runPod("web");
    }

    private static ContainerConfig.Builder config(String name) {
        return ContainerConfig.newBuilder().setMetadata(ContainerMetadata.newBuilder().setName(name))
                .setImage(ImageSpec.newBuilder().setImage("busybox")).addCommand("sleep").addArgs("60");
    }

    /** Nothing of any container: records, bundles, writable layers. */
    private long containerFiles() throws Exception {
        var l = f.lifecycle.layout();
        long n = 0;
        for (Path d : List.of(l.containerRecords(), l.containerBundles(), l.containerDirs())) {
            try (var files = Files.list(d)) {
                n += files.count();
            }
        }
        return n;
    }

    @Test
    void createMakesTheBundleAndTheRecord() throws Exception {
        var events = Collections.synchronizedList(new ArrayList<LifecycleEvent>());
        f.lifecycle.containers().listener((c, e) -> events.add(e));
        var c = f.lifecycle.createContainer().create(pod.id(), config("app").build());
        assertEquals(ContainerState.CREATED, c.state());
        assertEquals("app_web_default_uid-web_0", c.record().name());
        assertTrue(Files.isRegularFile(f.lifecycle.layout().containerBundle(c.id()).resolve("config.json")));
        assertEquals(c.record(), f.lifecycle.containers().loadAll().getFirst());
        assertEquals(List.of(c), f.lifecycle.containers().ofPod(pod.id()));
        assertEquals(List.of(LifecycleEvent.CREATED), events);
        assertTrue(f.lifecycle.containers().snapshotsInUse().size() >= 1, "its snapshots kept through GC");
    }

    @Test
    void aMissingImageIsNotFoundAndReservesNothing() throws Exception {
        var e = assertThrows(NotFoundException.class, () -> f.lifecycle.createContainer().create(pod.id(),
                config("app").setImage(ImageSpec.newBuilder().setImage("nope:1")).build()));
        assertEquals("image \"nope:1\" not found; pull it first", e.getMessage());
        assertEquals(0, containerFiles());
        f.lifecycle.createContainer().create(pod.id(), config("app").build()); // the name was never taken
    }

    @Test
    void aTakenNameIsRefusedAndTheHolderKept() throws Exception {
        var first = f.lifecycle.createContainer().create(pod.id(), config("app").build());
        long before = containerFiles();
        var e = assertThrows(AlreadyExistsException.class,
                () -> f.lifecycle.createContainer().create(pod.id(), config("app").build()));
        assertEquals("container name \"app_web_default_uid-web_0\" is reserved for container " + first.id(),
                e.getMessage());
        assertEquals(before, containerFiles());
        assertEquals(List.of(first), f.lifecycle.containers().list());
    }

    @Test
    void aFailureAfterTheLayerWasMadeRollsBackWhole() throws Exception {
        // recursive read-only mounts: the fake handler lacks the feature, found after the writable layer exists
        var rro = config("rro").addMounts(Mount.newBuilder().setContainerPath("/data").setHostPath(dir.toString())
                .setReadonly(true).setRecursiveReadOnly(true)).build();
        var e = assertThrows(IllegalArgumentException.class, () -> f.lifecycle.createContainer().create(pod.id(), rro));
        assertEquals("mounts[0] (/data): recursive_read_only is not supported by runtime handler \"fake\"",
                e.getMessage());
        assertEquals(0, containerFiles(), "nothing of the refused container left");
        // a PID namespace target that does not run
        var target = f.lifecycle.createContainer().create(pod.id(), config("target").build());
        long before = containerFiles();
        var pid = config("pid").setLinux(LinuxContainerConfig.newBuilder().setSecurityContext(
                LinuxContainerSecurityContext.newBuilder().setNamespaceOptions(NamespaceOption.newBuilder()
                        .setPid(NamespaceMode.TARGET).setTargetId(target.id())))).build();
        var t = assertThrows(IllegalArgumentException.class, () -> f.lifecycle.createContainer().create(pod.id(), pid));
        assertEquals("target container " + target.id() + " must be a running container of the same pod", t.getMessage());
        assertEquals(before, containerFiles(), "bundle, writable layer and record of the failed create removed");
        assertEquals(List.of(target), f.lifecycle.containers().list());
        // both names free again
        f.lifecycle.createContainer().create(pod.id(), config("rro").build());
        f.lifecycle.createContainer().create(pod.id(), config("pid").build());
    }
}
