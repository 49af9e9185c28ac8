package dev.bollard.daemon.store;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Set;

/**
 * Crash-safe whole-file replacement: write a temporary sibling, fsync it, rename it over the target, fsync the
 * directory. After a crash the file holds either the old or the new content, never a mix. Files are created 0600
 * unless asked otherwise: what the daemon stores (records, specs) may hold a container's secrets.
 */
public final class AtomicFiles {
    private AtomicFiles() {
    }

    /** Writes {@code target} readable by its owner only (0600): records and specs hold secrets. */
    public static void write(Path target, byte[] content) throws IOException {
        write(target, content, "files");
    }

    /** Writes {@code target} with mode 0644, for files that other programs read (a CNI configuration). */
    public static void writeReadable(Path target, byte[] content) throws IOException {
        write(target, content, "files", PosixFilePermissions.fromString("rw-r--r--"), List.of(), true);
    }

    /** @param store the store the write's duration is reported under ({@link StoreTimings}) */
    public static void write(Path target, byte[] content, String store) throws IOException {
        write(target, content, store, Modes.PRIVATE_FILE, List.of(), true);
    }

    /**
     * {@link #write} that first makes {@code durableFirst} durable too (files written with {@link #writeNew} that
     * this write commits): each fsynced just before the temporary file, so that one journal commit of the file
     * system carries them all (a second fsync right after the first costs a fraction of it; apart, each is a
     * commit of its own, about a millisecond on a virtual disk). They are durable before the rename that commits.
     */
    public static void write(Path target, byte[] content, String store, List<Path> durableFirst) throws IOException {
        write(target, content, store, Modes.PRIVATE_FILE, durableFirst, true);
    }

    /**
     * {@link #write} of a new file whose loss at a power loss is harmless, so the directory is not fsynced after the
     * rename (about a millisecond: a journal commit of its own). The content is still fsynced before the rename, so
     * after a power loss the file is there whole or not at all, never empty or torn; and the next fsynced write on
     * the same file system (or ext4's commit interval) makes the rename durable too, the journal being in order.
     */
    public static void writeUnlessPowerFails(Path target, byte[] content, String store, List<Path> durableFirst)
            throws IOException {
        write(target, content, store, Modes.PRIVATE_FILE, durableFirst, false);
    }

    private static void write(Path target, byte[] content, String store, Set<PosixFilePermission> mode,
                              List<Path> durableFirst, boolean syncDirectory) throws IOException {
        long start = System.nanoTime();
        Path dir = target.toAbsolutePath().getParent();
        Path tmp = dir.resolve("." + target.getFileName() + ".tmp-" + ProcessHandle.current().pid());
        Files.deleteIfExists(tmp); // a leftover of a crash keeps its mode: the file is made anew with ours
        try (var ch = FileChannel.open(tmp, Set.of(StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE),
                PosixFilePermissions.asFileAttribute(mode))) {
            var buf = ByteBuffer.wrap(content);
            while (buf.hasRemaining()) {
                ch.write(buf);
            }
            for (Path other : durableFirst) {
                try (var o = FileChannel.open(other, StandardOpenOption.READ)) {
                    o.force(true);
                }
            }
            ch.force(true);
        } catch (IOException e) {
            Files.deleteIfExists(tmp);
            throw e;
        }
        Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        if (syncDirectory) {
            fsyncDirectory(dir);
        }
        StoreTimings.observe(target, store, "write", start);
    }

    /**
     * Writes a file that must not exist yet, in a directory nothing reads before the caller commits it elsewhere (a
     * new container's {@code config.json}, before its record): no temporary file, no rename, and no fsync here. The
     * commit makes it durable: pass it to the commit's {@link #write} as {@code durableFirst}, whose fsyncs then
     * cover it before the commit's rename. A reader never sees it half-written because none looks before the
     * commit; a crash before the commit leaves a directory no record owns, which the start-up scan removes.
     */
    public static void writeNew(Path target, byte[] content) throws IOException {
        try (var ch = FileChannel.open(target, Set.of(StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE),
                PosixFilePermissions.asFileAttribute(Modes.PRIVATE_FILE))) {
            var buf = ByteBuffer.wrap(content);
            while (buf.hasRemaining()) {
                ch.write(buf);
            }
        }
    }

    /**
     * Removes the temporary files that writes of another (dead) process left in {@code dir}: a daemon killed between
     * creating one and renaming it. This process's own, possibly in flight, stay.
     *
     * @return the files removed
     */
    public static java.util.List<Path> removeStaleTemporaries(Path dir) throws IOException {
        var removed = new java.util.ArrayList<Path>();
        if (!Files.isDirectory(dir)) {
            return removed;
        }
        String own = ".tmp-" + ProcessHandle.current().pid();
        try (var files = Files.list(dir)) {
            for (Path f : files.toList()) {
                String name = f.getFileName().toString();
                if (name.startsWith(".") && name.matches(".+\\.tmp-\\d+") && !name.endsWith(own)
                        && Files.isRegularFile(f, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
                    Files.deleteIfExists(f);
                    removed.add(f);
                }
            }
        }
        return removed;
    }

    public static void fsyncDirectory(Path dir) throws IOException {
        try (var ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        }
    }
}
