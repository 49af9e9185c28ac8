package dev.bollard.daemon.lifecycle;

import com.google.gson.JsonObject;
import dev.bollard.api.cri.v1.LinuxContainerResources;
import dev.bollard.daemon.container.ContainerState;
import dev.bollard.daemon.container.ContainerStore;
import dev.bollard.daemon.errors.FailedPreconditionException;
import dev.bollard.daemon.oci.SpecBuilder;
import dev.bollard.daemon.sandbox.SandboxStore;
import dev.bollard.daemon.store.AtomicFiles;
import dev.bollard.daemon.store.ProtoJson;

import java.io.IOException;
import java.nio.charset.StandardCharsets;

/**
 * UpdateContainerResources: applied to the running task, merged into the bundle's spec, and kept in the record so a
 * restarted daemon reports them.
 */
public final class UpdateContainerResources {

    private final Layout layout;
    private final ContainerStore containers;
    private final SandboxStore sandboxes;
    private final SpecBuilder specs;

    public UpdateContainerResources(Layout layout, ContainerStore containers, SandboxStore sandboxes, SpecBuilder specs) {
        this.layout = layout;
        this.containers = containers;
        this.sandboxes = sandboxes;
        this.specs = specs;
    }

    public void update(String idOrPrefix, LinuxContainerResources resources) throws IOException {
        var c = containers.get(idOrPrefix);
        c.lock().lock();
        try {
            if (c.state() != ContainerState.CREATED && c.state() != ContainerState.RUNNING) {
                throw new FailedPreconditionException("container " + c.id() + " is " + Tasks.describe(c.state())
                        + "; only created or running containers can be updated");
            }
            // NRI plugins may change what is applied (each waited for at most its request timeout)
            resources = dev.bollard.daemon.nri.NriHooks.current().updateContainer(sandboxes.get(c.record().sandboxId()), c, resources);
            var updated = specs.linuxResources(resources);
            if (c.state() == ContainerState.RUNNING) {
                ExecContainer.runningShim(c, sandboxes).update(c.id(),
                        updated.toJson().toString().getBytes(StandardCharsets.UTF_8));
            }
            JsonObject spec = SpecBuilder.withResources(c.spec(), updated);
            AtomicFiles.write(layout.containerBundle(c.id()).resolve("config.json"),
                    spec.toString().getBytes(StandardCharsets.UTF_8));
            c.spec(spec);
            c.resources(resources);
            var applied = resources;
            containers.update(c, r -> r.withResources(ProtoJson.toJson(applied))); // a restarted daemon reports them
            dev.bollard.daemon.nri.NriHooks.current().containerEvent(dev.bollard.api.nri.v1alpha1.Event.POST_UPDATE_CONTAINER, sandboxes.get(c.record().sandboxId()), c);
        } finally {
            c.lock().unlock();
        }
    }
}
