package dev.bollard.daemon.sandbox;

import com.google.gson.JsonObject;

import java.util.List;

/**
 * What Bollard persists of one pod sandbox (under {@code <root>/store/sandboxes/<id>.json}). Written before
 * anything that would outlive a crash is created, and after each state change, so a restart can find and
 * reconcile every resource (restart recovery is its own issue; nothing here will need migrating).
 *
 * @param name          the reserved name: {@code <name>_<namespace>_<uid>_<attempt>}, as containerd forms it
 * @param config        the PodSandboxConfig as protobuf JSON
 * @param netns         the pinned network namespace, or "" for host network
 * @param ips           the pod's IPs, primary first
 * @param pid           the infra process, 0 before it starts
 * @param cgroupParent  the pod cgroup (cgroupfs path) its containers live under
 * @param ownCgroupParent whether Bollard created that parent (and so removes it with the pod)
 * @param createdAt     epoch nanoseconds
 * @param podResources  what UpdatePodSandboxResources last applied, or null (never called; also what a record
 *                      written before this field existed reads as, so the schema stays 1)
 */
public record SandboxRecord(String id, String name, JsonObject config, String runtimeHandler, String image,
                            SandboxState state, String netns, List<String> ips, int pid, String cgroupParent,
                            boolean ownCgroupParent, boolean networkUp, long createdAt,
                            PodResources podResources) {

    public static final int SCHEMA = 1;

    public SandboxRecord {
        ips = List.copyOf(ips);
    }

    public SandboxRecord with(SandboxState newState) {
        return new SandboxRecord(id, name, config, runtimeHandler, image, newState, netns, ips, pid, cgroupParent,
                ownCgroupParent, networkUp, createdAt, podResources);
    }

    public SandboxRecord withStarted(List<String> newIps, int newPid, boolean up) {
        return new SandboxRecord(id, name, config, runtimeHandler, image, state, netns, newIps, newPid, cgroupParent,
                ownCgroupParent, up, createdAt, podResources);
    }

    public SandboxRecord withNetworkDown() {
        return new SandboxRecord(id, name, config, runtimeHandler, image, state, netns, ips, pid, cgroupParent,
                ownCgroupParent, false, createdAt, podResources);
    }

    public SandboxRecord withResources(PodResources applied) {
        return new SandboxRecord(id, name, config, runtimeHandler, image, state, netns, ips, pid, cgroupParent,
                ownCgroupParent, networkUp, createdAt, applied);
    }

    /** RunPodSandbox never finished: the infra process was never recorded as started. */
    public boolean unfinished() {
        return pid == 0 && state == SandboxState.NOTREADY;
    }
}
