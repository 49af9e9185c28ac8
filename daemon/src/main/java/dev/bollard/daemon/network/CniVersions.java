package dev.bollard.daemon.network;

import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;

/** CNI spec versions: which Bollard speaks, comparison, and the choice for a network. */
final class CniVersions {

    /** Results of 0.3.0 and later share one shape; 0.1/0.2 results ({@code ip4}/{@code ip6}) are read too. */
    static final List<String> SUPPORTED = List.of("0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0");

    static final Comparator<String> ORDER = Comparator.comparing(CniVersions::parse, (a, b) -> {
        for (int i = 0; i < 3; i++) {
            if (a[i] != b[i]) {
                return Integer.compare(a[i], b[i]);
            }
        }
        return 0;
    });

    private CniVersions() {
    }

    /** major.minor.patch, or null when it is not such a version. */
    static int[] parse(String v) {
        String[] p = v.split("\\.");
        if (p.length != 3) {
            return null;
        }
        int[] r = new int[3];
        try {
            for (int i = 0; i < 3; i++) {
                r[i] = Integer.parseInt(p[i]);
                if (r[i] < 0) {
                    return null;
                }
            }
        } catch (NumberFormatException e) {
            return null;
        }
        return r;
    }

    static boolean atLeast(String v, String min) {
        return ORDER.compare(v, min) >= 0;
    }

    /**
     * The version to run a network with: its {@code cniVersion} when it has only that, else the highest of its
     * {@code cniVersions} that Bollard and every plugin support ({@code pluginSupport}: one collection per plugin,
     * null where unknown).
     */
    static Optional<String> choose(NetworkConfigList net, List<? extends Collection<String>> pluginSupport) {
        List<String> offered = net.cniVersions().isEmpty() ? List.of(net.cniVersion()) : net.cniVersions();
        return offered.stream()
                .filter(SUPPORTED::contains)
                .filter(v -> pluginSupport.stream().allMatch(s -> s == null || s.contains(v)))
                .max(ORDER);
    }
}
