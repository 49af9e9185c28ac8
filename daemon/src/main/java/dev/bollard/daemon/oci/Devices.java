package dev.bollard.daemon.oci;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** Host device nodes, read with stat, for linux.devices and their cgroup rules. */
public final class Devices {

    private static final int S_IFMT = 0170000;
    private static final int S_IFCHR = 0020000;
    private static final int S_IFBLK = 0060000;

    /** /dev subdirectories that hold no devices to copy (per-container mounts and runtime bookkeeping). */
    private static final Set<String> SKIPPED_DIRS = Set.of("pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev");

    /** A device node: type "c" or "b", numbers, permission bits, owner. */
    public record Device(String type, long major, long minor, int fileMode, long uid, long gid) {
    }

    private Devices() {
    }

    /**
     * Stats a device node, following symlinks.
     *
     * @throws IllegalArgumentException naming the path when it is missing or not a character/block device
     */
    public static Device stat(Path path, String field) throws IOException {
        Map<String, Object> attrs;
        try {
            attrs = Files.readAttributes(path, "unix:mode,rdev,uid,gid");
        } catch (NoSuchFileException e) {
            throw new IllegalArgumentException(field + ": device " + path + " does not exist", e);
        }
        int mode = (Integer) attrs.get("mode");
        long rdev = (Long) attrs.get("rdev");
        String type = switch (mode & S_IFMT) {
            case S_IFCHR -> "c";
            case S_IFBLK -> "b";
            default -> throw new IllegalArgumentException(field + ": " + path + " is not a device node");
        };
        return new Device(type, major(rdev), minor(rdev), mode & 07777, ((Number) attrs.get("uid")).longValue(),
                ((Number) attrs.get("gid")).longValue());
    }

    /** glibc's gnu_dev_major / gnu_dev_minor. */
    static long major(long rdev) {
        return ((rdev >>> 8) & 0xfff) | ((rdev >>> 32) & ~0xfffL);
    }

    static long minor(long rdev) {
        return (rdev & 0xff) | ((rdev >>> 12) & ~0xffL);
    }

    /** Every device node under a /dev tree (what a privileged container gets), with its path. */
    public static List<Map.Entry<Path, Device>> hostDevices(Path devRoot) throws IOException {
        var out = new ArrayList<Map.Entry<Path, Device>>();
        walk(devRoot, out);
        return out;
    }

    private static void walk(Path dir, List<Map.Entry<Path, Device>> out) throws IOException {
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(dir)) {
            for (Path p : entries) {
                if (Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) {
                    if (!SKIPPED_DIRS.contains(p.getFileName().toString())) {
                        walk(p, out);
                    }
                    continue;
                }
                if (Files.isSymbolicLink(p) || p.getFileName().toString().equals("console")) {
                    continue;
                }
                Map<String, Object> attrs;
                try {
                    attrs = Files.readAttributes(p, "unix:mode,rdev,uid,gid", LinkOption.NOFOLLOW_LINKS);
                } catch (NoSuchFileException e) {
                    continue; // a device that went away while walking
                }
                int mode = (Integer) attrs.get("mode");
                int kind = mode & S_IFMT;
                if (kind != S_IFCHR && kind != S_IFBLK) {
                    continue;
                }
                long rdev = (Long) attrs.get("rdev");
                out.add(Map.entry(p, new Device(kind == S_IFCHR ? "c" : "b", major(rdev), minor(rdev), mode & 07777,
                        ((Number) attrs.get("uid")).longValue(), ((Number) attrs.get("gid")).longValue())));
            }
        }
    }
}
