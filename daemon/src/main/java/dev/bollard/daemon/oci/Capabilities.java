package dev.bollard.daemon.oci;

import dev.bollard.api.cri.v1.Capability;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/** Linux capability names and the CRI add/drop rules (containerd's): add ALL, then drop ALL, then each add, each drop. */
public final class Capabilities {

    /** Every capability the kernel defines, by number (index = capability number, up to CAP_CHECKPOINT_RESTORE). */
    public static final List<String> KNOWN = List.of(
            "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
            "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
            "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE",
            "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
            "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
            "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
            "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
            "CAP_CHECKPOINT_RESTORE");

    /** The default set of Docker and containerd (14 capabilities). */
    public static final List<String> DEFAULT = List.of(
            "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
            "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",
            "CAP_AUDIT_WRITE");

    private Capabilities() {
    }

    /** The capabilities whose bits are set in a /proc/self/status mask, in number order. */
    public static List<String> fromMask(long mask) {
        var caps = new ArrayList<String>();
        for (int i = 0; i < KNOWN.size(); i++) {
            if ((mask & (1L << i)) != 0) {
                caps.add(KNOWN.get(i));
            }
        }
        return List.copyOf(caps);
    }

    /**
     * "net_admin", "NET_ADMIN" or "CAP_NET_ADMIN" → "CAP_NET_ADMIN".
     *
     * @throws IllegalArgumentException naming the field and the unknown name
     */
    public static String canonical(String name, String field) {
        String upper = name.trim().toUpperCase(Locale.ROOT);
        String full = upper.startsWith("CAP_") ? upper : "CAP_" + upper;
        if (!KNOWN.contains(full)) {
            throw new IllegalArgumentException(field + ": unknown capability \"" + name + "\"");
        }
        return full;
    }

    /** The capability set for a container: defaults changed by the security context's add/drop lists. */
    public static List<String> apply(Capability changes, List<String> all) {
        Set<String> caps = new LinkedHashSet<>(DEFAULT);
        if (changes == null) {
            return List.copyOf(caps);
        }
        var add = new ArrayList<String>(changes.getAddCapabilitiesList());
        add.addAll(changes.getAddAmbientCapabilitiesList());
        var drop = changes.getDropCapabilitiesList();
        if (add.stream().anyMatch(Capabilities::isAll)) {
            caps = new LinkedHashSet<>(all);
        }
        if (drop.stream().anyMatch(Capabilities::isAll)) {
            caps.clear();
        }
        for (String c : add) {
            if (!isAll(c)) {
                caps.add(canonical(c, "capabilities.add_capabilities"));
            }
        }
        for (String c : drop) {
            if (!isAll(c)) {
                caps.remove(canonical(c, "capabilities.drop_capabilities"));
            }
        }
        return List.copyOf(caps);
    }

    private static boolean isAll(String name) {
        return name.trim().equalsIgnoreCase("ALL");
    }
}
