package dev.bollard.daemon.lifecycle;

import dev.bollard.daemon.container.ContainerStore;
import dev.bollard.daemon.image.ImageManager;
import dev.bollard.daemon.oci.SpecBuilder;
import dev.bollard.daemon.runtime.RuntimeHandlers;
import dev.bollard.daemon.sandbox.SandboxStore;
import dev.bollard.daemon.shim.TaskServices;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Clock;

/**
 * The pod and container lifecycle, wired: one object per CRI operation, the stores they share, and what reacts to
 * exits and restarts. Built in two steps because the shims' events need {@link ContainerExits} before the shims
 * exist: {@link Stores#open}, then the task services (given {@code stores.exits()}), then {@link #wire}.
 */
public record Lifecycle(Layout layout, SandboxStore sandboxes, ContainerStore containers, Handlers handlers,
                        RunPodSandbox runPod, StopPodSandbox stopPod, RemovePodSandbox removePod,
                        UpdatePodSandboxResources updatePodResources, CreateContainer createContainer,
                        StartContainer startContainer, StopContainer stopContainer, RemoveContainer removeContainer,
                        ExecContainer execContainer, UpdateContainerResources updateContainerResources,
                        CheckpointContainer checkpointContainer, ReopenContainerLog reopenContainerLog,
                        ContainerExits containerExits, InfraExits infraExits, ExitWatch exitWatch,
                        SandboxRecovery sandboxRecovery, ContainerRecovery containerRecovery) {

    /** The stores and the exit handling, which the task services report to. */
    public record Stores(Layout layout, SandboxStore sandboxes, ContainerStore containers, InfraExits infraExits,
                         ContainerExits exits, Clock clock) {

        public static Stores open(Path root, Path state, Clock clock) throws IOException {
            var layout = Layout.create(root, state);
            layout.trash().sweep();
            var sandboxes = new SandboxStore(layout.sandboxRecords());
            var containers = new ContainerStore(layout.containerRecords());
            var infra = new InfraExits(sandboxes);
            return new Stores(layout, sandboxes, containers, infra,
                    new ContainerExits(containers, sandboxes, infra, clock), clock);
        }
    }

    /** Every operation, on the stores and the task services. */
    public static Lifecycle wire(Stores stores, TaskServices tasks, RuntimeHandlers runtimeHandlers, PodHost host,
                                 SpecBuilder specs, ImageManager images, InfraImage infraImage, int maxLogLineBytes) {
        var layout = stores.layout();
        var sandboxes = stores.sandboxes();
        var containers = stores.containers();
        var clock = stores.clock();
        var handlers = new Handlers(runtimeHandlers, tasks);
        var watch = new ExitWatch(containers, sandboxes, stores.exits(), stores.infraExits(), handlers, layout, clock);
        var stopContainer = new StopContainer(containers, sandboxes, stores.exits(), watch, clock);
        var removeContainer = new RemoveContainer(layout, containers, sandboxes, stopContainer);
        var stopPod = new StopPodSandbox(layout, handlers, host, sandboxes, containers, stopContainer);
        var removePod = new RemovePodSandbox(layout, host, sandboxes, containers, stopPod, removeContainer);
        images.snapshotsInUse(containers::snapshotsInUse);
        return new Lifecycle(layout, sandboxes, containers, handlers,
                new RunPodSandbox(layout, handlers, host, specs, infraImage, sandboxes, watch, clock),
                stopPod, removePod, new UpdatePodSandboxResources(sandboxes),
                new CreateContainer(layout, handlers, containers, sandboxes, images, specs, infraImage.reference(),
                        clock),
                new StartContainer(layout, containers, sandboxes, watch, maxLogLineBytes, clock),
                stopContainer, removeContainer, new ExecContainer(layout, containers, sandboxes),
                new UpdateContainerResources(layout, containers, sandboxes, specs),
                new CheckpointContainer(layout, handlers, containers, sandboxes, clock),
                new ReopenContainerLog(containers), stores.exits(), stores.infraExits(), watch,
                new SandboxRecovery(layout, handlers, sandboxes, watch, removePod),
                new ContainerRecovery(layout, handlers, containers, sandboxes, watch, maxLogLineBytes, clock));
    }

    /**
     * After a restart, before the CRI is served: the pods, then their containers.
     *
     * @return the milliseconds each took
     */
    public long[] recover() throws IOException, InterruptedException {
        long t0 = System.nanoTime();
        // Each pod's containers right after the pod, on its thread: no barrier waiting for the slowest pod.
        var containersByPod = containerRecovery.loadByPod();
        var lastPodDone = new java.util.concurrent.atomic.AtomicLong(t0);
        sandboxRecovery.recover(podId -> {
            lastPodDone.accumulateAndGet(System.nanoTime(), Math::max);
            containerRecovery.recoverPod(podId, containersByPod);
        });
        containerRecovery.finish(containersByPod);
        long t1 = lastPodDone.get();
        return new long[] {(t1 - t0) / 1_000_000, (System.nanoTime() - t1) / 1_000_000};
    }
}
