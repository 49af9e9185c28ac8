package dev.bollard.daemon.lifecycle;

import dev.bollard.api.cri.v1.ContainerConfig;
import dev.bollard.api.cri.v1.ContainerMetadata;
import dev.bollard.api.cri.v1.ImageSpec;
import dev.bollard.daemon.container.Container;
import dev.bollard.daemon.container.ContainerState;
import dev.bollard.daemon.content.Digest;
import dev.bollard.daemon.errors.FailedPreconditionException;
import dev.bollard.daemon.errors.NotFoundException;
import dev.bollard.daemon.sandbox.Sandbox;
import dev.bollard.daemon.sandbox.SandboxState;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Pod operations racing each other (issue 18, item 5): a create that outlives its pod's removal, a stop that waited
 * on a removal, and a storm of stops and removes. Each interleaving is forced (a FIFO the create reads, the pod's
 * lock held by the test), so a lost race fails every run, not now and then.
 */
@Timeout(60)
class PodRacesTest {

    @TempDir
    Path dir;

    private static ContainerConfig config(String name) {
        return ContainerConfig.newBuilder().setMetadata(ContainerMetadata.newBuilder().setName(name))
                .setImage(ImageSpec.newBuilder().setImage("busybox")).addCommand("sleep").addArgs("60").build();
    }

    /**
     * The image's config blob replaced by a FIFO holding the same bytes: CreateContainer blocks reading it (after the
     * pod was looked up and the name reserved) until {@link HeldRead#release} writes them.
     */
    private static final class HeldRead {
        private final Path fifo;
        private final byte[] bytes;
        private FileChannel writer;

        HeldRead(LifecycleFixture f, String imageId) throws Exception {
            this.fifo = f.images.content().path(Digest.parse(imageId));
            this.bytes = Files.readAllBytes(fifo);
            Files.delete(fifo);
            var mkfifo = new ProcessBuilder("mkfifo", fifo.toString()).inheritIO().start();
            assertEquals(0, mkfifo.waitFor());
        }

        /** Returns once the reader has opened the FIFO: it is then blocked mid-create. */
        void awaitReader() throws Exception {
            writer = FileChannel.open(fifo, StandardOpenOption.WRITE); // a FIFO's open waits for its reader
        }

        void release() throws Exception {
            writer.write(ByteBuffer.wrap(bytes));
            writer.close();
        }
    }

    @Test
    void aCreateThatOutlivesItsPodsRemovalFailsAndLeavesNoContainer() throws Exception {
        var f = new LifecycleFixture(dir);
        String imageId = f.importBusybox(dir);
        Sandbox pod = f.runPod("web");
        var held = new HeldRead(f, imageId);
        var create = createAsync(f, pod);
        held.awaitReader();

        f.lifecycle.removePod().remove(pod.id()); // answers while the create is still reading
        assertTrue(f.lifecycle.sandboxes().find(pod.id()).isEmpty());
        held.release();

        var e = assertThrows(ExecutionException.class, () -> create.get(30, TimeUnit.SECONDS));
        var notFound = assertInstanceOf(NotFoundException.class, e.getCause());
        assertEquals("pod sandbox " + pod.id() + " was removed while container app was being created",
                notFound.getMessage());
        assertTrue(f.lifecycle.containers().list().isEmpty(), "no container listed under the removed pod");
        assertTrue(f.lifecycle.containers().ofPod(pod.id()).isEmpty());
        assertTrue(f.lifecycle.containers().loadAll().isEmpty(), "no container record on disk");
        assertEquals(0, containerFiles(f), "the failed create's bundle and writable layer removed");
        assertTrue(f.noPodFiles());
        // its name was released: the same container in a new pod of the same name is created
        var again = f.runPod("web");
        Files.delete(f.images.content().path(Digest.parse(imageId)));
        Files.write(f.images.content().path(Digest.parse(imageId)), held.bytes);
        assertEquals(ContainerState.CREATED, f.lifecycle.createContainer().create(again.id(), config("app")).state());
    }

    @Test
    void aCreateThatOutlivesItsPodsStopFailsAndLeavesNoContainer() throws Exception {
        var f = new LifecycleFixture(dir);
        String imageId = f.importBusybox(dir);
        Sandbox pod = f.runPod("web");
        var held = new HeldRead(f, imageId);
        var create = createAsync(f, pod);
        held.awaitReader();
        f.lifecycle.stopPod().stop(pod.id());
        held.release();

        var e = assertThrows(ExecutionException.class, () -> create.get(30, TimeUnit.SECONDS));
        assertInstanceOf(FailedPreconditionException.class, e.getCause());
        assertTrue(f.lifecycle.containers().list().isEmpty(), "a stopped pod takes no container");
        assertTrue(f.lifecycle.containers().loadAll().isEmpty());
        assertEquals(0, containerFiles(f));
    }

