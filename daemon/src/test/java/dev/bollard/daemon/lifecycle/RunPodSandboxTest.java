package dev.bollard.daemon.lifecycle;

import dev.bollard.daemon.errors.AlreadyExistsException;
import dev.bollard.daemon.sandbox.SandboxState;
import dev.bollard.daemon.shim.TaskState;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** RunPodSandbox against a fake node and fake shims: what a run makes, and that every failing step leaves nothing. */
class RunPodSandboxTest {

    @TempDir
    Path dir;

    @Test
    void aRunMakesAReadyPod() throws Exception {
        var f = new LifecycleFixture(dir);
        var pod = f.runPod("web");
        assertEquals(SandboxState.READY, pod.record().state());
        assertEquals(List.of("10.88.0.7"), pod.record().ips());
        assertTrue(pod.record().networkUp());
        assertEquals(1, f.host.netns.size());
        assertEquals(1, f.host.shm.size());
        assertTrue(f.host.attached.contains(pod.id()));
        assertEquals(TaskState.Status.RUNNING, f.shimOf(pod).status(pod.id()));
        assertEquals(pod.record(), f.lifecycle.sandboxes().loadAll().getFirst(), "the READY record is on disk");
        assertTrue(Files.readString(f.lifecycle.layout().podDir(pod.id()).resolve("hosts")).contains("10.88.0.7"));
    }

    @Test
    void aSecondRunOfTheSameNameIsRefused() throws Exception {
        var f = new LifecycleFixture(dir);
        var pod = f.runPod("web");
        var e = assertThrows(AlreadyExistsException.class, () -> f.runPod("web"));
        assertEquals("pod sandbox name \"web_default_uid-web_0\" is reserved for sandbox " + pod.id(), e.getMessage());
    }

    @Test
    void anUnknownHandlerIsInvalid() throws Exception {
        var f = new LifecycleFixture(dir);
        var e = assertThrows(IllegalArgumentException.class,
                () -> f.lifecycle.runPod().run(LifecycleFixture.pod("web"), "nope"));
        assertTrue(e.getMessage().startsWith("runtime handler \"nope\" is not configured"), e.getMessage());
        assertTrue(f.noPodFiles());
    }

    @ParameterizedTest
    @ValueSource(strings = {"image", "createNetns", "networkUp", "mountShm", "rootfs", "shimStart", "create", "start"})
    void everyFailingStepRollsBackWhole(String step) throws Exception {
        var f = new LifecycleFixture(dir);
        switch (step) {
            case "image" -> f.failInfraImage = true;
            case "rootfs" -> f.failInfraRootfs = true;
            case "shimStart" -> f.tasks.failStart = true;
            case "create", "start" -> f.tasks.failingInNewShims.add(step);
            default -> f.host.failing.add(step);
        }
        assertThrows(Exception.class, () -> f.runPod("web"));
        assertTrue(f.host.clean(), "netns, network and /dev/shm undone: " + f.host.calls);
        assertTrue(f.noPodFiles(), "record, bundle and pod directory removed");
        assertTrue(f.lifecycle.sandboxes().list().isEmpty());
        if (!step.equals("image")) {
            assertEquals(1, f.host.cgroupsRemoved.size(), "the pod's own cgroup parent removed");
        }
        var shim = f.tasks.byPod.values().stream().findFirst();
        if (step.equals("create") || step.equals("start")) {
            assertTrue(shim.orElseThrow().calls.contains("shutdown "), "the shim shut down: " + shim.get().calls);
            assertEquals(step.equals("start") ? 1 : 0, shim.get().count("delete "),
                    "a created task deleted: " + shim.get().calls);
        }
        // and the name is free again: kubelet's retry succeeds
        f.host.failing.clear();
        f.failInfraImage = false;
        f.failInfraRootfs = false;
        f.tasks.failStart = false;
        f.tasks.failingInNewShims.clear();
        assertEquals(SandboxState.READY, f.runPod("web").record().state());
    }

    /** The shim dies during Create or Start: the rollback cannot go through it, the shim binary's delete must run. */
    @ParameterizedTest
    @ValueSource(strings = {"create", "start"})
    void aShimDyingDuringTheRunIsCleanedUpWithoutIt(String step) throws Exception {
        var f = new LifecycleFixture(dir);
        f.tasks.dyingInNewShims.add(step);
        assertThrows(Exception.class, () -> f.runPod("web"));
        String id = f.tasks.byPod.keySet().iterator().next();
        assertEquals(java.util.List.of(id), f.tasks.cleanedUp, "shim delete run for the pod's task");
        assertTrue(f.host.clean(), "netns, network and /dev/shm undone: " + f.host.calls);
        assertTrue(f.noPodFiles(), "record, bundle and pod directory removed");

        // a live shim that fails the start is asked to kill and delete: no shim delete needed
        f.tasks.dyingInNewShims.clear();
        f.tasks.failingInNewShims.add("start");
        assertThrows(Exception.class, () -> f.runPod("web"));
        assertEquals(1, f.tasks.cleanedUp.size(), "shim delete only for the dead shim: " + f.tasks.cleanedUp);
    }
}
