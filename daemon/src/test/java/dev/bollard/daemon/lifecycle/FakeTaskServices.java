package dev.bollard.daemon.lifecycle;

import dev.bollard.daemon.shim.ExitInfo;
import dev.bollard.daemon.shim.ShimOptions;
import dev.bollard.daemon.shim.TaskService;
import dev.bollard.daemon.shim.TaskServices;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/** Starts a {@link FakeTaskService} per pod; can refuse to start one, and records dead-task clean-ups. */
final class FakeTaskServices implements TaskServices {

    final Map<String, FakeTaskService> byPod = new ConcurrentHashMap<>();
    final List<String> cleanedUp = Collections.synchronizedList(new ArrayList<>());
    volatile boolean failStart;
    /** Calls each shim started from now on fails (see {@link FakeTaskService#failing}). */
    final java.util.Set<String> failingInNewShims = ConcurrentHashMap.newKeySet();
    /** Calls during which each shim started from now on dies (see {@link FakeTaskService#dyingAt}). */
    final java.util.Set<String> dyingInNewShims = ConcurrentHashMap.newKeySet();
    /** What connect returns per pod after a "restart"; missing = the shim is gone. */
    final Map<String, FakeTaskService> reachable = new ConcurrentHashMap<>();

    @Override
    public TaskService start(String podId, Path bundle, ShimOptions options) throws IOException {
        if (failStart) {
            throw new IOException("fake: the shim did not start");
        }
        var shim = new FakeTaskService();
        shim.failing.addAll(failingInNewShims);
        shim.dyingAt.addAll(dyingInNewShims);
        byPod.put(podId, shim);
        return shim;
    }

    /** Shared shims (pods_per_shim > 1), as ShimManager keeps them; each shared shim is a FakeTaskService too. */
    final List<String> retired = Collections.synchronizedList(new ArrayList<>());
    final dev.bollard.daemon.shim.ShimGroups groups = new dev.bollard.daemon.shim.ShimGroups(retired::add);
    /** Shared shims started, by shim id. */
    final Map<String, FakeTaskService> shared = new ConcurrentHashMap<>();

    @Override
    public TaskService start(String podId, Path bundle, ShimOptions options, dev.bollard.daemon.shim.ShimGroup group)
            throws IOException, InterruptedException {
        if (!group.shared()) {
            return start(podId, bundle, options);
        }
        var member = groups.join(podId, group, shimId -> {
            if (failStart) {
                throw new IOException("fake: the shim did not start");
            }
            var shim = new FakeTaskService();
            shim.failing.addAll(failingInNewShims);
            shared.put(shimId, shim);
            return shim;
        });
        byPod.put(podId, (FakeTaskService) member.shim());
        return member;
    }

    /** The shared shim (an id of {@link #shared}) each pod rejoins after a "restart", as its shim-group file says. */
    final Map<String, String> rejoining = new ConcurrentHashMap<>();

    @Override
    public TaskService connect(String podId, Path bundle, ShimOptions options) throws IOException {
        String shimId = rejoining.get(podId);
        if (shimId != null) {
            var member = groups.rejoin(podId, shimId, new dev.bollard.daemon.shim.ShimGroup("fake/namespace/default",
                    10), id -> {
                var shim = shared.get(id);
                if (shim == null) {
                    throw new IOException("fake: no shared shim " + id + " answers");
                }
                return shim;
            });
            byPod.put(podId, (FakeTaskService) member.shim());
            return member;
        }
        var shim = reachable.get(podId);
        if (shim == null) {
            throw new IOException("fake: no shim answers for pod " + podId);
        }
        return shim;
    }

    @Override
    public Optional<ExitInfo> cleanupDead(String id, Path bundle, ShimOptions options) {
        cleanedUp.add(id);
        return Optional.empty();
    }
}
