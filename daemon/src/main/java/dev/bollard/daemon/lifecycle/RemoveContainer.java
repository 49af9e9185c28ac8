package dev.bollard.daemon.lifecycle;

import dev.bollard.daemon.container.ContainerState;
import dev.bollard.daemon.container.ContainerStore;
import dev.bollard.daemon.log.Log;
import dev.bollard.daemon.sandbox.LifecycleEvent;
import dev.bollard.daemon.sandbox.Sandbox;
import dev.bollard.daemon.sandbox.SandboxStore;
import dev.bollard.daemon.store.CrashPoints;

import java.io.IOException;

/** RemoveContainer: the container killed if it runs, its task, mounts, directories and record removed. Idempotent. */
public final class RemoveContainer {

    private static final Log LOG = Log.get("container");

    private final Layout layout;
    private final ContainerStore containers;
    private final SandboxStore sandboxes;
    private final StopContainer stopContainer;

    public RemoveContainer(Layout layout, ContainerStore containers, SandboxStore sandboxes, StopContainer stopContainer) {
        this.layout = layout;
        this.containers = containers;
        this.sandboxes = sandboxes;
        this.stopContainer = stopContainer;
    }

    public void remove(String idOrPrefix) throws IOException, InterruptedException {
        var found = containers.find(idOrPrefix);
        if (found.isEmpty()) {
            return;
        }
        var c = found.get();
        stopContainer.stop(c, 0);
        c.lock().lock();
        try {
            if (!containers.contains(c.id())) {
                return;
            }
            // A task left behind (an exit whose delete failed) would keep the rootfs mounted.
            if (c.state() != ContainerState.CREATED && !c.isTaskDeleted()) {
                sandboxes.find(c.record().sandboxId()).map(Sandbox::shim)
                        .ifPresent(shim -> Tasks.deleteQuietly(shim, c.id()));
            }
            // A shim that died (or was killed) before deleting the task leaves the rootfs mounted, and Bollard's own
            // image volumes and idmapped mounts are still there: unmount them here rather than leak them (FileTrees
            // refuses to delete through a mount). A statx per place a mount can be; mountinfo only if one is.
            Tasks.unmountContainerLeftovers(layout.containerBundle(c.id()));
            CrashPoints.hit("RemoveContainer.afterTaskDelete");
            // The root dir first: the bundle (state dir) going is what tells a restart the removal had begun. Each is
            // one rename into the trash; the trees are deleted off the call.
            layout.trash().discard(layout.containerDir(c.id()));
            layout.trash().discard(layout.containerBundle(c.id()));
            CrashPoints.hit("RemoveContainer.afterDirs");
            containers.remove(c);
            LOG.info("container removed", "id", c.id());
            containers.tell(c, LifecycleEvent.DELETED);
            sandboxes.find(c.record().sandboxId())
                    .ifPresent(pod -> dev.bollard.daemon.nri.NriHooks.current().containerEvent(dev.bollard.api.nri.v1alpha1.Event.REMOVE_CONTAINER, pod, c));
        } finally {
            c.lock().unlock();
        }
    }
}
