package dev.bollard.daemon.oci;

import java.util.Locale;
import java.util.Map;

/** Linux (x86_64) signal names and numbers. */
public final class Signals {

    private static final Map<String, Integer> NUMBERS = Map.ofEntries(
            Map.entry("HUP", 1), Map.entry("INT", 2), Map.entry("QUIT", 3), Map.entry("ILL", 4),
            Map.entry("TRAP", 5), Map.entry("ABRT", 6), Map.entry("IOT", 6), Map.entry("BUS", 7),
            Map.entry("FPE", 8), Map.entry("KILL", 9), Map.entry("USR1", 10), Map.entry("SEGV", 11),
            Map.entry("USR2", 12), Map.entry("PIPE", 13), Map.entry("ALRM", 14), Map.entry("TERM", 15),
            Map.entry("STKFLT", 16), Map.entry("CHLD", 17), Map.entry("CONT", 18), Map.entry("STOP", 19),
            Map.entry("TSTP", 20), Map.entry("TTIN", 21), Map.entry("TTOU", 22), Map.entry("URG", 23),
            Map.entry("XCPU", 24), Map.entry("XFSZ", 25), Map.entry("VTALRM", 26), Map.entry("PROF", 27),
            Map.entry("WINCH", 28), Map.entry("IO", 29), Map.entry("POLL", 29), Map.entry("PWR", 30),
            Map.entry("SYS", 31));

    private static final int SIGRTMIN = 34;
    private static final int SIGRTMAX = 64;

    private Signals() {
    }

    /**
     * "SIGTERM", "TERM", "term" or "15" → 15; "SIGRTMIN+3" and "RTMAX-2" too.
     *
     * @throws IllegalArgumentException naming the signal when it is unknown
     */
    public static int number(String name) {
        String s = name.trim().toUpperCase(Locale.ROOT);
        if (!s.isEmpty() && s.chars().allMatch(Character::isDigit)) {
            int n;
            try {
                n = Integer.parseInt(s);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("unknown signal \"" + name + "\"", e);
            }
            if (n < 1 || n > SIGRTMAX) {
                throw new IllegalArgumentException("unknown signal \"" + name + "\" (valid: 1-" + SIGRTMAX + ")");
            }
            return n;
        }
        if (s.startsWith("SIG")) {
            s = s.substring(3);
        }
        Integer n = NUMBERS.get(s);
        if (n != null) {
            return n;
        }
        Integer rt = realtime(s);
        if (rt != null) {
            return rt;
        }
        throw new IllegalArgumentException("unknown signal \"" + name + "\"");
    }

    private static Integer realtime(String s) {
        try {
            if (s.equals("RTMIN")) {
                return SIGRTMIN;
            }
            if (s.equals("RTMAX")) {
                return SIGRTMAX;
            }
            if (s.startsWith("RTMIN+")) {
                int n = SIGRTMIN + Integer.parseInt(s.substring(6));
                return n <= SIGRTMAX ? n : null;
            }
            if (s.startsWith("RTMAX-")) {
                int n = SIGRTMAX - Integer.parseInt(s.substring(6));
                return n >= SIGRTMIN ? n : null;
            }
        } catch (NumberFormatException e) {
            return null;
        }
        return null;
    }
}
