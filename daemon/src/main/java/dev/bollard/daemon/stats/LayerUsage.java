package dev.bollard.daemon.stats;

import java.io.IOException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;

/**
 * Bytes and inodes a directory tree holds (a container's writable layer): one walk, not crossing into mounts'
 * contents beyond what is listed, symlinks not followed.
 *
 * @param usedBytes  sizes of the regular files (a hard link counted once per name)
 * @param inodesUsed files, directories, links and other entries, the root included
 * @param wallNanos  when the walk finished, epoch nanoseconds
 */
public record LayerUsage(long usedBytes, long inodesUsed, long wallNanos) {

    public static LayerUsage measure(Path dir) {
        long[] totals = new long[2];
        if (Files.isDirectory(dir)) {
            try {
                Files.walkFileTree(dir, new SimpleFileVisitor<>() {
                    @Override
                    public FileVisitResult preVisitDirectory(Path d, BasicFileAttributes attrs) {
                        totals[1]++;
                        return FileVisitResult.CONTINUE;
                    }

                    @Override
                    public FileVisitResult visitFile(Path f, BasicFileAttributes attrs) {
                        totals[1]++;
                        if (attrs.isRegularFile()) {
                            totals[0] += attrs.size();
                        }
                        return FileVisitResult.CONTINUE;
                    }

                    @Override
                    public FileVisitResult visitFileFailed(Path f, IOException e) {
                        return FileVisitResult.CONTINUE; // removed while walking
                    }
                });
            } catch (IOException ignored) {
                // the layer went away mid-walk: what was counted stands
            }
        }
        return new LayerUsage(totals[0], totals[1], CgroupSample.epochNanos());
    }
}
