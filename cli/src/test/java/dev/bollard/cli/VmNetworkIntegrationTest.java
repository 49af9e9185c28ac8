package dev.bollard.cli;

import dev.bollard.api.cri.v1.DNSConfig;
import dev.bollard.api.cri.v1.ExecSyncRequest;
import dev.bollard.api.cri.v1.ExecSyncResponse;
import dev.bollard.api.cri.v1.PodSandboxConfig;
import dev.bollard.api.cri.v1.PodSandboxStatusRequest;
import dev.bollard.api.cri.v1.PortForwardRequest;
import dev.bollard.api.cri.v1.PortMapping;
import dev.bollard.api.cri.v1.Protocol;
import dev.bollard.api.cri.v1.RunPodSandboxRequest;
import dev.bollard.daemon.streaming.client.StreamClient;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A VM pod's network and pod files through Bollard's CRI, as a runc pod's: one VM boot (TCG is slow) shared by the
 * cases. CRI PortForward reaches ports that listen in the guest (through the shim and the agent, not the pod's
 * network namespace on the host, where nothing listens); the pod's hostPort (CNI portmap) reaches the guest;
 * /etc/hosts, /etc/resolv.conf and the hostname are what a runc pod with the same config gets, and /dev/shm is
 * one tmpfs in the guest shared by the pod's containers, sized as a runc pod's. Removing the pod leaves no shim,
 * qemu, virtiofsd, mount or VM state.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@LeakChecked // the hostPort's NAT rules, the CNI allocations and the pod's netns too
class VmNetworkIntegrationTest {

    static final int ECHO_PORT = 9090;
    static final int HTTP_PORT = 8080;
    static final DNSConfig DNS = DNSConfig.newBuilder().addServers("10.96.0.10").addSearches("vm.svc.cluster.local")
            .addOptions("ndots:5").build();

    private PodTestNode node;
    private int hostPort;
    private PodSandboxConfig podConfig;
    private String pod;
    private String web;
    private String echo;
    private final StreamClient client = new StreamClient();

