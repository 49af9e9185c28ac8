package dev.bollard.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

/**
 * A JVM's memory as the soak accounts for it, read with {@code jcmd}: RSS as found, then a full GC
 * ({@code GC.run}) and glibc's free memory given back ({@code System.trim_native_heap}, which the daemon also does
 * every 5 s), the live heap left ({@code GC.heap_info}), RSS after both, and the Native Memory Tracking
 * summary's committed KB by category when the JVM runs with {@code -XX:NativeMemoryTracking=summary}. Telling a
 * leak from retention needs all of them: the heap breathes, the JIT's code cache grows until the hot methods are
 * compiled, glibc keeps freed memory.
 */
record JvmMemory(long rssBytes, long rssAfterGcBytes, long liveHeapBytes, Map<String, Long> nmtCommittedKb) {

    private static final Pattern HEAP_USED = Pattern.compile("^\\S.*?total (\\d+)K, used (\\d+)K", Pattern.MULTILINE);
    private static final Pattern NMT_CATEGORY = Pattern.compile("^-\\s+(.+?) \\(reserved=\\d+KB, committed=(\\d+)KB",
            Pattern.MULTILINE);
    private static final Pattern NMT_TOTAL = Pattern.compile("^Total: reserved=\\d+KB, committed=(\\d+)KB", Pattern.MULTILINE);

    /** NMT's category of the JIT's compiled code (the code cache). */
    static final String CODE = "Code";

    static JvmMemory read(long pid) {
        long rss = Proc.rssBytes(pid);
        jcmd(pid, "GC.run");
        jcmd(pid, "System.trim_native_heap");
        String heap = jcmd(pid, "GC.heap_info");
        long used = 0;
        var m = HEAP_USED.matcher(heap);
        while (m.find()) { // Serial: DefNew and Tenured; G1/Parallel: one line per heap or generation
            used += Long.parseLong(m.group(2)) * 1024;
        }
        long rssAfter = Proc.rssBytes(pid);
        var nmt = new LinkedHashMap<String, Long>();
        String summary = jcmd(pid, "VM.native_memory", "summary");
        var t = NMT_TOTAL.matcher(summary);
        if (t.find()) {
            nmt.put("Total", Long.parseLong(t.group(1)));
            var c = NMT_CATEGORY.matcher(summary);
            while (c.find()) {
                nmt.put(c.group(1).strip(), Long.parseLong(c.group(2)));
            }
        }
        return new JvmMemory(rss, rssAfter, used, Map.copyOf(nmt));
    }

    boolean hasNmt() {
        return nmtCommittedKb.containsKey("Total");
    }

    /** Committed bytes of an NMT category (0 without NMT or when the category is absent). */
    long nmtBytes(String category) {
        return nmtCommittedKb.getOrDefault(category, 0L) * 1024;
    }

    /** RSS after the GC that NMT does not account for: glibc's retained free memory, mapped files (jars, CDS). */
    long rssOutsideNmtBytes() {
        return hasNmt() ? rssAfterGcBytes - nmtBytes("Total") : 0;
    }

    private static String jcmd(long pid, String... command) {
        Path jcmd = Path.of(System.getProperty("java.home"), "bin", "jcmd");
        var cmd = new java.util.ArrayList<>(List.of(jcmd.toString(), Long.toString(pid)));
        cmd.addAll(List.of(command));
        try {
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            byte[] out = p.getInputStream().readAllBytes();
            if (!p.waitFor(60, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return "";
            }
            return new String(out, StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "";
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "";
        }
    }
}
