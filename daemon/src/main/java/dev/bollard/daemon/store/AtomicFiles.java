package dev.bollard.daemon.store;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;

/**
 * Crash-safe whole-file replacement: write a temporary sibling, fsync it, rename it over the target, fsync the
 * directory. After a crash the file holds either the old or the new content, never a mix.
 */
public final class AtomicFiles {
    private AtomicFiles() {
    }

    public static void write(Path target, byte[] content) throws IOException {
        write(target, content, "files");
    }

    /** @param store the store the write's duration is reported under ({@link StoreTimings}) */
    public static void write(Path target, byte[] content, String store) throws IOException {
        long start = System.nanoTime();
        Path dir = target.toAbsolutePath().getParent();
        Path tmp = dir.resolve("." + target.getFileName() + ".tmp-" + ProcessHandle.current().pid());
        try (var ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                StandardOpenOption.WRITE)) {
            var buf = ByteBuffer.wrap(content);
            while (buf.hasRemaining()) {
                ch.write(buf);
            }
            ch.force(true);
        } catch (IOException e) {
            Files.deleteIfExists(tmp);
            throw e;
        }
        Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        fsyncDirectory(dir);
        StoreTimings.observe(target, store, "write", start);
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
