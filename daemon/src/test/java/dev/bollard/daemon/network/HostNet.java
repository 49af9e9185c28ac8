package dev.bollard.daemon.network;

import dev.bollard.daemon.linux.MountInfo;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

/** Test helpers around the host's network: commands, unique names, and clean-up of what plugins left. */
final class HostNet {

    private HostNet() {
    }

    record Result(int status, String out) {
    }

    static Result sh(String... command) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        p.getOutputStream().close();
        byte[] out = p.getInputStream().readAllBytes();
        if (!p.waitFor(30, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IOException(String.join(" ", command) + " timed out");
        }
        return new Result(p.exitValue(), new String(out, StandardCharsets.UTF_8));
    }

    static String ok(String... command) throws IOException, InterruptedException {
        Result r = sh(command);
        if (r.status != 0) {
            throw new IOException(String.join(" ", command) + " exited " + r.status + ": " + r.out);
        }
        return r.out;
    }

    /** Interface names in the calling thread's network namespace. */
    static List<String> interfacesOfThread() throws IOException {
        List<String> names = new ArrayList<>();
        List<String> lines = Files.readAllLines(Path.of("/proc/thread-self/net/dev"));
        for (String line : lines.subList(2, lines.size())) {
            names.add(line.substring(0, line.indexOf(':')).strip());
        }
        return names;
    }

    static boolean mountInfoHas(Path p) throws IOException {
        return MountInfo.fsTypeAt(p).isPresent();
    }

    static String suffix() {
        String a = "abcdefghijklmnopqrstuvwxyz0123456789";
        var b = new StringBuilder();
        for (int i = 0; i < 6; i++) {
            b.append(a.charAt(ThreadLocalRandom.current().nextInt(a.length())));
        }
        return b.toString();
    }

    /** 10.x.y.0/24 that no route or address of the host touches; returns "10.x.y". */
    static String freeSubnetPrefix() throws IOException, InterruptedException {
        String routes = ok("ip", "-4", "route", "show", "table", "all") + ok("ip", "-4", "-o", "addr");
        for (int i = 0; i < 100; i++) {
            String prefix = "10." + ThreadLocalRandom.current().nextInt(100, 250) + "."
                    + ThreadLocalRandom.current().nextInt(1, 250);
            if (!routes.contains(prefix + ".") && !routes.contains(" 10.0.0.0/8")) {
                return prefix;
            }
        }
        throw new IOException("no free 10.x.y.0/24 found among the host's routes:\n" + routes);
    }

    /**
     * Deletes every nat/filter rule whose text names one of {@code needles} (what a DEL may leave), then the per-pod
     * CNI-* chains those rules jumped to once nothing refers to them any more. The shared CNI-HOSTPORT-* chains stay.
     */
    static List<String> deleteRulesMentioning(String... needles) throws IOException, InterruptedException {
        List<String> deleted = new ArrayList<>();
        for (String table : List.of("nat", "filter")) {
            List<String> chains = new ArrayList<>();
            for (String line : ok("iptables", "-t", table, "-S").lines().toList()) {
                if (line.startsWith("-A ") && containsAny(line, needles)) {
                    List<String> rule = splitRule(line.substring(3));
                    List<String> cmd = new ArrayList<>(List.of("iptables", "-t", table, "-D"));
                    cmd.addAll(rule);
                    sh(cmd.toArray(String[]::new));
                    deleted.add(table + ": " + line);
                    int j = rule.indexOf("-j");
                    if (j >= 0 && j + 1 < rule.size() && rule.get(j + 1).startsWith("CNI-")
                            && !rule.get(j + 1).startsWith("CNI-HOSTPORT-")) {
                        chains.add(rule.get(j + 1));
                    }
                }
            }
            for (String chain : chains) {
                String all = ok("iptables", "-t", table, "-S");
                if (all.lines().noneMatch(l -> l.startsWith("-A ") && l.contains("-j " + chain))) {
                    sh("iptables", "-t", table, "-F", chain);
                    if (sh("iptables", "-t", table, "-X", chain).status() == 0) {
                        deleted.add(table + ": chain " + chain);
                    }
                }
            }
        }
        return deleted;
    }

    /** Lines of iptables-save naming one of {@code needles}. */
    static List<String> rulesMentioning(String... needles) throws IOException, InterruptedException {
        return ok("iptables-save").lines().filter(l -> containsAny(l, needles)).toList();
    }

    private static boolean containsAny(String s, String... needles) {
        for (String n : needles) {
            if (s.contains(n)) {
                return true;
            }
        }
        return false;
    }

    /** iptables -S quotes comments with double quotes; split respecting them. */
    private static List<String> splitRule(String rule) {
        List<String> parts = new ArrayList<>();
        var cur = new StringBuilder();
        boolean quoted = false;
        for (int i = 0; i < rule.length(); i++) {
            char c = rule.charAt(i);
            if (c == '\\' && quoted && i + 1 < rule.length()) {
                cur.append(rule.charAt(++i));
            } else if (c == '"') {
                quoted = !quoted;
            } else if (c == ' ' && !quoted) {
                if (!cur.isEmpty()) {
                    parts.add(cur.toString());
                    cur.setLength(0);
                }
            } else {
                cur.append(c);
            }
        }
        if (!cur.isEmpty()) {
            parts.add(cur.toString());
        }
        return parts;
    }
}