    @Test
    void aStopThatWaitedOnTheRemovalWritesNoRecord() throws Exception {
        var f = new LifecycleFixture(dir);
        Sandbox pod = f.runPod("web");
        pod.lock().lock(); // the removal holds the pod's lock; a stop arriving meanwhile found the pod and waits
        Thread stop;
        var failure = new CompletableFuture<Void>();
        try {
            stop = Thread.ofPlatform().start(() -> {
                try {
                    f.lifecycle.stopPod().stop(pod.id());
                    failure.complete(null);
                } catch (Throwable t) {
                    failure.completeExceptionally(t);
                }
            });
            while (!pod.lock().hasQueuedThread(stop)) {
                Thread.sleep(1);
            }
            f.lifecycle.removePod().remove(pod.id());
            assertTrue(f.noPodFiles(), "the removal deleted the record");
        } finally {
            pod.lock().unlock();
        }
        stop.join();
        failure.get(); // no error: stopping a removed pod is stopping a missing one
        assertTrue(f.noPodFiles(), "the stop did not write the removed pod's record back");
        assertTrue(f.lifecycle.sandboxes().loadAll().isEmpty());
        assertEquals(1, f.host.calls.stream().filter("networkDown"::equals).count(), "DEL ran once, in the removal");
        assertEquals(1, f.host.calls.stream().filter("removeNetns"::equals).count());
    }

    @Test
    void updatesAfterARemovalWriteNothing() throws Exception {
        var f = new LifecycleFixture(dir);
        Sandbox pod = f.runPod("web");
        Container c = f.createdContainer(pod, "app");
        f.lifecycle.removePod().remove(pod.id());
        // a late infra exit, a late container start or exit: the store must not put either record back
        f.lifecycle.sandboxes().update(pod, r -> r.with(SandboxState.NOTREADY));
        var r = f.lifecycle.containers().update(c, old -> old.started(4242, 1));
        assertEquals(ContainerState.CREATED, r.state(), "a removed container's record is not changed");
        assertTrue(f.lifecycle.sandboxes().loadAll().isEmpty());
        assertTrue(f.lifecycle.containers().loadAll().isEmpty());
        assertTrue(pod.removed());
        assertTrue(c.removed());
    }

    @Test
    void aStormOfStopsAndRemovesLeavesNoRecord() throws Exception {
        var f = new LifecycleFixture(dir);
        int pods = 20;
        int clients = 5;
        var sandboxes = new ArrayList<Sandbox>();
        for (int i = 0; i < pods; i++) {
            var pod = f.runPod("storm-" + i);
            f.createdContainer(pod, "app");
            sandboxes.add(pod);
        }
        var barrier = new CyclicBarrier(pods * clients);
        var calls = new ArrayList<CompletableFuture<Void>>();
        for (var pod : sandboxes) {
            for (int k = 0; k < clients; k++) {
                boolean removeFirst = k % 2 == 1; // clients agree on no order
                calls.add(CompletableFuture.runAsync(() -> {
                    try {
                        barrier.await();
                        if (removeFirst) {
                            f.lifecycle.removePod().remove(pod.id());
                        }
                        f.lifecycle.stopPod().stop(pod.id());
                        f.lifecycle.removePod().remove(pod.id());
                    } catch (Exception e) {
                        throw new RuntimeException(e);
                    }
                }, Thread::startVirtualThread));
            }
        }
        CompletableFuture.allOf(calls.toArray(CompletableFuture[]::new)).get(60, TimeUnit.SECONDS);
        for (var pod : sandboxes) {
            assertThrows(java.util.NoSuchElementException.class, () -> f.lifecycle.sandboxes().get(pod.id()));
        }
        assertTrue(f.lifecycle.sandboxes().list().isEmpty());
        assertTrue(f.noPodFiles(), "no sandbox record, bundle or pod directory left");
        assertTrue(f.lifecycle.containers().list().isEmpty());
        assertTrue(f.lifecycle.containers().loadAll().isEmpty());
        assertTrue(f.host.clean(), "every netns, network and /dev/shm released: " + f.host.netns);
        assertEquals(pods, f.host.calls.stream().filter("networkDown"::equals).count(), "one DEL a pod");
    }

    /** CreateContainer on a thread of its own; its failure, unwrapped, as the future's cause. */
    private static CompletableFuture<Container> createAsync(LifecycleFixture f, Sandbox pod) {
        var out = new CompletableFuture<Container>();
        Thread.startVirtualThread(() -> {
            try {
                out.complete(f.lifecycle.createContainer().create(pod.id(), config("app")));
            } catch (Throwable t) {
                out.completeExceptionally(t);
            }
        });
        return out;
    }

    private static long containerFiles(LifecycleFixture f) throws Exception {
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
    void theRacesDoNotStopAPodThatWasNeverRemoved() throws Exception {
        var f = new LifecycleFixture(dir);
        Sandbox pod = f.runPod("web");
        f.lifecycle.stopPod().stop(pod.id());
        assertFalse(pod.removed());
        assertEquals(SandboxState.NOTREADY, f.lifecycle.sandboxes().loadAll().getFirst().state(),
                "a plain stop still writes its record");
    }
}
