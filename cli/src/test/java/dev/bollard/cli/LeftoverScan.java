package dev.bollard.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * What real-process tests leave on the node, as one line per thing: processes, mounts, netns, cgroups, runc state,
 * CNI cache files and IP allocations, iptables rules. Only what can be traced to the given test directories or pod
 * and container IDs is reported: other test JVMs (and other users of the machine) make pods of their own meanwhile,
 * so the node's absolute state proves nothing.
 */
final class LeftoverScan {

    /**
     * Pod and container IDs as the daemon logs them ({@code id=…}, {@code pod=…}); not any 64-hex string, as image
     * and layer digests are the same in every daemon on the machine and would attribute others' things to us.
     */
    private static final Pattern ID = Pattern.compile("\\b(?:id|pod|container|sandbox)=\"?([0-9a-f]{64})\\b");
    private static final Pattern IPV4 = Pattern.compile("\\d{1,3}(\\.\\d{1,3}){3}");
    private static final Path CGROUPS = Path.of("/sys/fs/cgroup");
    private static final Path RUNC_STATE = Path.of("/run/containerd/runc");

    private LeftoverScan() {
    }

    /** The IDs in the daemon logs ({@code *.log}) directly under a test directory. */
    static Set<String> loggedIds(Path dir) {
        var ids = new TreeSet<String>();
        try (var files = Files.list(dir)) {
            for (Path log : files.filter(f -> f.getFileName().toString().endsWith(".log")).toList()) {
                var m = ID.matcher(Files.readString(log));
                while (m.find()) {
                    ids.add(m.group(1));
                }
            }
        } catch (IOException ignored) {
            // the directory is gone: nothing to learn from it
        }
        return ids;
    }

    /** Everything on the node that belongs to these test directories or IDs, one line each, sorted. */
    static Set<String> scan(Collection<Path> dirs, Collection<String> ids) {
        var found = new TreeSet<String>();
        List<String> roots = dirs.stream().map(d -> d.toAbsolutePath().toString() + "/").toList();
        processes(roots, ids, found);
        mounts(roots, ids, found);
        netns(ids, found);
        cgroups(ids, found);
        runcState(ids, found);
        for (Path dir : dirs) {
            cniFiles(dir, found);
        }
        iptables(ids, found);
        return found;
    }

    private static boolean mentions(String text, List<String> roots, Collection<String> ids) {
        String t = text + "/";
        for (String r : roots) {
            if (t.contains(r)) {
                return true;
            }
        }
        for (String id : ids) {
            if (text.contains(id)) {
                return true;
            }
        }
        return false;
    }

    /**
     * A process whose command line or working directory names a test directory or ID (daemons, shims, runc), or
     * whose cgroup is named by an ID (a container's processes: their root is "/" in their own mount namespace).
     */
    private static void processes(List<String> roots, Collection<String> ids, Set<String> found) {
        long self = ProcessHandle.current().pid();
        for (Path p : list(Path.of("/proc"))) {
            String name = p.getFileName().toString();
            if (!name.matches("\\d+") || Long.parseLong(name) == self) {
                continue;
            }
            try {
                String cmd = new String(Files.readAllBytes(p.resolve("cmdline"))).replace('\0', ' ').strip();
                if (cmd.isEmpty()) {
                    continue; // a kernel thread or a zombie
                }
                boolean ours = mentions(cmd, roots, ids)
                        || mentions(Files.readSymbolicLink(p.resolve("cwd")).toString(), roots, List.of())
                        || mentions(Files.readString(p.resolve("cgroup")), List.of(), ids);
                if (ours) {
                    found.add("process " + name + ": " + cmd);
                }
            } catch (IOException | SecurityException ignored) {
                // the process ended meanwhile
            }
        }
    }

    private static void mounts(List<String> roots, Collection<String> ids, Set<String> found) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
                String[] f = line.split(" ");
                if (f.length > 4 && mentions(f[4], roots, ids)) {
                    found.add("mount " + f[4]);
                }
            }
        } catch (IOException e) {
            found.add("mounts unreadable: " + e.getMessage());
        }
    }

    private static void netns(Collection<String> ids, Set<String> found) {
        for (Path ns : list(Path.of("/run/netns"))) {
            if (mentions(ns.getFileName().toString(), List.of(), ids)) {
                found.add("netns " + ns);
            }
        }
    }

    /**
     * Cgroups named by an ID (the outermost of a pod's: its parent, not the infra container's within), under the
     * pods' default parent ({@code bollard*}) of every hierarchy.
     */
    private static void cgroups(Collection<String> ids, Set<String> found) {
        var hierarchiesByPath = new java.util.TreeMap<String, List<String>>();
        for (Path hierarchy : list(CGROUPS)) {
            for (Path parent : list(hierarchy)) {
                if (!parent.getFileName().toString().startsWith("bollard") || !Files.isDirectory(parent)) {
                    continue;
                }
                try (Stream<Path> tree = Files.walk(parent, 3)) {
                    tree.filter(Files::isDirectory)
                            .filter(d -> ids.contains(d.getFileName().toString()))
                            .filter(d -> !ids.contains(d.getParent().getFileName().toString()))
                            .forEach(d -> hierarchiesByPath.computeIfAbsent(hierarchy.relativize(d).toString(),
                                    k -> new ArrayList<>()).add(hierarchy.getFileName().toString()));
                } catch (IOException | java.io.UncheckedIOException ignored) {
                    // removed while walking
                }
            }
        }
        hierarchiesByPath.forEach((path, hierarchies) -> found.add("cgroup " + path + " (in "
                + String.join(", ", hierarchies) + ")"));
    }

    private static void runcState(Collection<String> ids, Set<String> found) {
        for (Path namespace : list(RUNC_STATE)) {
            for (Path container : list(namespace)) {
                if (ids.contains(container.getFileName().toString())) {
                    found.add("runc state " + container);
                }
            }
        }
    }

    /** CNI attachments recorded by a daemon, and host-local IP allocations, under a test directory. */
    private static void cniFiles(Path dir, Set<String> found) {
        for (Path f : list(dir.resolve("root/cni/cache"))) {
            found.add("CNI cache file " + f);
        }
        for (Path network : list(dir.resolve("ipam"))) {
            for (Path f : list(network)) {
                if (IPV4.matcher(f.getFileName().toString()).matches()) {
                    found.add("IP allocation " + f);
                }
            }
        }
    }

    /** NAT rules of the bridge's masquerade and portmap carry the container ID in their comment. */
    private static void iptables(Collection<String> ids, Set<String> found) {
        if (ids.isEmpty()) {
            return;
        }
        try {
            var p = new ProcessBuilder("iptables-save", "-t", "nat").redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes());
            if (!p.waitFor(30, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return;
            }
            for (String line : out.split("\n")) {
                if (mentions(line, List.of(), ids)) {
                    found.add("iptables nat " + line);
                }
            }
        } catch (IOException e) {
            // no iptables on this node: nothing to check
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static List<Path> list(Path dir) {
        try (var s = Files.list(dir)) {
            return s.toList();
        } catch (IOException e) {
            return new ArrayList<>();
        }
    }
}
