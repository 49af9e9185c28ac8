package dev.bollard.daemon.linux;

/** A {@code /proc/<pid>/stat} or {@code /proc/<pid>/task/<tid>/stat} line, split into its fields. */
public final class ProcStat {

    private ProcStat() {
    }

    /**
     * The fields from the 3rd (state) on, so that field N of proc(5) is at index N - 3. Counted from the last ')':
     * the name before it, in parentheses, may itself hold spaces and parentheses. Empty when the line has no name.
     */
    public static String[] fieldsFromState(String stat) {
        int end = stat.lastIndexOf(')');
        return end < 0 ? new String[0] : stat.substring(end + 1).trim().split(" ");
    }

    /** The name between the parentheses (the kernel's comm, at most 15 bytes); empty when the line has none. */
    public static String name(String stat) {
        int start = stat.indexOf('(');
        int end = stat.lastIndexOf(')');
        return start < 0 || end < start ? "" : stat.substring(start + 1, end);
    }
}
