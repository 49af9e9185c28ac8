package dev.bollard.daemon.lifecycle;

import dev.bollard.daemon.container.ContainerStore;
import dev.bollard.daemon.log.Log;
import dev.bollard.daemon.sandbox.LifecycleEvent;
import dev.bollard.daemon.sandbox.Sandbox;
import dev.bollard.daemon.sandbox.SandboxState;
import dev.bollard.daemon.sandbox.SandboxStore;
import dev.bollard.daemon.store.CrashPoints;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;

/**
 * StopPodSandbox: every container of the pod stopped ({@link StopContainer}), the infra process killed, the shim
 * shut down while the network is torn down (CNI DEL before the netns goes: the bridge plugin reads the pod's addresses
 * from inside it), the netns and /dev/shm released. Idempotent; a missing sandbox is no error (all its resources are
 * reclaimed already).
 */
public final class StopPodSandbox {

    private static final Log LOG = Log.get("sandbox");
    static final Duration KILL_WAIT = Duration.ofSeconds(10);

    private final Layout layout;
    private final Handlers handlers;
    private final PodHost host;
    private final SandboxStore sandboxes;
    private final ContainerStore containers;
    private final StopContainer stopContainer;

    public StopPodSandbox(Layout layout, Handlers handlers, PodHost host, SandboxStore sandboxes,
                          ContainerStore containers, StopContainer stopContainer) {
        this.layout = layout;
        this.handlers = handlers;
        this.host = host;
        this.sandboxes = sandboxes;
        this.containers = containers;
        this.stopContainer = stopContainer;
    }

    public void stop(String idOrPrefix) throws IOException, InterruptedException {
        sandboxes.ifPresentLocked(idOrPrefix, this::stopLocked); // a pod removed meanwhile: nothing left to do
    }

    /** Called with the pod's lock held. */
    void stopLocked(Sandbox sandbox) throws IOException, InterruptedException {
        String id = sandbox.id();
        for (var c : containers.ofPod(id)) {
            stopContainer.stop(c, 0);
        }
        CrashPoints.hit("StopPodSandbox.afterContainers");
        // CNI DEL runs while the infra task is killed and the shim shut down: neither needs the other (the netns stays
        // pinned until both are done, so the bridge plugin still finds the pod's addresses inside it), and the two
        // one after the other were most of the call's time.
        var networkDown = sandbox.record().networkUp() ? startNetworkDown(sandbox) : null;
        try {
            stopInfra(sandbox, id);
        } catch (IOException | RuntimeException | InterruptedException e) {
            if (networkDown != null) {
                awaitQuietly(networkDown); // nothing of this call runs on after it has failed
            }
            throw e;
        }
        var r = sandbox.record();
        boolean wasReady = sandbox.ready(); // under the pod's lock: an infra exit cannot report it meanwhile
        if (wasReady) {
            r = r.with(SandboxState.NOTREADY);
        }
        if (networkDown != null) {
            try {
                Parallel.await(networkDown);
            } catch (IOException e) { // kubelet retries the stop: the netns and the record of the network stay for it
                var notReady = r;
                sandboxes.update(sandbox, old -> notReady);
                if (wasReady) {
                    sandboxes.tell(sandbox, LifecycleEvent.STOPPED);
                }
                throw e;
            }
            CrashPoints.hit("StopPodSandbox.afterNetworkDown");
            r = r.withNetworkDown();
        }
        var stopped = r;
        sandboxes.update(sandbox, old -> stopped);
        CrashPoints.hit("StopPodSandbox.afterRecord");
        if (!stopped.netns().isEmpty()) {
            host.removeNetns(Path.of(stopped.netns()));
        }
        host.unmountBelow(layout.podBundle(id).resolve("shm"));
        LOG.info("pod sandbox stopped", "id", id);
        if (wasReady) {
            sandboxes.tell(sandbox, LifecycleEvent.STOPPED);
            dev.bollard.daemon.nri.NriHooks.current().podEvent(dev.bollard.api.nri.v1alpha1.Event.STOP_POD_SANDBOX, sandbox);
        }
    }

    /** The infra task killed and deleted, the shim shut down and let go. */
    private void stopInfra(Sandbox sandbox, String id) throws IOException, InterruptedException {
        var shim = sandbox.shim();
        if (shim != null) {
            if (shim.isAlive()) {
                Tasks.killAndDelete(shim, id);
                shim.shutdown();
                CrashPoints.hit("StopPodSandbox.afterShimShutdown");
            } else {
                handlers.cleanupDeadTask(sandbox, id, layout.podBundle(id)); // the shim died: kill what is left, unmount
            }
            shim.close();
            sandbox.shim(null);
        }
    }

    private FutureTask<Void> startNetworkDown(Sandbox sandbox) {
        var request = RunPodSandbox.networkRequest(sandbox.id(), sandbox.config(), Path.of(sandbox.record().netns()));
        var task = new FutureTask<Void>(() -> {
            host.networkDown(request);
            return null;
        });
        Thread.ofVirtual().name("cni-del-" + sandbox.id()).start(task);
        return task;
    }

    /** Waits for the DEL even when interrupted (the interrupt is kept); its failure is the retry's to report. */
    private static void awaitQuietly(FutureTask<Void> task) {
        boolean interrupted = false;
        while (true) {
            try {
                task.get();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            } catch (ExecutionException e) {
                LOG.warn("CNI DEL failed", "error", String.valueOf(e.getCause().getMessage()));
                break;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }
}
