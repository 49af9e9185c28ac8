package dev.bollard.daemon.linux;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * cgroupfs paths across every mounted hierarchy (each v1 controller and the v2 tree). The OCI runtime creates a
 * container's own cgroup and removes it on delete, but leaves the parents it created on the way: Bollard removes
 * the pod parents it made itself, once empty.
 */
public final class Cgroups {

    private Cgroups() {
    }

    /** Mount points of the cgroup hierarchies, from mountinfo. */
    public static List<Path> hierarchies() {
        var out = new ArrayList<Path>();
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
                int dash = line.indexOf(" - ");
                if (dash < 0) {
                    continue;
                }
                String[] left = line.substring(0, dash).split(" ");
                String fstype = line.substring(dash + 3).split(" ")[0];
                if ((fstype.equals("cgroup") || fstype.equals("cgroup2")) && left.length > 4) {
                    out.add(Path.of(left[4]));
                }
            }
        } catch (IOException e) {
            return List.of();
        }
        return out;
    }

    /** Whether the cgroupfs path (like {@code /kubepods/pod1}) exists in any hierarchy. */
    public static boolean exists(String cgroupPath) {
        return hierarchies().stream().anyMatch(h -> Files.isDirectory(resolve(h, cgroupPath)));
    }

    /**
     * Removes the path's directory in every hierarchy, deepest first (children a runtime left behind); a directory
     * that still holds processes stays and is reported.
     *
     * @return the directories that could not be removed
     */
    public static List<Path> remove(String cgroupPath) {
        var left = new ArrayList<Path>();
        for (Path h : hierarchies()) {
            Path dir = resolve(h, cgroupPath);
            if (!Files.isDirectory(dir) || dir.equals(h)) {
                continue;
            }
            try (var walk = Files.walk(dir)) {
                for (Path d : walk.filter(Files::isDirectory).sorted(Comparator.reverseOrder()).toList()) {
                    try {
                        Files.delete(d); // rmdir(2): cgroupfs removes a cgroup's control files with it
                    } catch (IOException e) {
                        left.add(d);
                    }
                }
            } catch (IOException e) {
                left.add(dir);
            }
        }
        return left;
    }

    /** Removes the path's directory in every hierarchy if it is empty (no child cgroups); never walks into it. */
    public static void removeIfEmpty(String cgroupPath) {
        for (Path h : hierarchies()) {
            Path dir = resolve(h, cgroupPath);
            if (!dir.equals(h) && Files.isDirectory(dir)) {
                try {
                    Files.delete(dir);
                } catch (IOException e) {
                    // still has children or processes: another pod lives there
                }
            }
        }
    }

    /** The cgroupfs path's directory in one hierarchy (which it must not leave). */
    public static Path dir(Path hierarchy, String cgroupPath) {
        return resolve(hierarchy, cgroupPath);
    }

    static Path resolve(Path hierarchy, String cgroupPath) {
        String rel = cgroupPath.startsWith("/") ? cgroupPath.substring(1) : cgroupPath;
        Path p = hierarchy.resolve(rel).normalize();
        if (!p.startsWith(hierarchy)) {
            throw new IllegalArgumentException("cgroup path " + cgroupPath + " leaves the hierarchy");
        }
        return p;
    }
}
