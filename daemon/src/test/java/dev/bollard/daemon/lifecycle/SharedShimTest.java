package dev.bollard.daemon.lifecycle;

import dev.bollard.daemon.container.ContainerState;
import dev.bollard.daemon.sandbox.SandboxState;
import dev.bollard.daemon.shim.ShimGroup;
import dev.bollard.daemon.shim.ShimGroups;
import dev.bollard.daemon.shim.TaskService;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Shim sharing (pods_per_shim): which shim a pod lands in, when a shared shim shuts down, a shared shim's death. */
class SharedShimTest {

    @TempDir
    Path dir;

    private final List<String> retired = Collections.synchronizedList(new ArrayList<>());
    private final ShimGroups groups = new ShimGroups(retired::add);
    private final List<FakeTaskService> launched = Collections.synchronizedList(new ArrayList<>());

    /** A pod that joined its group's shim and started there, as RunPodSandbox leaves it. */
    private ShimGroups.Member join(String pod, ShimGroup group) throws Exception {
        var member = joinStarting(pod, group);
        member.create(pod, dir, List.of(), dev.bollard.daemon.shim.TaskIo.NONE);
        member.start(pod, "");
        return member;
    }

    /** A pod that joined its group's shim and has not started its infra task yet. */
    private ShimGroups.Member joinStarting(String pod, ShimGroup group) throws Exception {
        return groups.join(pod, group, id -> {
            var shim = new FakeTaskService();
            launched.add(shim);
            return shim;
        });
    }

    @Test
    void groupsFollowTheNamespaceOrTheAnnotationAndNeverSpanHandlers() {
        assertEquals(ShimGroup.OWN, ShimGroup.of("runc", 1, "namespace", "default", Map.of()));
        assertEquals(new ShimGroup("runc/namespace/default", 10), ShimGroup.of("runc", 10, "namespace", "default", Map.of()));
        assertEquals(new ShimGroup("runc/annotation/db", 10),
                ShimGroup.of("runc", 10, "namespace", "default", Map.of(ShimGroup.ANNOTATION, "db")));
        assertEquals(new ShimGroup("runc/annotation/db", 10),
                ShimGroup.of("runc", 10, "annotation", "kube-system", Map.of(ShimGroup.ANNOTATION, "db")));
        assertEquals(ShimGroup.OWN, ShimGroup.of("runc", 10, "annotation", "default", Map.of()),
                "annotation grouping: a pod without the annotation gets a shim of its own");
        assertEquals(ShimGroup.OWN, ShimGroup.of("runc", 1, "namespace", "default", Map.of(ShimGroup.ANNOTATION, "db")),
                "the annotation does not share shims of a handler that does not");
        assertFalse(ShimGroup.of("crun", 10, "namespace", "default", Map.of())
                .equals(ShimGroup.of("runc", 10, "namespace", "default", Map.of())));
        assertFalse(ShimGroup.OWN.shared());
    }

    @Test
    void aGroupFillsItsShimThenStartsAnother() throws Exception {
        var group = new ShimGroup("runc/namespace/default", 2);
        var a = join("a", group);
        var b = join("b", group);
        var c = join("c", group);
        var other = join("x", new ShimGroup("runc/namespace/other", 2));
        assertSame(a.shim(), b.shim(), "a and b share a shim");
        assertNotSame(a.shim(), c.shim(), "the full group starts a second one");
        assertNotSame(a.shim(), other.shim(), "another namespace, another shim");
        assertEquals(3, launched.size());
        assertEquals(Map.of(a.shimId(), Set.of("a", "b"), c.shimId(), Set.of("c"), other.shimId(), Set.of("x")),
                groups.members());
        // b leaves: its place is free for the next pod of the group
        b.shutdown();
        assertSame(a.shim(), join("d", group).shim());
    }

