package dev.bollard.daemon.lifecycle;

import dev.bollard.daemon.container.ContainerState;
import dev.bollard.daemon.sandbox.SandboxState;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The tables of legal state changes, and the stores refusing the others without writing anything. */
class TransitionsTest {

    @Test
    void containersOnlyMoveForward() {
        assertTrue(ContainerState.CREATED.canBecome(ContainerState.RUNNING));
        assertTrue(ContainerState.CREATED.canBecome(ContainerState.EXITED), "a failed start");
        assertTrue(ContainerState.RUNNING.canBecome(ContainerState.EXITED));
        for (var s : ContainerState.values()) {
            assertTrue(s.canBecome(s), s + " rewritten as itself");
        }
        assertFalse(ContainerState.RUNNING.canBecome(ContainerState.CREATED));
        assertFalse(ContainerState.EXITED.canBecome(ContainerState.RUNNING), "the CRI has no restart");
        assertFalse(ContainerState.EXITED.canBecome(ContainerState.CREATED));
    }

    @Test
    void aStoppedPodNeverBecomesReadyAgain() {
        assertTrue(SandboxState.NOTREADY.canBecome(SandboxState.READY, true), "a run completing");
        assertFalse(SandboxState.NOTREADY.canBecome(SandboxState.READY, false), "a stopped pod");
        assertTrue(SandboxState.READY.canBecome(SandboxState.NOTREADY, false));
        assertTrue(SandboxState.READY.canBecome(SandboxState.READY, false));
    }

    @Test
    void anIllegalContainerUpdateIsRefusedAndNotWritten(@TempDir Path dir) throws Exception {
        var f = new LifecycleFixture(dir);
        var pod = f.runPod("p");
        var c = f.createdContainer(pod, "c");
        var store = f.lifecycle.containers();
        store.update(c, r -> r.exited(5, 1, "Error", ""));
        var e = assertThrows(IllegalStateException.class, () -> store.update(c, r -> r.started(42, 6)));
        assertEquals("container " + c.id() + " cannot go from EXITED to RUNNING", e.getMessage());
        assertEquals(ContainerState.EXITED, c.state());
        assertEquals(ContainerState.EXITED, store.loadAll().getFirst().state(), "the refused record was not written");
    }

    @Test
    void aStoppedPodCannotBeMadeReady(@TempDir Path dir) throws Exception {
        var f = new LifecycleFixture(dir);
        var pod = f.runPod("p");
        f.lifecycle.stopPod().stop(pod.id());
        var store = f.lifecycle.sandboxes();
        assertThrows(IllegalStateException.class, () -> store.update(pod, r -> r.with(SandboxState.READY)));
        assertEquals(SandboxState.NOTREADY, store.loadAll().getFirst().state());
    }

    @Test
    void updatesArePersisted(@TempDir Path dir) throws Exception {
        var f = new LifecycleFixture(dir);
        var pod = f.runPod("p");
        var c = f.createdContainer(pod, "c");
        f.lifecycle.containers().update(c, r -> r.started(77, 9));
        var onDisk = f.lifecycle.containers().loadAll().getFirst();
        assertEquals(ContainerState.RUNNING, onDisk.state());
        assertEquals(77, onDisk.pid());
        assertEquals(c.record(), onDisk);
    }
}
