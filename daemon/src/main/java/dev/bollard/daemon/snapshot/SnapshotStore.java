package dev.bollard.daemon.snapshot;

import dev.bollard.daemon.store.FileTrees;

import dev.bollard.daemon.content.Digest;
import dev.bollard.daemon.log.Log;
import dev.bollard.daemon.store.AtomicFiles;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Unpacked layers, one directory per layer chain ID: {@code <root>/<algorithm>-<hex>/}, each holding only its own
 * layer's changes (overlay whiteouts included), so a container's rootfs is an overlay mount whose lower dirs are
 * its image's snapshots, top layer first. A snapshot is built in {@code <root>/tmp/} and renamed into place only
 * when whole: a crash mid-unpack leaves a temporary directory, removed at the next start, never a half layer.
 */
public final class SnapshotStore {

    private static final Log LOG = Log.get("snapshot");

    /** Fills a fresh, empty directory with one layer; on failure it may leave the directory in any state. */
    @FunctionalInterface
    public interface Filler {
        void fill(Path emptyDir) throws IOException;
    }

    private final Path root;
    private final Path tmp;
    private final ConcurrentHashMap<Digest, ReentrantLock> locks = new ConcurrentHashMap<>();

    public SnapshotStore(Path root) throws IOException {
        this.root = root;
        this.tmp = root.resolve("tmp");
        Files.createDirectories(tmp);
        try (var leftovers = Files.list(tmp)) {
            for (Path p : leftovers.toList()) {
                LOG.info("removing an unpack interrupted by a restart", "path", p);
                FileTrees.deleteTree(p);
            }
        }
    }

    /**
     * A new, empty directory in this store's {@code tmp/} for work that builds something to import (the builtin
     * sandbox image): a daemon that exits or dies before the work removes it leaves it where the next start removes
     * it, not in the node's /tmp.
     */
    public Path newWorkDir(String prefix) throws IOException {
        return Files.createTempDirectory(tmp, prefix);
    }

    public Path path(Digest chainId) {
        return root.resolve(chainId.algorithm() + "-" + chainId.hex());
    }

    public boolean has(Digest chainId) {
        return Files.isDirectory(path(chainId));
    }

    /**
     * Makes sure the snapshot exists, building it with {@code filler} if not. Concurrent callers for the same
     * chain ID build it once; the others wait and find it present.
     *
     * @return true if this call built it
     */
    public boolean ensure(Digest chainId, Filler filler) throws IOException {
        if (has(chainId)) {
            return false;
        }
        var lock = locks.computeIfAbsent(chainId, c -> new ReentrantLock());
        lock.lock();
        try {
            if (has(chainId)) {
                return false;
            }
            Path work = Files.createTempDirectory(tmp, chainId.hex().substring(0, 12) + "-");
            // A snapshot's root becomes the container's "/" when it is the top layer: 0755, not mkdtemp's 0700.
            Files.setPosixFilePermissions(work, java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
            try {
                filler.fill(work);
                Files.move(work, path(chainId), StandardCopyOption.ATOMIC_MOVE);
                AtomicFiles.fsyncDirectory(root);
            } catch (IOException | RuntimeException e) {
                FileTrees.deleteTree(work);
                throw e;
            }
            return true;
        } finally {
            lock.unlock();
        }
    }

    public void remove(Digest chainId) throws IOException {
        Path p = path(chainId);
        if (!Files.exists(p)) {
            return;
        }
        // Rename first so that a crash mid-delete leaves a tmp leftover, never a partial snapshot under its name.
        Path doomed = tmp.resolve("rm-" + chainId.hex());
        Files.move(p, doomed, StandardCopyOption.ATOMIC_MOVE);
        FileTrees.deleteTree(doomed);
    }

    public List<Digest> list() throws IOException {
        var out = new ArrayList<Digest>();
        try (var dirs = Files.list(root)) {
            for (Path p : dirs.toList()) {
                String name = p.getFileName().toString();
                int dash = name.indexOf('-');
                if (dash > 0 && Files.isDirectory(p) && !p.equals(tmp)) {
                    try {
                        out.add(new Digest(name.substring(0, dash), name.substring(dash + 1)));
                    } catch (IllegalArgumentException e) {
                        // not one of ours
                    }
                }
            }
        }
        return out;
    }

}
