package dev.bollard.daemon.lifecycle;

import dev.bollard.daemon.container.ContainerStore;
import dev.bollard.daemon.log.Log;
import dev.bollard.daemon.sandbox.LifecycleEvent;
import dev.bollard.daemon.sandbox.Sandbox;
import dev.bollard.daemon.sandbox.SandboxStore;
import dev.bollard.daemon.store.CrashPoints;

import java.io.IOException;

/**
 * RemovePodSandbox: the pod stopped, its containers removed ({@link RemoveContainer}), its directories, the cgroup
 * parent Bollard made and its record deleted. Idempotent.
 */
public final class RemovePodSandbox {

    private static final Log LOG = Log.get("sandbox");

    private final Layout layout;
    private final PodHost host;
    private final SandboxStore sandboxes;
    private final ContainerStore containers;
    private final StopPodSandbox stopPod;
    private final RemoveContainer removeContainer;

    public RemovePodSandbox(Layout layout, PodHost host, SandboxStore sandboxes, ContainerStore containers,
                            StopPodSandbox stopPod, RemoveContainer removeContainer) {
        this.layout = layout;
        this.host = host;
        this.sandboxes = sandboxes;
        this.containers = containers;
        this.stopPod = stopPod;
        this.removeContainer = removeContainer;
    }

    public void remove(String idOrPrefix) throws IOException, InterruptedException {
        sandboxes.ifPresentLocked(idOrPrefix, this::removeLocked); // a pod removed meanwhile: nothing left to do
    }

    /** Called with the pod's lock held. */
    void removeLocked(Sandbox sandbox) throws IOException, InterruptedException {
        stopPod.stopLocked(sandbox);
        for (var c : containers.ofPod(sandbox.id())) {
            removeContainer.remove(c.id());
        }
        CrashPoints.hit("RemovePodSandbox.afterContainers");
        var r = sandbox.record();
        var leftovers = host.unmountBelow(layout.podBundle(r.id()));
        if (!leftovers.isEmpty()) {
            LOG.warn("unmounted what the pod's shim left mounted", "id", r.id(), "mounts", leftovers);
        }
        layout.trash().discard(layout.podBundle(r.id())); // renamed away here, deleted off the call
        layout.trash().discard(layout.podDir(r.id()));
        CrashPoints.hit("RemovePodSandbox.afterDirs");
        if (r.ownCgroupParent()) {
            var left = host.removeCgroup(r.cgroupParent());
            if (!left.isEmpty()) {
                LOG.warn("pod cgroup not removed (still in use?)", "id", r.id(), "dirs", left);
            }
            if (r.cgroupParent().startsWith(RunPodSandbox.DEFAULT_CGROUP_PARENT + "/")) {
                host.removeCgroupIfEmpty(RunPodSandbox.DEFAULT_CGROUP_PARENT); // the last pod takes the shared parent with it
            }
        }
        CrashPoints.hit("RemovePodSandbox.afterCgroup");
        sandboxes.remove(sandbox);
        LOG.info("pod sandbox removed", "id", r.id());
        sandboxes.tell(sandbox, LifecycleEvent.DELETED);
        dev.bollard.daemon.nri.NriHooks.current().podEvent(dev.bollard.api.nri.v1alpha1.Event.REMOVE_POD_SANDBOX, sandbox);
    }
}