    @Test
    void theShimShutsDownWithItsLastPodOnly() throws Exception {
        var group = new ShimGroup("runc/namespace/default", 3);
        var a = join("a", group);
        var b = join("b", group);
        var shim = (FakeTaskService) a.shim();
        a.shutdown();
        a.shutdown(); // idempotent: b stays
        assertTrue(shim.isAlive());
        assertEquals(0, shim.count("shutdown"), "no Shutdown while b runs in it");
        assertFalse(a.isAlive(), "a has left");
        assertTrue(b.isAlive());
        assertEquals(List.of(), retired);
        b.shutdown();
        assertEquals(1, shim.count("shutdown"));
        assertEquals(List.of(a.shimId()), retired);
        assertEquals(Map.of(), groups.members());
        assertNotSame(shim, join("c", group).shim(), "a shut-down shim takes no pod");
    }

    @Test
    void aDeadSharedShimTakesNoNewPodAndGoesWithItsLastPod() throws Exception {
        var group = new ShimGroup("runc/namespace/default", 10);
        var a = join("a", group);
        var b = join("b", group);
        var shim = (FakeTaskService) a.shim();
        shim.die();
        var c = join("c", group);
        assertNotSame(shim, c.shim(), "the next pod of the group gets a new shim");
        assertTrue(c.isAlive());
        a.close(); // StopPodSandbox of a pod whose shim died: its task cleaned up, then close
        assertEquals(List.of(), retired);
        b.close();
        assertEquals(List.of(a.shimId()), retired, "the dead shim's files go with its last pod");
        assertEquals(0, shim.count("shutdown"), "a dead shim is not asked to shut down");
        assertEquals(Set.of(c.shimId()), groups.shimIds());
    }

    @Test
    void closeLeavesALiveSharedShimRunning() throws Exception {
        var group = new ShimGroup("runc/namespace/default", 10);
        var a = join("a", group);
        a.close(); // daemon shutdown: the pod keeps running in its shim
        assertTrue(a.isAlive());
        assertEquals(Set.of(a.shimId()), groups.shimIds());
        assertEquals(List.of(), retired);
    }

    @Test
    void aPodStartsInAShimWhereNoOtherPodIsStarting() throws Exception {
        var group = new ShimGroup("runc/namespace/default", 10);
        var a = joinStarting("a", group);
        var b = joinStarting("b", group);
        assertNotSame(a.shim(), b.shim(), "a is starting in its shim: b starts a shim of its own");
        a.create("a", dir, List.of(), dev.bollard.daemon.shim.TaskIo.NONE);
        a.start("a", "");
        var c = joinStarting("c", group);
        assertSame(a.shim(), c.shim(), "a has started: c goes to its shim, not b's, where b is still starting");
        var d = joinStarting("d", group);
        assertEquals(3, launched.size(), "c starts in a's shim, b in its own: d starts a third");
        d.shutdown(); // d's start failed: its shim goes with it, and its start no longer counts
        b.create("b", dir, List.of(), dev.bollard.daemon.shim.TaskIo.NONE);
        b.start("b", "");
        assertSame(b.shim(), joinStarting("e", group).shim(), "b has started: its shim has room and no pod starting");
        assertEquals(3, launched.size());
    }

    @Test
    void podsStartingAtOnceEachStartInAShimOfTheirOwn() throws Exception {
        var group = new ShimGroup("runc/namespace/default", 8);
        var starts = new AtomicInteger();
        var go = new CountDownLatch(1);
        var members = Collections.synchronizedList(new ArrayList<ShimGroups.Member>());
        var threads = new ArrayList<Thread>();
        for (int i = 0; i < 8; i++) {
            String pod = "p" + i;
            threads.add(Thread.ofVirtual().start(() -> {
                try {
                    go.await();
                    members.add(groups.join(pod, group, id -> {
                        starts.incrementAndGet();
                        Thread.sleep(50); // a shim start takes a while
                        return new FakeTaskService();
                    }));
                } catch (Exception e) {
                    throw new AssertionError(e);
                }
            }));
        }
        go.countDown();
        for (var t : threads) {
            t.join(Duration.ofSeconds(10));
        }
        assertEquals(8, members.size());
        assertEquals(8, starts.get(), "the shim creates one task at a time: one starting pod per shim");
        assertEquals(8, members.stream().map(ShimGroups.Member::shim).distinct().count());
    }