    @BeforeAll
    void start() throws Exception {
        Path guest = VmTestNodes.buildGuest();
        node = PodTestNode.start(dir -> {
            try {
                addIpv6InThePodsNamespace(dir);
                return VmTestNodes.vmRuntimeToml(dir, guest, "");
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        try (var s = new ServerSocket(0)) {
            hostPort = s.getLocalPort();
        }
        podConfig = node.pod("vm-net").setDnsConfig(DNS)
                .addPortMappings(PortMapping.newBuilder().setProtocol(Protocol.TCP).setContainerPort(HTTP_PORT)
                        .setHostPort(hostPort))
                .build();
        pod = node.rt().runPodSandbox(RunPodSandboxRequest.newBuilder().setConfig(podConfig)
                .setRuntimeHandler("vm").build()).getPodSandboxId();
        web = node.createAndStart(pod, podConfig, PodTestNode.container("web", "httpd", "-f", "-p",
                Integer.toString(HTTP_PORT), "-h", "/www").build());
        echo = node.createAndStart(pod, podConfig, PodTestNode.container("echo", "nc", "-ll", "-p",
                Integer.toString(ECHO_PORT), "-e", "cat").build());
    }

    static final String POD_IP6 = "fd00:b011:a4d::5/64";
    static final String ROUTE6 = "fd00:b011:beef::/48";
    static final String GATEWAY6 = "fd00:b011:a4d::1";

    /**
     * IPv6 on the pod's CNI interface without the bridge plugin's IPv6 (which turns on IPv6 forwarding for the
     * whole node): a test plugin chained after the bridge adds an address and a route inside the pod's network
     * namespace only, and passes the bridge's result on. The node's conflist is written before the TOML is asked.
     */
    private static void addIpv6InThePodsNamespace(Path dir) throws IOException {
        Path plugin = dir.resolve("cni-bin/ipv6-in-netns");
        Files.writeString(plugin, """
                #!/bin/sh
                PATH=/usr/sbin:/usr/bin:/sbin:/bin
                input=$(cat)
                case "$CNI_COMMAND" in
                  ADD)
                    nsenter --net="$CNI_NETNS" ip -6 addr add %s dev "$CNI_IFNAME" nodad || exit 1
                    nsenter --net="$CNI_NETNS" ip -6 route add %s via %s dev "$CNI_IFNAME" || exit 1
                    echo "$input" | jq '.prevResult + {cniVersion: .cniVersion}' ;;
                  VERSION) echo '{"cniVersion": "1.0.0", "supportedVersions": ["1.0.0"]}' ;;
                esac
                exit 0
                """.formatted(POD_IP6, ROUTE6, GATEWAY6));
        Files.setPosixFilePermissions(plugin, java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
        Path conflist = dir.resolve("cni/10-test.conflist");
        String cni = Files.readString(conflist);
        String portmap = "{\"type\": \"portmap\"";
        assertTrue(cni.contains(portmap), cni);
        Files.writeString(conflist, cni.replace(portmap, "{\"type\": \"ipv6-in-netns\"}, " + portmap));
    }

    @AfterAll
    void stop() throws Exception {
        if (node == null) {
            return;
        }
        Path dir = node.dir;
        // the daemon's log (the shim's included) outlives the node's directory, for a failed run
        Files.copy(node.daemon.log, Path.of("target/vm-network-daemon.log"),
                java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        try {
            if (pod != null) {
                node.removePod(pod);
                assertEquals(List.of(), node.mountsUnderDir(), "mounts left after removing the pod");
                assertEquals(List.of(), VmTestNodes.vmProcesses(dir), "shim, qemu or virtiofsd left");
                try (var left = Files.list(Files.createDirectories(dir.resolve("vmstate")))) {
                    assertEquals(List.of(), left.toList(), "VM state left");
                }
            }
        } finally {
            node.close();
            assertEquals(List.of(), VmTestNodes.vmProcesses(dir), "shim, qemu or virtiofsd left");
        }
    }

    @Test
    void portForwardReachesPortsListeningInTheGuest() throws Exception {
        var request = PortForwardRequest.newBuilder().setPodSandboxId(pod).addPort(ECHO_PORT).addPort(HTTP_PORT)
                .addPort(1).build();
        try (var spdy = client.portForwardSpdy(URI.create(node.rt().portForward(request).getUrl()));
             var pool = Executors.newVirtualThreadPerTaskExecutor()) {
            awaitListening(spdy, ECHO_PORT);
            // More than the agent channel's window (256 KiB) each way, on two connections at once, half-closed:
            // flow control and EOF both ways through the shim and the agent.
            var results = new ArrayList<Future<String>>();
            for (int i = 0; i < 2; i++) {
                int seed = i;
                results.add(pool.submit(() -> roundTrip(spdy.connect(ECHO_PORT), seed)));
            }
            for (var r : results) {
                assertEquals("", r.get(300, TimeUnit.SECONDS), "the echo came back whole");
            }
            // HTTP to the other container's port, and a port nothing listens on in the guest.
            var http = spdy.connect(HTTP_PORT);
            http.output().write("GET /index.html HTTP/1.0\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            http.output().flush();
            String page = new String(http.input().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(page.contains("hello from a bollard pod"), "page: " + page + ", error: " + http.error());
            var refused = spdy.connect(1);
            String error = refused.error();
            assertTrue(error.contains("port 1 in the guest"), "the guest's refusal: " + error);
        }
    }

    @Test
    void hostPortReachesTheGuest() throws Exception {
        String page = null;
        IOException last = null;
        for (int i = 0; i < 150 && page == null; i++) {
            try (var s = new Socket()) {
                s.connect(new InetSocketAddress("127.0.0.1", hostPort), 2000);
                s.setSoTimeout(20_000);
                s.getOutputStream().write("GET /index.html HTTP/1.0\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
                page = new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            } catch (IOException e) {
                last = e;
                Thread.sleep(200);
            }
        }
        assertTrue(page != null && page.contains("hello from a bollard pod"),
                "hostPort " + hostPort + " answered: " + page + (last == null ? "" : " (" + last + ")"));
    }

    @Test
    void podFilesAndShmAreARuncPodsInTheGuest() throws Exception {
        // A runc pod with the same config (hostname, DNS) on the same node: its files are what a VM pod must get.
        var runcConfig = node.pod("vm-net-runc").setHostname("vm-net").setDnsConfig(DNS).build();
        String runcPod = node.runPod(runcConfig);
        try {
            String runc = node.createAndStart(runcPod, runcConfig, PodTestNode.container("plain", "sleep", "3600").build());
            assertEquals(run(runc, "cat /etc/resolv.conf"), run(web, "cat /etc/resolv.conf"));
            assertEquals("search vm.svc.cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n",
                    run(web, "cat /etc/resolv.conf"));
            assertEquals("vm-net\n", run(web, "cat /etc/hostname"));
            assertEquals(run(runc, "cat /etc/hostname"), run(web, "cat /etc/hostname"));
            assertEquals(run(runc, "hostname"), run(web, "hostname"));
            // /etc/hosts names each pod's own IP under its hostname: the same file but for the address.
            String vmIp = ip(pod);
            String runcIp = ip(runcPod);
            assertEquals(run(runc, "cat /etc/hosts").replace(runcIp, vmIp), run(web, "cat /etc/hosts"));
            assertTrue(run(web, "cat /etc/hosts").contains(vmIp + "\tvm-net\n"));

            // /dev/shm: a tmpfs in the guest (not the host's through virtiofs), as large as a runc pod's, one for
            // the pod's containers.
            String mount = run(web, "grep ' /dev/shm ' /proc/mounts");
            assertTrue(mount.startsWith("shm /dev/shm tmpfs "), "the guest's /dev/shm: " + mount);
            String size = "df -k /dev/shm | awk 'NR==2 {print $2}'";
            assertEquals(run(runc, size), run(web, size), "/dev/shm sized as a runc pod's");
            run(web, "echo shared > /dev/shm/from-web");
            assertEquals("shared\n", run(echo, "cat /dev/shm/from-web"));
        } finally {
            node.removePod(runcPod);
        }
    }

    @Test
    void theGuestHasTheCniInterfacesIpv6AddressAndRoutes() {
        String addresses = run(web, "ip -6 addr show dev eth0");
        assertTrue(addresses.contains("inet6 " + POD_IP6 + " scope global"), "the guest's addresses: " + addresses);
        String routes = run(web, "ip -6 route");
        assertTrue(routes.contains(ROUTE6 + " via " + GATEWAY6 + " dev eth0"), "the guest's routes: " + routes);
        // and IPv4 as before
        assertTrue(run(web, "ip route").contains("default via "), run(web, "ip route"));
    }

    private String ip(String podId) {
        return node.rt().podSandboxStatus(PodSandboxStatusRequest.newBuilder().setPodSandboxId(podId).build())
                .getStatus().getNetwork().getIp();
    }

    /** stdout of {@code sh -c script} in the container, which must exit 0. */
    private String run(String container, String script) {
        ExecSyncResponse r = node.rt().execSync(ExecSyncRequest.newBuilder().setContainerId(container).addCmd("sh")
                .addCmd("-c").addCmd(script).setTimeout(60).build());
        assertEquals(0, r.getExitCode(), script + ": " + r.getStderr().toStringUtf8());
        return r.getStdout().toStringUtf8();
    }

    /** nc in the guest listens a moment after its container starts: the first connections may find nothing. */
    private static void awaitListening(StreamClient.SpdyPortForward spdy, int port) throws Exception {
        String last = "";
        for (int attempt = 0; attempt < 150; attempt++) {
            var probe = spdy.connect(port);
            probe.output().write('x');
            probe.closeOutput();
            byte[] back = probe.input().readAllBytes();
            last = probe.error();
            if (back.length == 1 && last.isEmpty()) {
                return;
            }
            Thread.sleep(200);
        }
        throw new AssertionError("nothing listens on " + port + " in the guest: " + last);
    }

    /** Empty when the data came back whole, else what came back. */
    private static String roundTrip(StreamClient.Forwarded conn, int seed) throws Exception {
        byte[] data = new byte[1024 * 1024 + seed];
        new Random(seed).nextBytes(data);
        long start = System.nanoTime();
        var writer = Thread.ofVirtual().start(() -> {
            try {
                conn.output().write(data);
                conn.closeOutput();
            } catch (IOException e) {
                throw new RuntimeException(e);
            }
        });
        byte[] back = conn.input().readAllBytes();
        writer.join();
        String error = conn.error();
        conn.close();
        // a figure for the README, not a check
        System.out.printf("vm port-forward echo: %d bytes each way in %d ms%n", data.length,
                (System.nanoTime() - start) / 1_000_000);
        return Arrays.equals(data, back) ? "" : "sent " + data.length + " bytes, got " + back.length
                + " back, first difference at " + Arrays.mismatch(data, back) + ", error stream: " + error;
    }
}
