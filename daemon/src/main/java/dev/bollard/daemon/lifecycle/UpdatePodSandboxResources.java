package dev.bollard.daemon.lifecycle;

import dev.bollard.api.cri.v1.LinuxContainerResources;
import dev.bollard.daemon.errors.FailedPreconditionException;
import dev.bollard.daemon.log.Log;
import dev.bollard.daemon.sandbox.PodResources;
import dev.bollard.daemon.sandbox.SandboxStore;

import java.io.IOException;

/**
 * UpdatePodSandboxResources: the pod's total (containers' sum plus overhead, {@link PodResources#of}) written to its
 * cgroup parent and kept on the sandbox. NOT_FOUND for an unknown pod, FAILED_PRECONDITION for one that is not
 * ready, INVALID_ARGUMENT for a bad value.
 */
public final class UpdatePodSandboxResources {

    private static final Log LOG = Log.get("sandbox");

    private final SandboxStore sandboxes;

    public UpdatePodSandboxResources(SandboxStore sandboxes) {
        this.sandboxes = sandboxes;
    }

    public PodResources update(String idOrPrefix, LinuxContainerResources overhead, boolean hasOverhead,
                               LinuxContainerResources resources, boolean hasResources) throws IOException {
        var sandbox = sandboxes.get(idOrPrefix);
        var total = PodResources.of(overhead, hasOverhead, resources, hasResources);
        sandbox.lock().lock();
        try {
            if (!sandbox.ready()) {
                throw new FailedPreconditionException("pod sandbox " + sandbox.id()
                        + " is not ready; only a ready pod's resources can be updated");
            }
            var written = total.apply(sandbox.record().cgroupParent());
            sandbox.resources(total);
            sandboxes.update(sandbox, r -> r.withResources(total)); // a restarted daemon reports it too
            LOG.info("pod sandbox resources updated", "id", sandbox.id(), "cgroupParent",
                    sandbox.record().cgroupParent(), "files", written.size());
            return total;
        } finally {
            sandbox.lock().unlock();
        }
    }
}
