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
        return toBuilder().state(newState).build();
    }

    public SandboxRecord withStarted(List<String> newIps, int newPid, boolean up) {
        return toBuilder().ips(newIps).pid(newPid).networkUp(up).build();
    }

    public SandboxRecord withNetworkDown() {
        return toBuilder().networkUp(false).build();
    }

    public SandboxRecord withResources(PodResources applied) {
        return toBuilder().podResources(applied).build();
    }

    public static Builder builder() {
        return new Builder();
    }

    public Builder toBuilder() {
        var b = new Builder();
        b.id = id;
        b.name = name;
        b.config = config;
        b.runtimeHandler = runtimeHandler;
        b.image = image;
        b.state = state;
        b.netns = netns;
        b.ips = ips;
        b.pid = pid;
        b.cgroupParent = cgroupParent;
        b.ownCgroupParent = ownCgroupParent;
        b.networkUp = networkUp;
        b.createdAt = createdAt;
        b.podResources = podResources;
        return b;
    }

    /** Named fields instead of positional ones; unset strings are empty, unset numbers 0, the state NOTREADY. */
    public static final class Builder {
        private String id = "";
        private String name = "";
        private JsonObject config;
        private String runtimeHandler = "";
        private String image = "";
        private SandboxState state = SandboxState.NOTREADY;
        private String netns = "";
        private List<String> ips = List.of();
        private int pid;
        private String cgroupParent = "";
        private boolean ownCgroupParent;
        private boolean networkUp;
        private long createdAt;
        private PodResources podResources;

        private Builder() {
        }

        public Builder id(String value) {
            this.id = value;
            return this;
        }

        public Builder name(String value) {
            this.name = value;
            return this;
        }

        public Builder config(JsonObject value) {
            this.config = value;
            return this;
        }

        public Builder runtimeHandler(String value) {
            this.runtimeHandler = value;
            return this;
        }

        public Builder image(String value) {
            this.image = value;
            return this;
        }

        public Builder state(SandboxState value) {
            this.state = value;
            return this;
        }

        public Builder netns(String value) {
            this.netns = value;
            return this;
        }

        public Builder ips(List<String> value) {
            this.ips = value;
            return this;
        }

        public Builder pid(int value) {
            this.pid = value;
            return this;
        }

        public Builder cgroupParent(String value) {
            this.cgroupParent = value;
            return this;
        }

        public Builder ownCgroupParent(boolean value) {
            this.ownCgroupParent = value;
            return this;
        }

        public Builder networkUp(boolean value) {
            this.networkUp = value;
            return this;
        }

        public Builder createdAt(long value) {
            this.createdAt = value;
            return this;
        }

        public Builder podResources(PodResources value) {
            this.podResources = value;
            return this;
        }

        public SandboxRecord build() {
            return new SandboxRecord(id, name, config, runtimeHandler, image, state, netns, ips, pid, cgroupParent,
                    ownCgroupParent, networkUp, createdAt, podResources);
        }
    }

    /** RunPodSandbox never finished: the infra process was never recorded as started. */
    public boolean unfinished() {
        return pid == 0 && state == SandboxState.NOTREADY;
    }
}
