package dev.bollard.daemon.oci;

import dev.bollard.api.cri.v1.ContainerConfig;
import dev.bollard.api.cri.v1.DNSConfig;
import dev.bollard.api.cri.v1.Mount;
import dev.bollard.api.cri.v1.PodSandboxConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RequestBoundsTest {

    private static String refusedContainer(ContainerConfig.Builder config) {
        return assertThrows(IllegalArgumentException.class, () -> RequestBounds.checkContainer(config.build()))
                .getMessage();
    }

    private static String refusedPod(PodSandboxConfig.Builder config) {
        return assertThrows(IllegalArgumentException.class, () -> RequestBounds.checkPodSandbox(config.build()))
                .getMessage();
    }

    @ParameterizedTest
    @ValueSource(strings = {"../escape.log", "app/../../x.log", "/var/log/other.log", "a/..", "..", "a\nb.log"})
    void aLogPathOutsideTheLogDirectoryIsRefused(String logPath) {
        String m = refusedContainer(ContainerConfig.newBuilder().setLogPath(logPath));
        assertTrue(m.startsWith("log_path: "), m);
    }

    @ParameterizedTest
    @ValueSource(strings = {"app/0.log", "app_0.log", "a..b/0.log", "./app/1.log"})
    void theKubeletsLogPathsPass(String logPath) {
        assertDoesNotThrow(() -> RequestBounds.checkContainer(ContainerConfig.newBuilder().setLogPath(logPath).build()));
    }

    @ParameterizedTest
    @ValueSource(strings = {"/", "//", "/.", "/..", "/tmp/.."})
    void aVolumeAtTheContainersRootIsRefused(String containerPath) {
        String m = refusedContainer(ContainerConfig.newBuilder()
                .addMounts(Mount.newBuilder().setContainerPath("/data").setHostPath("/tmp"))
                .addMounts(Mount.newBuilder().setContainerPath(containerPath).setHostPath("/tmp")));
        assertTrue(m.startsWith("mounts[1].container_path"), m);
    }

    @Test
    void dnsValuesCannotAddLinesToResolvConf() {
        String server = refusedPod(PodSandboxConfig.newBuilder().setDnsConfig(DNSConfig.newBuilder()
                .addServers("10.96.0.10").addServers("1.1.1.1\nnameserver 6.6.6.6")));
        assertTrue(server.startsWith("dns_config.servers[1]") && server.contains("\\x0a"), server);
        String search = refusedPod(PodSandboxConfig.newBuilder().setDnsConfig(DNSConfig.newBuilder()
                .addSearches("svc.cluster.local evil.example")));
        assertTrue(search.startsWith("dns_config.searches[0]"), search);
        String option = refusedPod(PodSandboxConfig.newBuilder().setDnsConfig(DNSConfig.newBuilder()
                .addOptions("ndots:5\roptions x")));
        assertTrue(option.startsWith("dns_config.options[0]"), option);
        assertDoesNotThrow(() -> RequestBounds.checkPodSandbox(PodSandboxConfig.newBuilder()
                .setHostname("web-0").setDnsConfig(DNSConfig.newBuilder().addServers("10.96.0.10")
                        .addServers("fd00::a").addSearches("default.svc.cluster.local").addOptions("ndots:5")).build()));
    }

    @Test
    void hostnameWithinTheKernelsLimitAndValid() {
        String tooLong = refusedPod(PodSandboxConfig.newBuilder().setHostname("a".repeat(10_000)));
        assertTrue(tooLong.startsWith("hostname: at most 64 characters"), tooLong);
        assertDoesNotThrow(() -> RequestBounds.checkPodSandbox(PodSandboxConfig.newBuilder()
                .setHostname("a".repeat(63)).build()));
        assertDoesNotThrow(() -> RequestBounds.checkPodSandbox(PodSandboxConfig.newBuilder()
                .setHostname("web-0.web.default.svc").build()));
        assertDoesNotThrow(() -> RequestBounds.checkPodSandbox(PodSandboxConfig.newBuilder()
                .setHostname("Build_Node-7").build()), "a node's own name, for a host-network pod");
        for (String bad : new String[] {"-web", "web-", "we b", "web\n", "a..b", "web/0", ".web", "web:0"}) {
            String m = refusedPod(PodSandboxConfig.newBuilder().setHostname(bad));
            assertTrue(m.startsWith("hostname: ") && m.contains("not a valid hostname"), m);
        }
    }
}
