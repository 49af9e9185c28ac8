package dev.bollard.daemon.stats;

import java.util.ArrayList;
import java.util.List;

/** Parses {@code /proc/net/dev}: two header lines, then {@code name: rx(8 columns) tx(8 columns)} per interface. */
public final class NetDev {

    /** Cumulative counters of one interface. */
    public record Counters(String name, long rxBytes, long rxErrors, long txBytes, long txErrors) {
    }

    private NetDev() {
    }

    public static List<Counters> parse(String text) {
        var out = new ArrayList<Counters>();
        for (String line : text.split("\n")) {
            int colon = line.indexOf(':');
            if (colon < 0) {
                continue; // the header lines have '|' but no ':'
            }
            String name = line.substring(0, colon).trim();
            String[] f = line.substring(colon + 1).trim().split("\\s+");
            if (name.isEmpty() || f.length < 16) {
                throw new IllegalArgumentException("/proc/net/dev line has " + f.length
                        + " counters, expected 16: \"" + line + "\"");
            }
            // rx: bytes packets errs drop fifo frame compressed multicast; tx: bytes packets errs drop ...
            out.add(new Counters(name, Long.parseUnsignedLong(f[0]), Long.parseUnsignedLong(f[2]),
                    Long.parseUnsignedLong(f[8]), Long.parseUnsignedLong(f[10])));
        }
        return out;
    }
}
