package dev.bollard.daemon.cri;

import java.util.Map;

/** The matching rules the CRI's list filters share: ID prefixes and label selectors (every pair must match). */
final class CriFilters {

    private CriFilters() {
    }

    /** An empty filter value matches everything; otherwise the ID must start with it (truncated IDs, as crictl shows). */
    static boolean idMatches(String filter, String id) {
        return filter.isEmpty() || id.startsWith(filter);
    }

    static boolean labelsMatch(Map<String, String> selector, Map<String, String> labels) {
        for (var e : selector.entrySet()) {
            if (!e.getValue().equals(labels.get(e.getKey()))) {
                return false;
            }
        }
        return true;
    }
}
