package dev.bollard.daemon.linux;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * How the node mounts cgroups, read from a mountinfo file. Nodes differ: pure v2 ({@code cgroup2} at
 * /sys/fs/cgroup), legacy v1 controllers, or hybrid (v1 controllers plus a {@code cgroup2} at .../unified),
 * and runtimes behave differently on each (crun, for one, refuses the hybrid layout).
 *
 * @param mode             unified, hybrid or legacy
 * @param v1Controllers    mounted v1 hierarchies' options (cpu, memory, name=systemd…)
 * @param unifiedMount     where cgroup2 is mounted, if anywhere
 */
public record CgroupLayout(Mode mode, List<String> v1Controllers, String unifiedMount) {

    public enum Mode { UNIFIED, HYBRID, LEGACY, NONE }

    public static CgroupLayout detect() {
        try {
            return parse(Files.readAllLines(Path.of("/proc/self/mountinfo")));
        } catch (IOException e) {
            return new CgroupLayout(Mode.NONE, List.of(), null);
        }
    }

    /** Parses mountinfo lines: {@code id parent major:minor root mountpoint opts [optional...] - fstype source superopts}. */
    public static CgroupLayout parse(List<String> mountinfo) {
        var controllers = new ArrayList<String>();
        String unified = null;
        for (String line : mountinfo) {
            int dash = line.indexOf(" - ");
            if (dash < 0) {
                continue;
            }
            String[] left = line.substring(0, dash).split(" ");
            String[] right = line.substring(dash + 3).split(" ");
            if (left.length < 5 || right.length < 3) {
                continue;
            }
            String mountPoint = left[4];
            switch (right[0]) {
                case "cgroup2" -> {
                    if (unified == null || mountPoint.equals("/sys/fs/cgroup")) {
                        unified = mountPoint;
                    }
                }
                case "cgroup" -> {
                    for (String opt : right[2].split(",")) {
                        if (!opt.equals("rw") && !opt.equals("ro") && !opt.startsWith("release_agent")
                                && !opt.equals("clone_children") && !opt.equals("noprefix") && !opt.equals("xattr")) {
                            controllers.add(opt);
                        }
                    }
                }
                default -> {
                }
            }
        }
        Mode mode;
        if ("/sys/fs/cgroup".equals(unified)) {
            mode = Mode.UNIFIED;
        } else if (!controllers.isEmpty()) {
            mode = unified != null ? Mode.HYBRID : Mode.LEGACY;
        } else {
            mode = unified != null ? Mode.UNIFIED : Mode.NONE;
        }
        return new CgroupLayout(mode, List.copyOf(controllers), unified);
    }
}
