package dev.bollard.daemon.sandbox;

import dev.bollard.api.cri.v1.DNSConfig;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The files every container of a pod sees at {@code /etc/hostname}, {@code /etc/hosts} and
 * {@code /etc/resolv.conf}, kept in the pod's directory and bind-mounted into each container.
 */
public record PodFiles(Path hostname, Path hosts, Path resolvConf) {

    static final Path HOST_HOSTS = Path.of("/etc/hosts");
    static final Path HOST_RESOLV_CONF = Path.of("/etc/resolv.conf");

    public static PodFiles in(Path dir) {
        return new PodFiles(dir.resolve("hostname"), dir.resolve("hosts"), dir.resolve("resolv.conf"));
    }

    /**
     * Writes all three. A host-network pod sees the node's hosts and resolv.conf (as with containerd); other pods
     * get localhost entries plus their own IP under their hostname, and a resolv.conf from the pod's DNSConfig,
     * or the node's when the config says nothing.
     */
    public void write(String podHostname, boolean hostNetwork, List<String> ips, DNSConfig dns) throws IOException {
        Files.createDirectories(hostname.getParent());
        Files.writeString(hostname, podHostname + "\n");
        writeHosts(podHostname, hostNetwork, ips);
        if (dns.getServersCount() + dns.getSearchesCount() + dns.getOptionsCount() > 0) {
            Files.writeString(resolvConf, resolvConf(dns));
        } else {
            copyOrEmpty(HOST_RESOLV_CONF, resolvConf);
        }
        for (Path p : List.of(hostname, hosts, resolvConf)) {
            Files.setPosixFilePermissions(p, java.nio.file.attribute.PosixFilePermissions.fromString("rw-r--r--"));
        }
    }

    /** /etc/hosts alone: rewritten in place (same inode) once the pod's IPs are known, bind mounts stay valid. */
    public void writeHosts(String podHostname, boolean hostNetwork, List<String> ips) throws IOException {
        if (hostNetwork) {
            copyOrEmpty(HOST_HOSTS, hosts);
            return;
        }
        var sb = new StringBuilder("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
                + "fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n");
        for (String ip : ips) {
            sb.append(ip).append('\t').append(podHostname).append('\n');
        }
        Files.writeString(hosts, sb.toString());
    }

    static String resolvConf(DNSConfig dns) {
        var sb = new StringBuilder();
        if (dns.getSearchesCount() > 0) {
            sb.append("search ").append(String.join(" ", dns.getSearchesList())).append('\n');
        }
        for (String server : dns.getServersList()) {
            sb.append("nameserver ").append(server).append('\n');
        }
        if (dns.getOptionsCount() > 0) {
            sb.append("options ").append(String.join(" ", dns.getOptionsList())).append('\n');
        }
        return sb.toString();
    }

    private static void copyOrEmpty(Path from, Path to) throws IOException {
        byte[] content = Files.isReadable(from) ? Files.readAllBytes(from) : new byte[0];
        Files.write(to, content);
    }
}
