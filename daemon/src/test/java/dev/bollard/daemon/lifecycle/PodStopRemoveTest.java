package dev.bollard.daemon.lifecycle;

import dev.bollard.daemon.container.ContainerState;
import dev.bollard.daemon.errors.FailedPreconditionException;
import dev.bollard.daemon.sandbox.LifecycleEvent;
import dev.bollard.daemon.sandbox.SandboxState;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** StopPodSandbox and RemovePodSandbox: what they release, their idempotence, and the pod's containers with them. */
class PodStopRemoveTest {

    @TempDir
    Path dir;

    @Test
    void stopReleasesTheNodeAndKeepsTheRecord() throws Exception {
        var f = new LifecycleFixture(dir);
        var events = Collections.synchronizedList(new ArrayList<LifecycleEvent>());
        f.lifecycle.sandboxes().listener((s, e) -> events.add(e));
        var pod = f.runPod("web");
        var shim = f.shimOf(pod);
        f.lifecycle.stopPod().stop(pod.id());
        assertEquals(SandboxState.NOTREADY, pod.record().state());
        assertFalse(pod.record().networkUp());
        assertTrue(f.host.clean(), "netns unpinned, network down, /dev/shm unmounted: " + f.host.calls);
        assertTrue(shim.calls.contains("shutdown "));
        assertFalse(shim.has(pod.id()), "the infra task deleted");
        assertEquals(SandboxState.NOTREADY, f.lifecycle.sandboxes().loadAll().getFirst().state());
        assertEquals(List.of(LifecycleEvent.CREATED, LifecycleEvent.STARTED, LifecycleEvent.STOPPED), events);

        f.lifecycle.stopPod().stop(pod.id()); // again: nothing more to do, no error
        assertEquals(1, f.host.calls.stream().filter("networkDown"::equals).count(), "DEL ran once");
        assertEquals(3, events.size(), "no second STOPPED");
    }

    @Test
    void aFailedDelWhileTheInfraTaskIsKilledLeavesTheNetworkForTheRetry() throws Exception {
        var f = new LifecycleFixture(dir);
        var pod = f.runPod("web");
        var shim = f.shimOf(pod);
        f.host.failing.add("networkDown");
        var e = assertThrows(java.io.IOException.class, () -> f.lifecycle.stopPod().stop(pod.id()));
        assertEquals("fake host: networkDown failed", e.getMessage());
        assertFalse(shim.has(pod.id()), "the kill chain ran to its end beside the DEL");
        assertTrue(shim.calls.contains("shutdown "));
        assertEquals(SandboxState.NOTREADY, pod.record().state());
        assertTrue(pod.record().networkUp(), "the record still says the network is up");
        assertFalse(f.host.netns.isEmpty(), "the netns stays pinned for the retry's DEL");

        f.host.failing.remove("networkDown");
        f.lifecycle.stopPod().stop(pod.id());
        assertFalse(pod.record().networkUp());
        assertTrue(f.host.clean(), "released on the retry: " + f.host.calls);
    }

    @Test
    void aFailedKillWaitsForTheDelAndTheRetryFinishesTheStop() throws Exception {
        var f = new LifecycleFixture(dir);
        var pod = f.runPod("web");
        var shim = f.shimOf(pod);
        shim.failing.add("kill");
        var e = assertThrows(java.io.IOException.class, () -> f.lifecycle.stopPod().stop(pod.id()));
        assertEquals("fake shim: kill failed", e.getMessage());
        assertTrue(f.host.calls.contains("networkDown"), "the DEL had ended when the call returned: " + f.host.calls);
        assertTrue(f.host.attached.isEmpty());
        assertEquals(SandboxState.READY, pod.record().state(), "nothing recorded while the infra task may run");

        shim.failing.remove("kill");
        f.lifecycle.stopPod().stop(pod.id());
        assertEquals(SandboxState.NOTREADY, pod.record().state());
        assertFalse(pod.record().networkUp());
        assertTrue(f.host.clean(), "released on the retry: " + f.host.calls);
    }

    @Test
    void stopAndRemoveOfAMissingPodAreNoErrors() throws Exception {
        var f = new LifecycleFixture(dir);
        f.lifecycle.stopPod().stop("0123456789ab");
        f.lifecycle.removePod().remove("0123456789ab");
        f.lifecycle.stopContainer().stop("0123456789ab", 10);
        f.lifecycle.removeContainer().remove("0123456789ab");
        assertTrue(f.noPodFiles());
    }

    @Test
    void stopStopsTheContainersDirectly() throws Exception {
        var f = new LifecycleFixture(dir);
        var pod = f.runPod("web");
        var c = f.createdContainer(pod, "app");
        f.lifecycle.startContainer().start(c.id());
        assertEquals(ContainerState.RUNNING, c.state());
        f.lifecycle.stopPod().stop(pod.id());
        assertEquals(ContainerState.EXITED, c.state());
        assertEquals(137, c.record().exitCode(), "killed by SIGKILL");
        assertFalse(f.shimOf(pod).has(c.id()), "its task deleted");
    }

    @Test
    void removeTakesEverythingAndIsIdempotent() throws Exception {
        var f = new LifecycleFixture(dir);
        var events = Collections.synchronizedList(new ArrayList<LifecycleEvent>());
        var pod = f.runPod("web");
        var c = f.createdContainer(pod, "app");
        f.lifecycle.startContainer().start(c.id());
        f.lifecycle.sandboxes().listener((s, e) -> events.add(e));
        f.lifecycle.removePod().remove(pod.id());
        assertTrue(f.lifecycle.sandboxes().list().isEmpty());
        assertTrue(f.lifecycle.containers().list().isEmpty(), "its containers removed with it");
        assertTrue(f.lifecycle.containers().loadAll().isEmpty());
        assertTrue(f.noPodFiles());
        assertTrue(f.host.clean());
        assertEquals(1, f.host.cgroupsRemoved.size());
        assertEquals(List.of(LifecycleEvent.STOPPED, LifecycleEvent.DELETED), events);
        f.lifecycle.removePod().remove(pod.id());
        assertEquals(SandboxState.READY, f.runPod("web").record().state(), "the name is free again");
    }

    @Test
    void onlyAReadyPodTakesContainersAndResources() throws Exception {
        var f = new LifecycleFixture(dir);
        var pod = f.runPod("web");
        f.lifecycle.stopPod().stop(pod.id());
        var e = assertThrows(FailedPreconditionException.class, () -> f.lifecycle.updatePodResources().update(pod.id(),
                dev.bollard.api.cri.v1.LinuxContainerResources.getDefaultInstance(), false,
                dev.bollard.api.cri.v1.LinuxContainerResources.getDefaultInstance(), false));
        assertEquals("pod sandbox " + pod.id() + " is not ready; only a ready pod's resources can be updated",
                e.getMessage());
        var created = assertThrows(FailedPreconditionException.class, () -> f.lifecycle.createContainer().create(pod.id(),
                dev.bollard.api.cri.v1.ContainerConfig.newBuilder().setMetadata(
                        dev.bollard.api.cri.v1.ContainerMetadata.newBuilder().setName("c"))
                        .setImage(dev.bollard.api.cri.v1.ImageSpec.newBuilder().setImage("busybox")).build()));
        assertEquals("pod sandbox " + pod.id() + " is not ready; a container can only be created in a ready pod",
                created.getMessage());
    }
}