    @Test
    void aFailedStartFailsItsPodAndLeavesNoGroup() throws Exception {
        var group = new ShimGroup("runc/namespace/default", 4);
        var e = assertThrows(java.io.IOException.class, () -> groups.join("a", group, id -> {
            throw new java.io.IOException("no shim binary");
        }));
        assertEquals("no shim binary", e.getMessage());
        assertEquals(Map.of(), groups.members());
        assertTrue(join("b", group).isAlive(), "the next pod tries again");
    }

    @Test
    void podsRejoinTheirShimAfterARestartOverOneConnection() throws Exception {
        var group = new ShimGroup("runc/namespace/default", 3);
        var connects = new AtomicInteger();
        var shim = new FakeTaskService();
        ShimGroups.Connector connector = id -> {
            connects.incrementAndGet();
            return shim;
        };
        var a = groups.rejoin("a", "group-1", group, connector);
        var b = groups.rejoin("b", "group-1", group, connector);
        assertEquals(1, connects.get());
        assertSame(shim, a.shim());
        assertSame(shim, b.shim());
        assertSame(shim, join("c", group).shim(), "the recovered shim takes the group's new pods while it has room");
        assertNotSame(shim, join("d", group).shim());
    }

    // The lifecycle with a handler that shares shims, against the fake task services.

    @Test
    void podsOfANamespaceShareAShimThatStopsWithTheLast() throws Exception {
        var f = new LifecycleFixture(dir, null, "pods_per_shim = 2\n");
        var a = f.runPod("a");
        var b = f.runPod("b");
        var c = f.runPod("c");
        assertSame(f.shimOf(a), f.shimOf(b));
        assertNotSame(f.shimOf(a), f.shimOf(c));
        assertEquals(2, f.tasks.shared.size());
        var shim = f.shimOf(a);
        var ca = f.createdContainer(a, "app");
        f.lifecycle.startContainer().start(ca.id());
        var cb = f.createdContainer(b, "app");
        f.lifecycle.startContainer().start(cb.id());
        f.lifecycle.removePod().remove(a.id());
        assertTrue(shim.isAlive(), "b still runs in it");
        assertEquals(ContainerState.RUNNING, cb.state());
        assertFalse(shim.has(ca.id()), "a's container task deleted");
        assertFalse(shim.has(a.id()), "a's infra task deleted");
        assertTrue(shim.has(b.id()));
        assertEquals(0, shim.count("shutdown"));
        f.lifecycle.removePod().remove(b.id());
        assertEquals(1, shim.count("shutdown"), "the last pod shuts the shim down");
        f.lifecycle.removePod().remove(c.id());
        assertTrue(f.noPodFiles());
        assertTrue(f.host.clean());
        assertEquals(2, f.tasks.retired.size());
    }

    @Test
    void aSharedShimThatDiesEndsEveryContainerOfItsPodsAndTheNextPodGetsANewShim() throws Exception {
        var f = new LifecycleFixture(dir, null, "pods_per_shim = 10\n");
        var pods = List.of(f.runPod("a"), f.runPod("b"), f.runPod("c"));
        var shim = f.shimOf(pods.getFirst());
        var containers = new ArrayList<dev.bollard.daemon.container.Container>();
        for (var p : pods) {
            assertSame(shim, f.shimOf(p));
            var c = f.createdContainer(p, "app");
            f.lifecycle.startContainer().start(c.id());
            containers.add(c);
        }
        shim.die();
        for (var c : containers) {
            assertTrue(c.awaitExit(Duration.ofSeconds(10)));
            assertEquals(255, c.record().exitCode());
            assertEquals("Error", c.record().reason());
            assertTrue(f.tasks.cleanedUp.contains(c.id()), "shim delete on its bundle: " + f.tasks.cleanedUp);
        }
        for (var p : pods) {
            long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
            while (p.ready() && System.nanoTime() < deadline) {
                Thread.sleep(5);
            }
            assertEquals(SandboxState.NOTREADY, p.record().state());
        }
        var d = f.runPod("d");
        assertNotSame(shim, f.shimOf(d), "the group's next pod gets a new shim");
        for (var p : pods) {
            f.lifecycle.removePod().remove(p.id());
        }
        assertEquals(1, f.tasks.retired.size(), "the dead shim retired with its last pod");
        f.lifecycle.removePod().remove(d.id());
        assertTrue(f.noPodFiles());
        assertTrue(f.host.clean());
    }

