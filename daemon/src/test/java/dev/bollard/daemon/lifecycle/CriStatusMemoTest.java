package dev.bollard.daemon.lifecycle;

import dev.bollard.api.cri.v1.ContainerState;
import dev.bollard.api.cri.v1.ContainerStatusRequest;
import dev.bollard.api.cri.v1.ContainerStatusResponse;
import dev.bollard.api.cri.v1.PodSandboxStatusRequest;
import dev.bollard.api.cri.v1.PodSandboxStatusResponse;
import dev.bollard.api.cri.v1.LinuxContainerResources;
import dev.bollard.api.cri.v1.PodSandboxState;
import dev.bollard.daemon.cri.ContainerRpcs;
import dev.bollard.daemon.cri.PodSandboxRpcs;
import dev.bollard.daemon.cri.StatusBytes;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

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

    /**
     * The bytes sent for a non-verbose ContainerStatus (put together from the kept status, see cri.StatusBytes) are
     * protobuf's own serialization of the answer, and every state change is in the very next answer's bytes.
     */
    @Test
    void theContainerStatusBytesSentFollowEveryStateChange() throws Exception {
        var f = new LifecycleFixture(dir);
        var rpcs = new ContainerRpcs(f.lifecycle, f.images);
        var pod = f.runPod("web");
        var c = f.createdContainer(pod, "app");
        var request = ContainerStatusRequest.newBuilder().setContainerId(c.id()).build();

        var created = rpcs.status(request);
        assertSent(created, StatusBytes.sent(created));
        assertEquals(ContainerState.CONTAINER_CREATED,
                ContainerStatusResponse.parseFrom(StatusBytes.sent(created)).getStatus().getState());
        assertSame(created, rpcs.status(request), "nothing changed: the same answer");

        f.lifecycle.startContainer().start(c.id());
        var running = rpcs.status(request);
        assertEquals(ContainerState.CONTAINER_RUNNING,
                ContainerStatusResponse.parseFrom(StatusBytes.sent(running)).getStatus().getState(), "at once");
        assertSent(running, StatusBytes.sent(running));

        f.lifecycle.stopContainer().stop(c.id(), 0);
        var exited = rpcs.status(request);
        var sent = ContainerStatusResponse.parseFrom(StatusBytes.sent(exited));
        assertEquals(ContainerState.CONTAINER_EXITED, sent.getStatus().getState());
        assertEquals(c.record().finishedAt(), sent.getStatus().getFinishedAt());
        assertSent(exited, StatusBytes.sent(exited));
        assertSent(created, StatusBytes.sent(created)); // an older answer: its own bytes, not the kept ones

        var verbose = rpcs.status(request.toBuilder().setVerbose(true).build());
        assertTrue(verbose.getInfoCount() > 0);
        assertSent(verbose, StatusBytes.sent(verbose));
    }

    /** The same for PodSandboxStatus, whose answer also carries the pod's containers and a timestamp. */
    @Test
    void thePodStatusBytesSentFollowEveryStateChange() throws Exception {
        var f = new LifecycleFixture(dir);
        var containers = new ContainerRpcs(f.lifecycle, f.images);
        var pods = new PodSandboxRpcs(f.lifecycle, containers);
        var pod = f.runPod("web");
        var request = PodSandboxStatusRequest.newBuilder().setPodSandboxId(pod.id()).build();

        var ready = pods.status(request);
        assertSent(ready, StatusBytes.sent(ready));
        assertEquals(PodSandboxState.SANDBOX_READY,
                PodSandboxStatusResponse.parseFrom(StatusBytes.sent(ready)).getStatus().getState());

        var c = f.createdContainer(pod, "app");
        var withContainer = pods.status(request);
        var sent = PodSandboxStatusResponse.parseFrom(StatusBytes.sent(withContainer));
        assertEquals(1, sent.getContainersStatusesCount(), "the new container at once");
        assertEquals(c.id(), sent.getContainersStatuses(0).getId());
        assertSent(withContainer, StatusBytes.sent(withContainer));

        f.lifecycle.stopPod().stop(pod.id());
        var stopped = pods.status(request);
        assertEquals(PodSandboxState.SANDBOX_NOTREADY,
                PodSandboxStatusResponse.parseFrom(StatusBytes.sent(stopped)).getStatus().getState(), "at once");
        assertSent(stopped, StatusBytes.sent(stopped));
        assertSent(ready, StatusBytes.sent(ready)); // an older answer: its own bytes
    }

    private static void assertSent(com.google.protobuf.Message answer, byte[] sent) {
        assertArrayEquals(answer.toByteArray(), sent, "protobuf's own bytes for the answer");
    }
}
