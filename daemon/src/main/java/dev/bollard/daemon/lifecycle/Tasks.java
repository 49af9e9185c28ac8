package dev.bollard.daemon.lifecycle;

import dev.bollard.daemon.container.IdMappedMounts;
import dev.bollard.daemon.container.ImageVolumes;
import dev.bollard.daemon.linux.MountInfo;
import dev.bollard.daemon.linux.Syscalls;
import dev.bollard.daemon.log.Log;
import dev.bollard.daemon.shim.ShimNotFoundException;
import dev.bollard.daemon.shim.ShimOptions;
import dev.bollard.daemon.shim.TaskService;
import dev.bollard.daemon.shim.TaskServices;
import dev.bollard.daemon.shim.TaskState;
import dev.bollard.daemon.store.FileTrees;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;

/** Small steps several operations share. */
final class Tasks {

    private static final Log LOG = Log.get("container");

    private Tasks() {
    }

    /** @return whether the task is gone now (deleted here, or already) */
    static boolean deleteQuietly(TaskService shim, String id) {
        try {
            shim.delete(id, "");
            return true;
        } catch (ShimNotFoundException ignored) {
            return true;
        } catch (IOException e) {
            LOG.warn("cannot delete task", "id", id, "error", e.getMessage());
            return false;
        }
    }

    /** Deletes a task; one that is gone already is no error. */
    static void delete(TaskService shim, String id) throws IOException {
        try {
            shim.delete(id, "");
        } catch (ShimNotFoundException ignored) {
            // already deleted
        }
    }

    /** SIGKILL to a task (created or running), its exit awaited, then its delete (runc state, cgroup). */
    static void killAndDelete(TaskService shim, String id) throws IOException, InterruptedException {
        try {
            shim.kill(id, "", 9, true);
            awaitStopped(shim, id, StopPodSandbox.KILL_WAIT);
        } catch (ShimNotFoundException ignored) {
            return; // never created, or deleted already
        }
        delete(shim, id);
    }

    /**
     * {@link #killAndDelete} for a rollback, which must leave nothing whatever state the shim is in: when the shim
     * is dead (killed, crashed) or fails the kill or the delete, the shim binary's {@code delete} action cleans up
     * without it ({@link TaskServices#cleanupDead}: {@code runc delete --force} on the task's runc root, so the
     * process, its runc state and its cgroup go, and the rootfs unmounted). Without this, a pod whose shim died
     * during RunPodSandbox left its infra process running with nothing tracking it.
     */
    static void killAndDeleteOrCleanUp(TaskService shim, String id, TaskServices services, Path bundle,
                                       ShimOptions options) throws IOException, InterruptedException {
        if (shim.isAlive()) {
            try {
                killAndDelete(shim, id);
                return;
            } catch (IOException e) {
                LOG.warn("cannot kill and delete task through its shim; cleaning up without it", "id", id,
                        "shimAlive", shim.isAlive(), "error", e.getMessage());
            }
        }
        services.cleanupDead(id, bundle, options).ifPresent(exit ->
                LOG.info("task of a dead shim cleaned up", "id", id, "pid", exit.pid()));
    }

    /** The shim refuses to delete a running task: after SIGKILL, wait for the exit to be reaped. */
    static void awaitStopped(TaskService shim, String id, Duration wait) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + wait.toNanos();
        while (shim.state(id, "").status() != TaskState.Status.STOPPED) {
            if (System.nanoTime() > deadline) {
                throw new IOException("infra task " + id + " still runs " + wait.toSeconds() + " s after SIGKILL");
            }
            Thread.sleep(5);
        }
    }

    /**
     * {@link #unmountLeftovers} for a container's bundle, reading mountinfo only when something is mounted there:
     * every mount under a bundle is at a place known in advance — the rootfs the shim mounts, the image volumes
     * ({@link ImageVolumes#DIR}) and idmapped mounts ({@link IdMappedMounts#DIR}) Bollard makes, one directory
     * each — and each is asked with one statx. mountinfo grows with the node's pods; reading it whole on every
     * RemoveContainer made the call slower the busier the node. A mount below one of those places hangs off a
     * mount at it, which the check sees. When the kernel cannot say (before 5.8), mountinfo is read as before.
     *
     * @return whether mountinfo was read (something was mounted, or the kernel could not tell)
     */
    static boolean unmountContainerLeftovers(Path bundle) throws IOException {
        if (anyMountAt(bundle.resolve("rootfs")) || anyMountIn(bundle.resolve(ImageVolumes.DIR))
                || anyMountIn(bundle.resolve(IdMappedMounts.DIR))) {
            unmountLeftovers(bundle);
            return true;
        }
        return false;
    }

    /** A mount point at {@code path}, or no way to tell. */
    private static boolean anyMountAt(Path path) throws IOException {
        var root = Syscalls.mountRoot(path);
        return root == Syscalls.MountRoot.YES || root == Syscalls.MountRoot.UNKNOWN;
    }

    /** A mount point at a directory in {@code dir} (or {@code dir} itself), or no way to tell. */
    private static boolean anyMountIn(Path dir) throws IOException {
        var root = Syscalls.mountRoot(dir);
        if (root == Syscalls.MountRoot.MISSING) {
            return false; // the common case: a container without image volumes or idmapped mounts
        }
        if (root != Syscalls.MountRoot.NO) {
            return true;
        }
        try (var entries = Files.newDirectoryStream(dir)) {
            for (Path p : entries) {
                if (anyMountAt(p)) {
                    return true;
                }
            }
        } catch (NoSuchFileException | NotDirectoryException e) {
            return false;
        }
        return false;
    }

    static void unmountLeftovers(Path dir) throws IOException {
        var unmounted = MountInfo.unmountBelow(dir);
        if (!unmounted.isEmpty()) {
            LOG.warn("unmounted what a shim left mounted", "mounts", unmounted);
        }
    }

    static void cleanupQuietly(Path... dirs) {
        for (Path d : dirs) {
            try {
                FileTrees.deleteTree(d);
            } catch (IOException e) {
                LOG.warn("cannot remove directory", "path", d, "error", e.getMessage());
            }
        }
    }

    static long nanos(Clock clock) {
        var now = clock.instant();
        return now.getEpochSecond() * 1_000_000_000L + now.getNano();
    }

    /** A shim's exit time in epoch nanoseconds; now when it did not say. */
    static long epochNanos(Clock clock, Instant at) {
        return at == null || at.getEpochSecond() <= 0 ? nanos(clock) : at.getEpochSecond() * 1_000_000_000L + at.getNano();
    }

    static String describe(dev.bollard.daemon.container.ContainerState s) {
        return s.name().toLowerCase(java.util.Locale.ROOT);
    }
}
