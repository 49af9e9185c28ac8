package dev.bollard.daemon.lifecycle;

import dev.bollard.daemon.container.ContainerState;
import dev.bollard.daemon.sandbox.SandboxState;
import dev.bollard.daemon.shim.TaskIo;
import dev.bollard.daemon.shim.TaskState;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** What a restarted daemon decides for each pod and container, from their records and what their shims say. */
class RecoveryTest {

    @TempDir
    Path dir;

    @Test
    void podDecisions() {
        assertEquals(SandboxRecovery.Decision.ROLL_BACK, SandboxRecovery.decide(true, true));
        assertEquals(SandboxRecovery.Decision.ROLL_BACK, SandboxRecovery.decide(true, false));
        assertEquals(SandboxRecovery.Decision.FINISH_REMOVAL, SandboxRecovery.decide(false, false));
        assertEquals(SandboxRecovery.Decision.RECONNECT, SandboxRecovery.decide(false, true));
    }

    @Test
    void createdContainerDecisions() {
        assertEquals(ContainerRecovery.CreatedDecision.KEEP_CREATED, ContainerRecovery.decideCreated(null));
        for (var s : List.of(TaskState.Status.CREATED, TaskState.Status.UNKNOWN)) {
            assertEquals(ContainerRecovery.CreatedDecision.ROLL_BACK_TASK,
                    ContainerRecovery.decideCreated(new TaskState("c", s, 0, 0, Instant.EPOCH)));
        }
        for (var s : List.of(TaskState.Status.RUNNING, TaskState.Status.STOPPED, TaskState.Status.PAUSED)) {
            assertEquals(ContainerRecovery.CreatedDecision.COMPLETE_START,
                    ContainerRecovery.decideCreated(new TaskState("c", s, 9, 0, Instant.EPOCH)));
        }
    }

    @Test
    void aDetachedDaemonWritesNoExitItHearsOfAfterwards() throws Exception {
        var before = new LifecycleFixture(dir);
        var pod = before.runPod("web");
        var app = before.createdContainer(pod, "app");
        before.lifecycle.startContainer().start(app.id());
        var shim = before.shimOf(pod);
        before.lifecycle.exitWatch().detach();

        shim.exit(app.id(), 3); // heard by the detached daemon's watchers only
        shim.exit(pod.id(), 0);
        Thread.sleep(300); // the watchers wake at once; an exit they wrote would show below (record and memory)
        assertEquals(ContainerState.RUNNING, before.lifecycle.containers().get(app.id()).state(),
                "the record stays as the detach left it, for the next daemon to reconcile");
        assertEquals(SandboxState.READY, before.lifecycle.sandboxes().get(pod.id()).record().state());
    }

    @Test
    void aReachableShimKeepsPodAndContainerRunning() throws Exception {
        var before = new LifecycleFixture(dir);
        var pod = before.runPod("web");
        var running = before.createdContainer(pod, "app");
        before.lifecycle.startContainer().start(running.id());
        var halfStarted = before.createdContainer(pod, "half");
        var shim = before.shimOf(pod);
        shim.create(halfStarted.id(), dir, List.of(), new TaskIo("", "", "", false), null); // a start cut short
        before.lifecycle.exitWatch().detach();

        var after = new LifecycleFixture(dir, before);
        after.tasks.reachable.put(pod.id(), shim);
        after.lifecycle.recover();
        var p = after.lifecycle.sandboxes().get(pod.id());
        assertEquals(SandboxState.READY, p.record().state());
        assertEquals(ContainerState.RUNNING, after.lifecycle.containers().get(running.id()).state());
        assertEquals(running.record().pid(), after.lifecycle.containers().get(running.id()).record().pid());
        var half = after.lifecycle.containers().get(halfStarted.id());
        assertEquals(ContainerState.CREATED, half.state(), "rolled back to startable");
        assertFalse(shim.has(halfStarted.id()), "its created task deleted");
        assertTrue(after.lifecycle.containers().reserveName(running.record().name(), "x").isPresent(),
                "names reserved again");
    }

