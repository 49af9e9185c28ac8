package dev.bollard.daemon.server;

import dev.bollard.daemon.container.Container;
import dev.bollard.daemon.container.ContainerStore;
import dev.bollard.daemon.linux.Cgroups;
import dev.bollard.daemon.linux.MountInfo;
import dev.bollard.daemon.log.Log;
import dev.bollard.daemon.network.Cni;
import dev.bollard.daemon.network.NetNs;
import dev.bollard.daemon.sandbox.Sandbox;
import dev.bollard.daemon.lifecycle.Lifecycle;
import dev.bollard.daemon.sandbox.SandboxStore;
import dev.bollard.daemon.shim.ShimManager;
import dev.bollard.daemon.store.AtomicFiles;
import dev.bollard.daemon.store.FileTrees;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;

/**
 * At start-up, after the records are recovered and before the CRI is served (so nothing is half-made by a call
 * in flight): what a crash left that no record owns goes, each removal logged. A bundle without a record that
 * holds a task gets {@code shim delete} (its processes killed, its rootfs unmounted); shim daemons of this daemon
 * serving no known pod are killed; CNI attachments of unknown pods get their DEL (releasing the IP) while their
 * netns pin is still there; then netns pins, pod and container directories (what is mounted below them
 * unmounted first) and the cgroup parents of the pods found that way. Partial image downloads and unpacks are the
 * image store's (resumed, or removed at start and by garbage collection).
 *
 * <p>Only this daemon's own directories are scanned: other daemons may share the node's cgroup tree, so a cgroup
 * goes only when this daemon's leftovers name its pod.
 */
final class LeakScan {

    private static final Log LOG = Log.get("recovery");

    private final Path root;
    private final Path state;
    private final SandboxStore sandboxes;
    private final ContainerStore containers;
    private final dev.bollard.daemon.lifecycle.Handlers handlers;
    private final Cni cni;
    private final ShimManager shims;
    private int cleaned;

    LeakScan(Path root, Path state, Lifecycle lifecycle, Cni cni, ShimManager shims) {
        this.root = root;
        this.state = state;
        this.sandboxes = lifecycle.sandboxes();
        this.containers = lifecycle.containers();
        this.handlers = lifecycle.handlers();
        this.cni = cni;
        this.shims = shims;
    }

    /** @return how many leaked resources were cleaned up */
    int run() throws InterruptedException {
        Set<String> pods = sandboxes.list().stream().map(Sandbox::id).collect(Collectors.toSet());
        Set<String> ctrs = containers.list().stream().map(Container::id).collect(Collectors.toSet());
        var known = new HashSet<>(pods);
        known.addAll(ctrs);
        Set<String> leakedPods = new TreeSet<>();

        // Bundles no record names may still hold a task (a record lost): shim delete kills its processes and
        // unmounts its rootfs, containers before their pod's infra; the shim daemon itself goes next.
        for (Path bundle : concat(children(state.resolve("containers")), children(state.resolve("pods")))) {
            String id = bundle.getFileName().toString();
            if (!known.contains(id) && Files.exists(bundle.resolve("runtime"))) {
                try {
                    shims.cleanupDead(id, bundle, handlers.defaultShimOptions()).ifPresent(exit ->
                            cleaned("deleted a task no record owns (shim delete)", "id", id, "pid", exit.pid()));
                } catch (IOException | RuntimeException e) {
                    LOG.warn("cannot delete a task no record owns", "id", id, "error", e.getMessage());
                }
            }
        }
        shims.killStray(known).forEach((pid, id) -> {
            leakedPods.add(id);
            cleaned("killed a shim no pod owns", "id", id, "pid", pid);
        });
        try {
            for (var a : cni.recorded()) {
                if (!pods.contains(a.podId())) {
                    leakedPods.add(a.podId());
                    try {
                        cni.tearDownRecorded(a, null);
                        cleaned("released the network of a pod no record owns (CNI DEL)", "pod", a.podId(),
                                "ifName", a.ifName());
                    } catch (IOException | RuntimeException e) {
                        LOG.warn("cannot release the network of a pod no record owns", "pod", a.podId(),
                                "error", e.getMessage());
                    }
                }
            }
        } catch (IOException e) {
            LOG.warn("cannot list the CNI cache", "error", e.getMessage());
        }
        // Half-written records of a daemon killed mid-write (the rename never came): never read, never replaced.
        for (Path dir : concat(List.of(cni.config().cacheDir()), children(root.resolve("store")))) {
            try {
                AtomicFiles.removeStaleTemporaries(dir).forEach(f ->
                        cleaned("removed a temporary file a killed daemon was writing", "path", f));
            } catch (IOException e) {
                LOG.warn("cannot remove stale temporary files", "dir", dir, "error", e.getMessage());
            }
        }
        for (Path pin : children(state.resolve("netns"))) {
            String id = pin.getFileName().toString();
            if (!pods.contains(id)) {
                leakedPods.add(id);
                try {
                    NetNs.at(pin).remove();
                    cleaned("removed a netns pin no pod owns", "path", pin);
                } catch (IOException e) {
                    LOG.warn("cannot remove a netns pin no pod owns", "path", pin, "error", e.getMessage());
                }
            }
        }
        for (Path dir : concat(children(state.resolve("pods")), children(root.resolve("pods")))) {
            if (!pods.contains(dir.getFileName().toString())) {
                leakedPods.add(dir.getFileName().toString());
                removeDir(dir, "pod");
            }
        }
        for (Path dir : concat(children(state.resolve("containers")), children(root.resolve("containers")))) {
            if (!ctrs.contains(dir.getFileName().toString())) {
                removeDir(dir, "container");
            }
        }
        for (String id : leakedPods) {
            String cgroup = "/bollard/" + id; // RunPodSandbox's default parent: the one Bollard creates
            if (id.matches("[0-9a-f]{64}") && Cgroups.exists(cgroup)) {
                var left = Cgroups.remove(cgroup);
                if (left.isEmpty()) {
                    cleaned("removed the cgroup of a pod no record owns", "cgroup", cgroup);
                } else {
                    LOG.warn("cannot remove the cgroup of a pod no record owns (still in use?)", "cgroup", cgroup,
                            "dirs", left);
                }
            }
        }
        if (pods.stream().noneMatch(id -> sandboxes.find(id).map(s -> s.record().cgroupParent()
                .startsWith("/bollard/")).orElse(false)) && !leakedPods.isEmpty()) {
            Cgroups.removeIfEmpty("/bollard");
        }
        return cleaned;
    }

    private void removeDir(Path dir, String kind) {
        try {
            var unmounted = MountInfo.unmountBelow(dir);
            FileTrees.deleteTree(dir);
            cleaned("removed a " + kind + " directory no record owns", "path", dir, "unmounted", unmounted);
        } catch (IOException e) {
            LOG.warn("cannot remove a " + kind + " directory no record owns", "path", dir, "error", e.getMessage());
        }
    }

    private void cleaned(String what, Object... kv) {
        cleaned++;
        LOG.warn("leak scan: " + what, kv);
    }

    private static List<Path> children(Path dir) {
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (var list = Files.list(dir)) {
            return list.filter(p -> !p.getFileName().toString().startsWith(".")).sorted().toList();
        } catch (IOException e) {
            LOG.warn("cannot list a directory for the leak scan", "path", dir, "error", e.getMessage());
            return List.of();
        }
    }

    private static List<Path> concat(List<Path> a, List<Path> b) {
        var out = new java.util.ArrayList<>(a);
        out.addAll(b);
        return out;
    }
}
