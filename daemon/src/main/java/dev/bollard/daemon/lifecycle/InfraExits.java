package dev.bollard.daemon.lifecycle;

import dev.bollard.daemon.log.Log;
import dev.bollard.daemon.sandbox.LifecycleEvent;
import dev.bollard.daemon.sandbox.Sandbox;
import dev.bollard.daemon.sandbox.SandboxState;
import dev.bollard.daemon.sandbox.SandboxStore;

/** A pod's infra process ended (killed by stop, or died): the pod is no longer ready. */
public final class InfraExits {

    private static final Log LOG = Log.get("sandbox");

    private final SandboxStore sandboxes;

    public InfraExits(SandboxStore sandboxes) {
        this.sandboxes = sandboxes;
    }

    public void exited(Sandbox sandbox, int status) {
        if (!sandbox.ready() || !sandboxes.contains(sandbox.id())) {
            return;
        }
        sandbox.lock().lock();
        try {
            if (sandbox.ready()) {
                LOG.info("pod infra process exited", "id", sandbox.id(), "status", status);
                sandboxes.update(sandbox, r -> r.with(SandboxState.NOTREADY));
                sandboxes.tell(sandbox, LifecycleEvent.STOPPED);
            }
        } finally {
            sandbox.lock().unlock();
        }
    }
}
