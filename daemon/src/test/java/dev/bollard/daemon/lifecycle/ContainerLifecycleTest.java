package dev.bollard.daemon.lifecycle;

import dev.bollard.daemon.container.ContainerState;
import dev.bollard.daemon.errors.FailedPreconditionException;
import dev.bollard.daemon.sandbox.LifecycleEvent;
import dev.bollard.daemon.shim.TaskState;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Start, exit, stop and remove of a container against a fake shim. */
class ContainerLifecycleTest {

    @TempDir
    Path dir;

    @Test
    void startRunsTheTaskAndAnExitIsRecordedOnce() throws Exception {
        var f = new LifecycleFixture(dir);
        var pod = f.runPod("web");
        var c = f.createdContainer(pod, "app");
        var events = Collections.synchronizedList(new ArrayList<LifecycleEvent>());
        f.lifecycle.containers().listener((x, e) -> events.add(e));
        f.lifecycle.startContainer().start(c.id());
        var shim = f.shimOf(pod);
        assertEquals(ContainerState.RUNNING, c.state());
        assertEquals(TaskState.Status.RUNNING, shim.status(c.id()));
        assertEquals(shim.state(c.id(), "").pid(), c.record().pid());

        shim.exit(c.id(), 3);
        assertTrue(c.awaitExit(Duration.ofSeconds(10)));
        assertEquals(ContainerState.EXITED, c.state());
        assertEquals(3, c.record().exitCode());
        assertEquals("Error", c.record().reason());
        assertFalse(shim.has(c.id()), "the task deleted");
        assertFalse(Files.exists(f.lifecycle.layout().containerBundle(c.id()).resolve("init-stdout")), "FIFOs removed");
        // the shim's TaskExit event arriving too changes nothing
        f.lifecycle.containerExits().taskExit(c.id(), "", 0, 0, java.time.Instant.now());
        assertEquals(3, c.record().exitCode());
        assertEquals(List.of(LifecycleEvent.STARTED, LifecycleEvent.STOPPED), events);
        assertEquals(ContainerState.EXITED, f.lifecycle.containers().loadAll().getFirst().state());
    }

    @Test
    void aContainerStartsOnce() throws Exception {
        var f = new LifecycleFixture(dir);
        var c = f.createdContainer(f.runPod("web"), "app");
        f.lifecycle.startContainer().start(c.id());
        var e = assertThrows(FailedPreconditionException.class, () -> f.lifecycle.startContainer().start(c.id()));
        assertEquals("container " + c.id() + " is running; only a created container can be started", e.getMessage());
    }

    @Test
    void aFailedCreateOrStartIsRecordedAsStartErrorAndLeavesNoTask() throws Exception {
        for (String step : List.of("create", "start")) {
            var f = new LifecycleFixture(dir.resolve(step));
            var pod = f.runPod("web");
            var c = f.createdContainer(pod, "app");
            f.shimOf(pod).failing.add(step);
            var e = assertThrows(java.io.IOException.class, () -> f.lifecycle.startContainer().start(c.id()));
            assertEquals("fake shim: " + step + " failed", e.getMessage());
            assertEquals(ContainerState.EXITED, c.state(), step);
            assertEquals("StartError", c.record().reason());
            assertEquals(128, c.record().exitCode());
            assertEquals("fake shim: " + step + " failed", c.record().message());
            assertFalse(f.shimOf(pod).has(c.id()), step + ": no task left");
            try (var left = Files.list(f.lifecycle.layout().containerBundle(c.id()))) {
                assertTrue(left.noneMatch(p -> p.getFileName().toString().startsWith("init-")), step + ": FIFOs removed");
            }
        }
    }

    @Test
    void startNeedsAReadyPod() throws Exception {
        var f = new LifecycleFixture(dir);
        var pod = f.runPod("web");
        var c = f.createdContainer(pod, "app");
        f.lifecycle.infraExits().exited(pod, 0);
        var e = assertThrows(FailedPreconditionException.class, () -> f.lifecycle.startContainer().start(c.id()));
        assertEquals("pod sandbox " + pod.id() + " is not ready", e.getMessage());
        assertEquals(ContainerState.CREATED, c.state(), "still startable once the pod is");
    }