    @Test
    void aPodsContainersAreRecoveredWithoutWaitingForASlowerPod() throws Exception {
        var before = new LifecycleFixture(dir);
        var slowPod = before.runPod("slow");
        var slowApp = before.createdContainer(slowPod, "app");
        before.lifecycle.startContainer().start(slowApp.id());
        var quickPod = before.runPod("quick");
        var quickApp = before.createdContainer(quickPod, "app");
        before.lifecycle.startContainer().start(quickApp.id());
        var slowShim = before.shimOf(slowPod);
        var quickShim = before.shimOf(quickPod);
        before.lifecycle.exitWatch().detach();

        // the slow pod's shim answers only once the quick pod's container was asked for: with a barrier between
        // the pods and the containers that never comes, and the slow pod's state call gives up (its pod NOTREADY)
        var quickContainerAsked = new java.util.concurrent.CountDownLatch(1);
        quickShim.beforeState = id -> {
            if (id.equals(quickApp.id())) {
                quickContainerAsked.countDown();
            }
        };
        slowShim.beforeState = id -> {
            try {
                if (id.equals(slowPod.id()) && !quickContainerAsked.await(60, java.util.concurrent.TimeUnit.SECONDS)) {
                    throw new java.io.UncheckedIOException(new java.io.IOException("fake shim: state timed out"));
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        };
        var after = new LifecycleFixture(dir, before);
        after.tasks.reachable.put(slowPod.id(), slowShim);
        after.tasks.reachable.put(quickPod.id(), quickShim);
        after.lifecycle.recover();
        for (var pod : List.of(slowPod, quickPod)) {
            assertEquals(SandboxState.READY, after.lifecycle.sandboxes().get(pod.id()).record().state());
        }
        for (var c : List.of(slowApp, quickApp)) {
            assertEquals(ContainerState.RUNNING, after.lifecycle.containers().get(c.id()).state());
        }
    }

    @Test
    void aGoneShimMakesThePodNotReadyAndItsContainersExited() throws Exception {
        var before = new LifecycleFixture(dir);
        var pod = before.runPod("web");
        var c = before.createdContainer(pod, "app");
        before.lifecycle.startContainer().start(c.id());
        before.lifecycle.exitWatch().detach();

        var after = new LifecycleFixture(dir, before); // nothing reachable
        after.lifecycle.recover();
        assertEquals(SandboxState.NOTREADY, after.lifecycle.sandboxes().get(pod.id()).record().state());
        var r = after.lifecycle.containers().get(c.id()).record();
        assertEquals(ContainerState.EXITED, r.state());
        assertEquals(255, r.exitCode());
        assertEquals("Unknown", r.reason());
        assertTrue(after.tasks.cleanedUp.containsAll(List.of(pod.id(), c.id())), after.tasks.cleanedUp.toString());
    }

    @Test
    void anUnfinishedRunIsRolledBack() throws Exception {
        var before = new LifecycleFixture(dir);
        var draft = dev.bollard.daemon.sandbox.SandboxRecord.builder().id("d".repeat(64)).name("web_default_uid_0")
                .config(new com.google.gson.JsonObject()).runtimeHandler("fake").state(SandboxState.NOTREADY)
                .netns(before.lifecycle.layout().netns("d".repeat(64)).toString()).cgroupParent("/bollard/" + "d".repeat(64))
                .ownCgroupParent(true).createdAt(1).build();
        before.lifecycle.sandboxes().writeDraft(draft);
        Files.createDirectories(before.lifecycle.layout().podBundle(draft.id()));

        var after = new LifecycleFixture(dir, before);
        after.lifecycle.recover();
        assertTrue(after.lifecycle.sandboxes().list().isEmpty());
        assertTrue(after.noPodFiles());
        assertTrue(after.host.calls.contains("networkDown"), "CNI DEL for an ADD that may have run: " + after.host.calls);
        assertTrue(after.host.cgroupsRemoved.contains(draft.cgroupParent()));
        assertTrue(after.lifecycle.sandboxes().reserveName(draft.name(), "x").isEmpty(), "the name is free");
    }

    @Test
    void anOrphanContainerIsRemoved() throws Exception {
        var before = new LifecycleFixture(dir);
        var pod = before.runPod("web");
        var c = before.createdContainer(pod, "app");
        before.lifecycle.sandboxes().deleteRecord(pod.id()); // the pod's record gone, the container's left
        var after = new LifecycleFixture(dir, before);
        after.lifecycle.recover();
        assertTrue(after.lifecycle.containers().list().isEmpty());
        assertTrue(after.lifecycle.containers().loadAll().isEmpty());
        assertFalse(Files.exists(after.lifecycle.layout().containerBundle(c.id())));
    }
}
