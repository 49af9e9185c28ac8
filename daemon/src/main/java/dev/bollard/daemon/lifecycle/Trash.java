package dev.bollard.daemon.lifecycle;

import dev.bollard.daemon.linux.MountInfo;
import dev.bollard.daemon.log.Log;
import dev.bollard.daemon.store.FileTrees;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Where removals put the directories they take away: renamed into a trash directory on the same filesystem (one
 * rename, so the name is gone for every later call and for a restart at once) and deleted there on a virtual
 * thread, off the CRI call. A daemon's start sweeps what an earlier run left in it; its shutdown waits for the
 * deletions still running.
 */
public final class Trash {

    private static final Log LOG = Log.get("container");

    private final List<Path> dirs;
    /** Names entries of this run, which the start-up sweep leaves alone. */
    private final String run = Long.toString(System.currentTimeMillis(), 36) + "-";
    private final AtomicLong sequence = new AtomicLong();
    private final Object lock = new Object();
    /** Deletions running; guarded by {@link #lock}. */
    private int running;

    /** @param dirs one trash directory per filesystem (the root's, the state's), created here */
    Trash(Path... dirs) throws IOException {
        this.dirs = List.of(dirs);
        for (Path d : dirs) {
            Files.createDirectories(d);
        }
    }

    /**
     * Takes {@code dir} away: moved into the trash directory of its filesystem and deleted in the background, or, where
     * it cannot be moved there, deleted here. Missing is fine. Mounts below it must be gone already: as
     * {@link FileTrees#deleteTree}, the deletion never crosses one.
     */
    public void discard(Path dir) throws IOException {
        if (!Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        for (Path trash : dirs) {
            Path target = trash.resolve(run + sequence.incrementAndGet() + "-" + dir.getFileName());
            try {
                Files.move(dir, target, StandardCopyOption.ATOMIC_MOVE);
            } catch (IOException e) { // another filesystem (EXDEV), or a mount point: try the next, else delete here
                continue;
            }
            deleteInBackground(target);
            return;
        }
        FileTrees.deleteTree(dir);
    }

    /** Deletes what an earlier run left in the trash (a crash or a shutdown during a deletion), in the background. */
    public void sweep() {
        for (Path trash : dirs) {
            List<Path> left;
            try (var entries = Files.list(trash)) {
                left = entries.filter(p -> !p.getFileName().toString().startsWith(run)).toList();
            } catch (IOException e) {
                LOG.warn("cannot list the trash", "path", trash, "error", e.getMessage());
                continue;
            }
            left.forEach(this::deleteInBackground);
        }
    }

    /** Waits until the deletions started so far are done (shutdown, tests); false when {@code wait} ran out first. */
    public boolean awaitIdle(Duration wait) throws InterruptedException {
        long deadline = System.nanoTime() + wait.toNanos();
        synchronized (lock) {
            while (running > 0) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    return false;
                }
                TimeUnit.NANOSECONDS.timedWait(lock, left);
            }
            return true;
        }
    }

    private void deleteInBackground(Path entry) {
        synchronized (lock) {
            running++;
        }
        Thread.ofVirtual().name("trash").start(() -> {
            try {
                delete(entry);
            } finally {
                synchronized (lock) {
                    if (--running == 0) {
                        lock.notifyAll();
                    }
                }
            }
        });
    }

    private static void delete(Path entry) {
        try {
            FileTrees.deleteTree(entry);
        } catch (IOException first) {
            try { // a mount that came along with the rename: unmount, then once more
                MountInfo.unmountBelow(entry);
                FileTrees.deleteTree(entry);
            } catch (IOException e) {
                LOG.warn("cannot delete a removed directory", "path", entry, "error", e.getMessage());
            }
        }
    }
}
