package dev.bollard.daemon.stats;

/**
 * A cgroup named the way the OCI spec or the CRI names it, turned into its path below a hierarchy's mount.
 * cgroupfs names already are paths. The systemd driver's are not: a spec's {@code slice:prefix:name} is the scope
 * {@code <prefix>-<name>.scope} inside the slice, and a slice {@code a-b-c.slice} lives at
 * {@code /a.slice/a-b.slice/a-b-c.slice} (systemd nests a slice in the one its name's dashes prefix).
 */
final class CgroupPaths {

    private CgroupPaths() {
    }

    /** The path of a spec's linux.cgroupsPath or a pod's cgroup parent, in either driver's form. */
    static String of(String name) {
        if (name.isEmpty() || name.startsWith("/")) {
            return name; // cgroupfs
        }
        String[] parts = name.split(":", -1);
        if (parts.length == 3) {
            String slice = parts[0].isEmpty() ? "system.slice" : parts[0]; // runc's default parent
            String unit = parts[2].endsWith(".slice") ? parts[2]
                    : (parts[1].isEmpty() ? parts[2] : parts[1] + "-" + parts[2]) + ".scope";
            String parent = slice(slice);
            return (parent.equals("/") ? "" : parent) + "/" + unit;
        }
        if (name.endsWith(".slice") && !name.contains("/")) {
            return slice(name);
        }
        return "/" + name;
    }

    /** A slice's place in the tree: each dash-separated prefix is a slice of its own above it. */
    static String slice(String slice) {
        if (slice.equals("-.slice")) {
            return "/";
        }
        String base = slice.substring(0, slice.length() - ".slice".length());
        var path = new StringBuilder();
        int from = 0;
        while (true) {
            int dash = base.indexOf('-', from);
            String prefix = dash < 0 ? base : base.substring(0, dash);
            path.append('/').append(prefix).append(".slice");
            if (dash < 0) {
                return path.toString();
            }
            from = dash + 1;
        }
    }
}
