package dev.bollard.daemon.sandbox;

import dev.bollard.api.cri.v1.DNSConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PodFilesTest {

    @Test
    void dnsConfigBecomesResolvConf(@TempDir Path dir) throws Exception {
        var files = PodFiles.in(dir);
        files.write("web-0", false, List.of("10.1.2.3", "fd00::3"), DNSConfig.newBuilder().addServers("10.96.0.10")
                .addSearches("default.svc.cluster.local").addSearches("svc.cluster.local").addOptions("ndots:5").build());
        assertEquals("search default.svc.cluster.local svc.cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n",
                Files.readString(files.resolvConf()));
        assertEquals("web-0\n", Files.readString(files.hostname()));
        String hosts = Files.readString(files.hosts());
        assertTrue(hosts.startsWith("127.0.0.1\tlocalhost\n"), hosts);
        assertTrue(hosts.contains("10.1.2.3\tweb-0\n") && hosts.contains("fd00::3\tweb-0\n"), hosts);
    }

    @Test
    void withoutDnsConfigTheNodesResolvConfIsUsed(@TempDir Path dir) throws Exception {
        var files = PodFiles.in(dir);
        files.write("p", true, List.of(), DNSConfig.getDefaultInstance());
        byte[] node = Files.exists(PodFiles.HOST_RESOLV_CONF) ? Files.readAllBytes(PodFiles.HOST_RESOLV_CONF) : new byte[0];
        assertEquals(new String(node), Files.readString(files.resolvConf()));
        byte[] nodeHosts = Files.exists(PodFiles.HOST_HOSTS) ? Files.readAllBytes(PodFiles.HOST_HOSTS) : new byte[0];
        assertEquals(new String(nodeHosts), Files.readString(files.hosts()), "a host-network pod sees the node's hosts");
    }
}
