package dev.bollard.daemon.lifecycle;

import dev.bollard.api.cri.v1.ContainerState;
import dev.bollard.api.cri.v1.LinuxContainerResources;
import dev.bollard.api.cri.v1.PodSandboxState;
import dev.bollard.daemon.cri.ContainerRpcs;
import dev.bollard.daemon.cri.PodSandboxRpcs;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

/**
 * The ready-made PodSandboxStatus and ContainerStatus messages: kept while nothing changed, and every change (state,
 * resources, the image's tags) visible to the very next call.
 */
class CriStatusMemoTest {

    @TempDir
    Path dir;

    @Test
    void aPodsStatusIsKeptUntilItsRecordChanges() throws Exception {
        var f = new LifecycleFixture(dir);
        var pod = f.runPod("web");
        var first = PodSandboxRpcs.status(pod);
        assertEquals(PodSandboxState.SANDBOX_READY, first.getState());
        assertEquals("10.88.0.7", first.getNetwork().getIp());
        assertSame(first, PodSandboxRpcs.status(pod), "nothing changed: the same message");

        f.lifecycle.stopPod().stop(pod.id());
        assertEquals(PodSandboxState.SANDBOX_NOTREADY, PodSandboxRpcs.status(pod).getState(), "the stop shows at once");
    }

    @Test
    void aContainersStatusFollowsEveryStateChange() throws Exception {
        var f = new LifecycleFixture(dir);
        var rpcs = new ContainerRpcs(f.lifecycle, f.images);
        var pod = f.runPod("web");
        var c = f.createdContainer(pod, "app");
        var created = rpcs.status(c);
        assertEquals(ContainerState.CONTAINER_CREATED, created.getState());
        assertSame(created, rpcs.status(c), "nothing changed: the same message");

        f.lifecycle.startContainer().start(c.id());
        var running = rpcs.status(c);
        assertEquals(ContainerState.CONTAINER_RUNNING, running.getState());
        assertEquals(c.record().startedAt(), running.getStartedAt());

        var limits = LinuxContainerResources.newBuilder().setCpuShares(512).setMemoryLimitInBytes(64 << 20).build();
        c.resources(limits); // what UpdateContainerResources sets after the shim took the update
        assertEquals(limits, rpcs.status(c).getResources().getLinux(), "new resources show at once");

        f.lifecycle.stopContainer().stop(c.id(), 0);
        var exited = rpcs.status(c);
        assertEquals(ContainerState.CONTAINER_EXITED, exited.getState());
        assertEquals(c.record().finishedAt(), exited.getFinishedAt());
    }

    @Test
    void anImageLosingItsTagShowsInTheNextStatus() throws Exception {
        var f = new LifecycleFixture(dir);
        var rpcs = new ContainerRpcs(f.lifecycle, f.images);
        String imageId = f.importBusybox(dir);
        var pod = f.runPod("web");
        var c = f.createdContainer(pod, "app", imageId);
        assertEquals("docker.io/library/busybox:latest", rpcs.status(c).getImage().getImage());

        f.images.remove(imageId);
        var after = rpcs.status(c);
        assertEquals("busybox", after.getImage().getImage(), "the image gone: what the container was created from");
        assertEquals(c.record().imageRef(), after.getImageRef());
    }
}
