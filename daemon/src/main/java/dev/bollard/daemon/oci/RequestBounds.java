package dev.bollard.daemon.oci;

import dev.bollard.api.cri.v1.ContainerConfig;
import dev.bollard.api.cri.v1.DNSConfig;
import dev.bollard.api.cri.v1.PodSandboxConfig;

import java.nio.file.Path;
import java.util.List;
import java.util.regex.Pattern;

/**
 * Request values that would reach outside what they are meant for: a log path outside the pod's log directory, a
 * volume over the container's whole root, a DNS setting that adds lines to resolv.conf, a hostname the kernel
 * refuses. Checked when a request comes in, before anything is made for it.
 */
public final class RequestBounds {

    /** The kernel's HOST_NAME_MAX: sethostname(2) refuses a longer name. */
    public static final int MAX_HOSTNAME = 64;

    /**
     * RFC 1123 labels separated by dots, each 1–63 characters, no hyphen at either end. An underscore is let
     * through: a host-network pod gets the node's own name, and some nodes are named with one.
     */
    private static final Pattern HOSTNAME = Pattern.compile(
            "[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(\\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*");

    private RequestBounds() {
    }

    /**
     * RunPodSandbox's config: the hostname and the DNS settings.
     *
     * @throws IllegalArgumentException naming the field
     */
    public static void checkPodSandbox(PodSandboxConfig config) {
        String hostname = config.getHostname();
        if (!hostname.isEmpty()) {
            if (hostname.length() > MAX_HOSTNAME) {
                throw new IllegalArgumentException("hostname: at most " + MAX_HOSTNAME + " characters, got "
                        + hostname.length());
            }
            if (!HOSTNAME.matcher(hostname).matches()) {
                throw new IllegalArgumentException("hostname: \"" + printable(hostname) + "\" is not a valid hostname "
                        + "(labels of letters, digits, '-' and '_', separated by '.')");
            }
        }
        checkDns(config.getDnsConfig());
    }

    /** Each value becomes one word of a resolv.conf line: a line break or another word would add to the file. */
    private static void checkDns(DNSConfig dns) {
        words(dns.getServersList(), "dns_config.servers");
        words(dns.getSearchesList(), "dns_config.searches");
        words(dns.getOptionsList(), "dns_config.options");
    }

    private static void words(List<String> values, String field) {
        for (int i = 0; i < values.size(); i++) {
            String v = values.get(i);
            if (v.isEmpty() || v.chars().anyMatch(c -> c <= ' ' || c == 0x7f)) {
                throw new IllegalArgumentException(field + "[" + i + "]: \"" + printable(v) + "\" must be one word "
                        + "without spaces or control characters (it is written into resolv.conf)");
            }
        }
    }

    /**
     * CreateContainer's config: the log path and the mount points.
     *
     * @throws IllegalArgumentException naming the field
     */
    public static void checkContainer(ContainerConfig config) {
        String logPath = config.getLogPath();
        if (!logPath.isEmpty()) {
            // the kubelet's form is <container name>/<restart count>.log, relative to the pod's log_directory
            if (logPath.startsWith("/") || logPath.chars().anyMatch(c -> c < ' ' || c == 0x7f)
                    || List.of(logPath.split("/")).contains("..")) {
                throw new IllegalArgumentException("log_path: \"" + printable(logPath) + "\" must be a relative path "
                        + "inside the pod's log_directory (no '..', not absolute)");
            }
        }
        for (int i = 0; i < config.getMountsCount(); i++) {
            String containerPath = config.getMounts(i).getContainerPath();
            if (containerPath.startsWith("/") && Path.of(containerPath).normalize().toString().equals("/")) {
                // runc would create its mount points (dev/, etc/ …) in the host directory itself
                throw new IllegalArgumentException("mounts[" + i + "].container_path: a volume cannot be mounted at "
                        + "the container's root \"" + containerPath + "\"");
            }
        }
    }

    /** A value for an error message, with control characters shown escaped. */
    private static String printable(String s) {
        var sb = new StringBuilder();
        int max = Math.min(s.length(), 100);
        for (int i = 0; i < max; i++) {
            char c = s.charAt(i);
            if (c < ' ' || c == 0x7f) {
                sb.append(String.format("\\x%02x", (int) c));
            } else {
                sb.append(c);
            }
        }
        if (s.length() > max) {
            sb.append("…");
        }
        return sb.toString();
    }
}
