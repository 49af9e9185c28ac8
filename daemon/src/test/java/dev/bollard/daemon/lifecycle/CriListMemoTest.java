package dev.bollard.daemon.lifecycle;

import dev.bollard.api.cri.v1.ContainerFilter;
import dev.bollard.api.cri.v1.ContainerState;
import dev.bollard.api.cri.v1.ContainerStateValue;
import dev.bollard.api.cri.v1.ListContainersRequest;
import dev.bollard.api.cri.v1.ListPodSandboxRequest;
import dev.bollard.api.cri.v1.PodSandboxState;
import dev.bollard.daemon.cri.ContainerRpcs;
import dev.bollard.daemon.cri.PodSandboxRpcs;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;

/**
 * ListContainers and ListPodSandbox: the last answer given again while nothing changed, and every change (a pod or
 * container added, a state change, a removal, an image losing its tag, another filter) in the very next call.
 */
class CriListMemoTest {

    @TempDir
    Path dir;

    private static final ListContainersRequest ALL_CONTAINERS = ListContainersRequest.getDefaultInstance();
    private static final ListPodSandboxRequest ALL_PODS = ListPodSandboxRequest.getDefaultInstance();

    @Test
    void podsListedAgainUntilOneChanges() throws Exception {
        var f = new LifecycleFixture(dir);
        var rpcs = new PodSandboxRpcs(f.lifecycle, new ContainerRpcs(f.lifecycle, f.images));
        var web = f.runPod("web");
        var first = rpcs.list(ALL_PODS);
        assertEquals(1, first.getItemsCount());
        assertSame(first, rpcs.list(ALL_PODS), "nothing changed: the same answer");

        var db = f.runPod("db");
        var two = rpcs.list(ALL_PODS);
        assertEquals(2, two.getItemsCount(), "a new pod shows at once");
        var webItem = two.getItemsList().stream().filter(p -> p.getId().equals(web.id())).findFirst().orElseThrow();
        assertSame(first.getItems(0), webItem, "the unchanged pod's item is the one built before");

        f.lifecycle.stopPod().stop(web.id());
        var stopped = rpcs.list(ALL_PODS);
        assertEquals(PodSandboxState.SANDBOX_NOTREADY, stopped.getItemsList().stream()
                .filter(p -> p.getId().equals(web.id())).findFirst().orElseThrow().getState(), "the stop shows at once");

        var readyOnly = ListPodSandboxRequest.newBuilder().setFilter(dev.bollard.api.cri.v1.PodSandboxFilter.newBuilder()
                .setState(dev.bollard.api.cri.v1.PodSandboxStateValue.newBuilder()
                        .setState(PodSandboxState.SANDBOX_READY))).build();
        assertEquals(db.id(), rpcs.list(readyOnly).getItems(0).getId(), "another filter: its own answer");
        assertEquals(1, rpcs.list(readyOnly).getItemsCount());
        assertEquals(2, rpcs.list(ALL_PODS).getItemsCount(), "back to the first filter: all again");

        f.lifecycle.removePod().remove(web.id());
        assertEquals(1, rpcs.list(ALL_PODS).getItemsCount(), "the removal shows at once");
    }

    @Test
    void containersListedAgainUntilOneChanges() throws Exception {
        var f = new LifecycleFixture(dir);
        var rpcs = new ContainerRpcs(f.lifecycle, f.images);
        var pod = f.runPod("web");
        var c = f.createdContainer(pod, "app");
        var first = rpcs.list(ALL_CONTAINERS);
        assertEquals(ContainerState.CONTAINER_CREATED, first.getContainers(0).getState());
        assertSame(first, rpcs.list(ALL_CONTAINERS), "nothing changed: the same answer");

        f.lifecycle.startContainer().start(c.id());
        var running = rpcs.list(ALL_CONTAINERS);
        assertNotSame(first, running);
        assertEquals(ContainerState.CONTAINER_RUNNING, running.getContainers(0).getState(), "the start shows at once");

        var other = f.createdContainer(pod, "sidecar");
        assertEquals(2, rpcs.list(ALL_CONTAINERS).getContainersCount(), "a new container shows at once");
        var createdOnly = ListContainersRequest.newBuilder().setFilter(ContainerFilter.newBuilder()
                .setState(ContainerStateValue.newBuilder().setState(ContainerState.CONTAINER_CREATED))).build();
        assertEquals(other.id(), rpcs.list(createdOnly).getContainers(0).getId(), "another filter: its own answer");
        assertEquals(2, rpcs.list(ALL_CONTAINERS).getContainersCount());

        f.lifecycle.stopContainer().stop(c.id(), 0);
        assertEquals(ContainerState.CONTAINER_EXITED, rpcs.list(ALL_CONTAINERS).getContainersList().stream()
                .filter(x -> x.getId().equals(c.id())).findFirst().orElseThrow().getState(), "the exit shows at once");

        f.lifecycle.removeContainer().remove(c.id());
        var left = rpcs.list(ALL_CONTAINERS);
        assertEquals(1, left.getContainersCount(), "the removal shows at once");
        assertEquals(other.id(), left.getContainers(0).getId());
    }

    @Test
    void anImageLosingItsTagShowsInTheNextList() throws Exception {
        var f = new LifecycleFixture(dir);
        var rpcs = new ContainerRpcs(f.lifecycle, f.images);
        String imageId = f.importBusybox(dir);
        var pod = f.runPod("web");
        var c = f.createdContainer(pod, "app", imageId);
        assertEquals("docker.io/library/busybox:latest", rpcs.list(ALL_CONTAINERS).getContainers(0).getImage().getImage());
        assertEquals("docker.io/library/busybox:latest", rpcs.list(ALL_CONTAINERS).getContainers(0).getImage().getImage());

        f.images.remove(imageId);
        var after = rpcs.list(ALL_CONTAINERS).getContainers(0);
        assertEquals("busybox", after.getImage().getImage(), "the image gone: what the container was created from");
        assertEquals(c.record().imageRef(), after.getImageRef());
    }
}
