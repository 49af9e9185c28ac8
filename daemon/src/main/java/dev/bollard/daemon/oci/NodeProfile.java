package dev.bollard.daemon.oci;

import dev.bollard.daemon.linux.CgroupLayout;
import dev.bollard.daemon.linux.Systemd;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * What the node allows, detected once at start.
 *
 * @param minOomScoreAdj     the lowest oom_score_adj a container may get: without CAP_SYS_RESOURCE the kernel refuses
 *                           to lower it below the daemon's own, so lower requests are clamped to it
 * @param allCapabilities    what "all capabilities" means here (privileged, add ALL): the daemon's own bounding set,
 *                           since runc cannot grant a capability it does not hold
 * @param swapAvailable      whether the memory controller accounts swap (memsw / memory.swap.max); a swap limit is
 *                           only set then, as runc fails otherwise
 * @param hugetlbAvailable   whether the hugetlb controller is there; hugepage limits are dropped otherwise
 */
public record NodeProfile(int minOomScoreAdj, boolean cgroupV2Unified, boolean systemdCgroup, boolean seccompAvailable,
                          boolean apparmorAvailable, boolean selinuxEnabled, List<String> allCapabilities,
                          boolean swapAvailable, boolean hugetlbAvailable) {

    public NodeProfile {
        allCapabilities = List.copyOf(allCapabilities);
    }

    /** A node that has every known capability, swap accounting and hugetlb. */
    public NodeProfile(int minOomScoreAdj, boolean cgroupV2Unified, boolean systemdCgroup, boolean seccompAvailable,
                       boolean apparmorAvailable, boolean selinuxEnabled) {
        this(minOomScoreAdj, cgroupV2Unified, systemdCgroup, seccompAvailable, apparmorAvailable, selinuxEnabled,
                Capabilities.KNOWN, true, true);
    }

    private static final int CAP_SYS_RESOURCE = 24;

    public static NodeProfile detect() {
        String status = read(Path.of("/proc/self/status"));
        long bounding = hexField(status, "CapBnd:");
        int minOom;
        if ((bounding & (1L << CAP_SYS_RESOURCE)) != 0) {
            minOom = -1000;
        } else {
            minOom = parseIntOr(read(Path.of("/proc/self/oom_score_adj")).trim(), 0);
        }
        boolean seccomp = status.contains("Seccomp:");
        boolean apparmor = Files.isDirectory(Path.of("/sys/kernel/security/apparmor"));
        boolean selinux = "1".equals(read(Path.of("/sys/fs/selinux/enforce")).trim());
        CgroupLayout layout = CgroupLayout.detect();
        boolean unified = layout.mode() == CgroupLayout.Mode.UNIFIED;
        boolean systemd = Systemd.isRunning();
        boolean swap;
        boolean hugetlb;
        if (unified) {
            String controllers = read(Path.of("/sys/fs/cgroup/cgroup.controllers"));
            hugetlb = controllers.contains("hugetlb");
            // memory.swap.max is absent at the root; the daemon's own cgroup tells whether swap is accounted
            swap = Files.exists(Path.of("/sys/fs/cgroup" + ownUnifiedCgroup(), "memory.swap.max"));
        } else {
            hugetlb = Files.isDirectory(Path.of("/sys/fs/cgroup/hugetlb"));
            swap = Files.exists(Path.of("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"));
        }
        return new NodeProfile(minOom, unified, systemd, seccomp, apparmor, selinux,
                bounding == 0 ? Capabilities.KNOWN : Capabilities.fromMask(bounding), swap, hugetlb);
    }

    private static String ownUnifiedCgroup() {
        for (String line : read(Path.of("/proc/self/cgroup")).split("\n")) {
            if (line.startsWith("0::")) {
                return line.substring(3).trim();
            }
        }
        return "/";
    }

    private static long hexField(String status, String name) {
        for (String line : status.split("\n")) {
            if (line.startsWith(name)) {
                try {
                    return Long.parseUnsignedLong(line.substring(name.length()).trim(), 16);
                } catch (NumberFormatException e) {
                    return 0;
                }
            }
        }
        return 0;
    }

    private static int parseIntOr(String s, int fallback) {
        try {
            return Integer.parseInt(s);
        } catch (NumberFormatException e) {
            return fallback;
        }
    }

    private static String read(Path p) {
        try {
            return Files.readString(p);
        } catch (IOException e) {
            return "";
        }
    }
}