    @Test
    void aPodWhoseStateTheSharedShimCannotTellAfterARestartLeavesItAndTheShimStillGoesWithItsLastPod()
            throws Exception {
        var before = new LifecycleFixture(dir, null, "pods_per_shim = 10\n");
        var pods = List.of(before.runPod("a"), before.runPod("b"), before.runPod("c"));
        var shim = before.shimOf(pods.getFirst());
        String shimId = before.tasks.shared.keySet().iterator().next();
        assertEquals(Set.of(shimId), before.tasks.shared.keySet());
        before.lifecycle.exitWatch().detach();

        var after = new LifecycleFixture(dir, before, "pods_per_shim = 10\n");
        after.tasks.shared.put(shimId, shim);
        pods.forEach(p -> after.tasks.rejoining.put(p.id(), shimId));
        var a = pods.getFirst().id();
        shim.failingStateOf.add(a);
        after.lifecycle.recover();
        assertEquals(SandboxState.NOTREADY, after.lifecycle.sandboxes().get(a).record().state());
        assertTrue(after.tasks.cleanedUp.contains(a), "shim delete on a's bundle: " + after.tasks.cleanedUp);
        for (var p : pods.subList(1, 3)) {
            assertEquals(SandboxState.READY, after.lifecycle.sandboxes().get(p.id()).record().state());
        }
        assertEquals(Map.of(shimId, Set.of(pods.get(1).id(), pods.get(2).id())), after.tasks.groups.members(),
                "a has left the shared shim; b and c are still in it");
        assertTrue(shim.isAlive());
        assertEquals(0, shim.count("shutdown"), "b and c still run in it");

        for (var p : pods) {
            after.lifecycle.removePod().remove(p.id());
        }
        assertEquals(1, shim.count("shutdown"), "the shim shuts down with its last pod");
        assertEquals(List.of(shimId), after.tasks.retired);
        assertEquals(Map.of(), after.tasks.groups.members());
        assertTrue(after.noPodFiles());
    }

    @Test
    void aSharedShimWhoseOnlyPodLeftAtRecoveryIsNoLongerOfferedAndLeftToTheLeakScan() throws Exception {
        var group = new ShimGroup("runc/namespace/default", 10);
        var shim = new FakeTaskService();
        var a = groups.rejoin("a", "group-1", group, id -> shim);
        a.abandon();
        a.abandon(); // idempotent
        assertFalse(a.isAlive());
        assertEquals(Set.of(), groups.shimIds(), "no pod in it: ShimManager.killStray kills it after recovery");
        assertEquals(0, shim.count("shutdown"), "the group's other pods may still be rejoining it");
        assertEquals(List.of(), retired, "its files stay until the leak scan");
        assertEquals(1, shim.count("close"), "its connection closed");
        var b = groups.rejoin("b", "group-1", group, id -> shim);
        assertEquals(Map.of("group-1", Set.of("b")), groups.members(), "a pod rejoining later still finds it");
        b.shutdown();
        assertEquals(List.of("group-1"), retired);
    }

    @Test
    void aSharedPodIsAnOrdinaryTaskService() throws Exception {
        var f = new LifecycleFixture(dir, null, "pods_per_shim = 2\n");
        var a = f.runPod("a");
        TaskService member = a.shim();
        assertTrue(member instanceof ShimGroups.Member, "the pod holds its place in the shared shim: " + member);
    }
}