    @Test
    void stopSignalsThenKills() throws Exception {
        var f = new LifecycleFixture(dir);
        var pod = f.runPod("web");
        var polite = f.createdContainer(pod, "polite");
        var stubborn = f.createdContainer(pod, "stubborn");
        f.lifecycle.startContainer().start(polite.id());
        f.lifecycle.startContainer().start(stubborn.id());
        var shim = f.shimOf(pod);
        shim.ignoringSignals.add(stubborn.id());

        f.lifecycle.stopContainer().stop(polite.id(), 10);
        assertEquals(143, polite.record().exitCode(), "ended by SIGTERM");
        assertEquals(0, shim.count("kill " + polite.id() + " 9"));

        f.lifecycle.stopContainer().stop(stubborn.id(), 1);
        assertEquals(137, stubborn.record().exitCode(), "SIGKILL after the timeout");
        assertEquals(1, shim.count("kill " + stubborn.id() + " 15"));
        assertEquals(1, shim.count("kill " + stubborn.id() + " 9"));

        f.lifecycle.stopContainer().stop(stubborn.id(), 1); // stopped already: nothing sent
        assertEquals(1, shim.count("kill " + stubborn.id() + " 9"));
    }

    @Test
    void aDeadShimMakesTheContainerExited255() throws Exception {
        var f = new LifecycleFixture(dir);
        var pod = f.runPod("web");
        var c = f.createdContainer(pod, "app");
        f.lifecycle.startContainer().start(c.id());
        f.shimOf(pod).die();
        assertTrue(c.awaitExit(Duration.ofSeconds(10)));
        assertEquals(255, c.record().exitCode());
        assertTrue(f.tasks.cleanedUp.contains(c.id()), "shim delete on its bundle: " + f.tasks.cleanedUp);
    }

    @Test
    void removeIsIdempotentAndFreesTheName() throws Exception {
        var f = new LifecycleFixture(dir);
        var pod = f.runPod("web");
        var c = f.createdContainer(pod, "app");
        f.lifecycle.startContainer().start(c.id());
        f.lifecycle.removeContainer().remove(c.id());
        assertEquals(ContainerState.EXITED, c.state(), "killed first");
        assertTrue(f.lifecycle.containers().list().isEmpty());
        assertTrue(f.lifecycle.containers().ofPod(pod.id()).isEmpty());
        assertTrue(f.lifecycle.containers().loadAll().isEmpty());
        assertFalse(Files.exists(f.lifecycle.layout().containerBundle(c.id())));
        assertFalse(Files.exists(f.lifecycle.layout().containerDir(c.id())));
        f.lifecycle.removeContainer().remove(c.id());
        assertTrue(f.lifecycle.containers().reserveName(c.record().name(), "other").isEmpty(), "the name is free");
    }

    @Test
    void execAndUpdateNeedARunningContainer() throws Exception {
        var f = new LifecycleFixture(dir);
        var c = f.createdContainer(f.runPod("web"), "app");
        var e = assertThrows(FailedPreconditionException.class,
                () -> f.lifecycle.execContainer().execSync(c.id(), List.of("true"), 0));
        assertEquals("container " + c.id() + " is created, not running", e.getMessage());
        f.lifecycle.containers().update(c, r -> r.exited(1, 0, "Completed", ""));
        var u = assertThrows(FailedPreconditionException.class, () -> f.lifecycle.updateContainerResources()
                .update(c.id(), dev.bollard.api.cri.v1.LinuxContainerResources.getDefaultInstance()));
        assertEquals("container " + c.id() + " is exited; only created or running containers can be updated",
                u.getMessage());
    }

    @Test
    void anOomBeforeTheExitIsTheReason() throws Exception {
        var f = new LifecycleFixture(dir);
        var pod = f.runPod("web");
        var c = f.createdContainer(pod, "hog");
        f.lifecycle.startContainer().start(c.id());
        f.lifecycle.containerExits().taskOom(c.id());
        f.shimOf(pod).exit(c.id(), 137);
        assertTrue(c.awaitExit(Duration.ofSeconds(10)));
        assertEquals("OOMKilled", c.record().reason());
        assertEquals(137, c.record().exitCode());
    }

    @Test
    void anInfraExitEventMakesThePodNotReadyOnce() throws Exception {
        var f = new LifecycleFixture(dir);
        var pod = f.runPod("web");
        var events = Collections.synchronizedList(new ArrayList<LifecycleEvent>());
        f.lifecycle.sandboxes().listener((s, e) -> events.add(e));
        f.lifecycle.containerExits().taskExit(pod.id(), "", 1, 0, java.time.Instant.now());
        f.lifecycle.containerExits().taskExit(pod.id(), "", 1, 0, java.time.Instant.now());
        assertEquals(dev.bollard.daemon.sandbox.SandboxState.NOTREADY, pod.record().state());
        assertEquals(List.of(LifecycleEvent.STOPPED), events);
        assertEquals(dev.bollard.daemon.sandbox.SandboxState.NOTREADY,
                f.lifecycle.sandboxes().loadAll().getFirst().state(), "written");
    }
}
