package dev.bollard.daemon.stats;

import dev.bollard.api.containerd.cgroups.v2.Metrics;
import dev.bollard.daemon.runtime.RuntimeHandlers;
import dev.bollard.daemon.sandbox.SandboxStore;

import java.io.IOException;
import java.util.Optional;

/**
 * The figures of a VM pod's containers: their cgroups are in the guest, so the host's read nothing; the VM shim's
 * Stats call answers from there ({@code io.containerd.cgroups.v2.Metrics}). A pod is a VM pod when its handler
 * has VM settings ({@code [runtimes.<name>]} with the VM shim).
 */
public final class ShimGuestStats implements StatsCollector.GuestSource {

    static final String V2_METRICS = "io.containerd.cgroups.v2.Metrics";

    private final SandboxStore sandboxes;
    private final RuntimeHandlers handlers;

    public ShimGuestStats(SandboxStore sandboxes, RuntimeHandlers handlers) {
        this.sandboxes = sandboxes;
        this.handlers = handlers;
    }

    @Override
    public boolean isGuest(String podId) {
        var pod = sandboxes.byFullId(podId);
        return pod != null && handlers.runsInVm(pod.record().runtimeHandler());
    }

    @Override
    public Optional<CgroupSample> read(String podId, String taskId) {
        var pod = sandboxes.byFullId(podId);
        var shim = pod == null ? null : pod.shim();
        if (shim == null) {
            return Optional.empty();
        }
        try {
            var any = shim.stats(taskId);
            if (!any.getTypeUrl().endsWith(V2_METRICS)) {
                return Optional.empty();
            }
            return Optional.of(CgroupSample.of(Metrics.parseFrom(any.getValue())));
        } catch (IOException | RuntimeException e) {
            // a task that just exited, or a VM going down: no figures this time
            return Optional.empty();
        }
    }
}
