package dev.bollard.daemon.network;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Real plugins from /usr/lib/cni in real network namespaces, as root. Each test has its own bridge (bt + 6 random
 * characters), a /24 no host route touches, host-local's data in a temporary directory, and cleans up the bridge,
 * the namespaces and any iptables rule naming its pods or subnet even when it fails.
 */
class CniTest {

    @org.junit.jupiter.api.BeforeAll
    static void needsRoot() {
        dev.bollard.daemon.testkit.Root.assume("CNI plugins in a network namespace");
    }

    @TempDir
    Path dir;

    private String bridge;
    private String prefix;
    private String subnet;
    private Path confDir;
    private Path ipamDir;
    private Cni cni;
    private final List<NetNs> namespaces = new ArrayList<>();
    private final List<PodNetworkRequest> pods = new ArrayList<>();
    private boolean hostPortChainsExisted;

    @BeforeEach
    void setUp() throws Exception {
        bridge = "bt" + HostNet.suffix();
        prefix = HostNet.freeSubnetPrefix();
        subnet = prefix + ".0/24";
        confDir = Files.createDirectory(dir.resolve("net.d"));
        ipamDir = dir.resolve("ipam");
        cni = new Cni(new CniConfig(confDir, CniConfig.DEFAULT_BIN_DIRS, dir.resolve("cache"), Duration.ofSeconds(30)));
        hostPortChainsExisted = HostNet.sh("iptables", "-t", "nat", "-S", "CNI-HOSTPORT-DNAT").status() == 0;
    }

    @AfterEach
    void cleanUp() throws Exception {
        List<String> ids = new ArrayList<>();
        for (PodNetworkRequest pod : pods) {
            ids.add(pod.podId());
            try {
                cni.tearDown(pod);
            } catch (Exception e) {
                // the rules and links below go anyway
            }
        }
        for (NetNs ns : namespaces) {
            ns.remove();
        }
        HostNet.sh("ip", "link", "del", bridge);
        List<String> needles = new ArrayList<>(ids);
        needles.add(prefix + ".");
        HostNet.deleteRulesMentioning(needles.toArray(String[]::new));
        if (!hostPortChainsExisted) {
            removeEmptyHostPortChains();
        }
    }

    /**
     * portmap creates CNI-HOSTPORT-* chains and jumps to them once and never removes them. They are removed here only
     * when this test created them and no other pod's rule is left in them (another run may be using them).
     */
    private static void removeEmptyHostPortChains() throws IOException, InterruptedException {
        String dnat = HostNet.sh("iptables", "-t", "nat", "-S", "CNI-HOSTPORT-DNAT").out();
        if (dnat.lines().anyMatch(l -> l.startsWith("-A CNI-HOSTPORT-DNAT"))) {
            return;
        }
        HostNet.deleteRulesMentioning("-j CNI-HOSTPORT-");
        for (String chain : List.of("CNI-HOSTPORT-DNAT", "CNI-HOSTPORT-SETMARK", "CNI-HOSTPORT-MASQ")) {
            HostNet.sh("iptables", "-t", "nat", "-F", chain);
            HostNet.sh("iptables", "-t", "nat", "-X", chain);
        }
    }

    private JsonObject network(String name) {
        return Cni.defaultConfig(name, bridge, subnet, ipamDir);
    }

    private void writeConf(String file, JsonObject list) throws IOException {
        Files.writeString(confDir.resolve(file), list.toString());
    }

    private PodNetworkRequest pod(List<PortMapping> ports) throws IOException {
        String id = "bt" + HostNet.suffix() + Long.toHexString(ThreadLocalRandom.current().nextLong());
        NetNs ns = NetNs.create(dir.resolve("netns").resolve(id));
        namespaces.add(ns);
        var req = new PodNetworkRequest(id, "web", "default", "uid-" + id, ns.path(), "eth0", ports,
                Map.of());
        pods.add(req);
        return req;
    }

    private Path ipamFile(String network, String ip) {
        return ipamDir.resolve(network).resolve(ip);
    }

    private static String inNetns(NetNs ns, String... command) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of("nsenter", "--net=" + ns.path()));
        cmd.addAll(List.of(command));
        return HostNet.ok(cmd.toArray(String[]::new));
    }

    @Test
    void setUpAttachesThePodReachablyAndTearDownReleasesEverything() throws Exception {
        writeConf("10-test.conflist", network("bt-net"));
        NetworkStatus status = cni.status();
        assertTrue(status.ready(), status.toString());
        assertEquals("bt-net", status.networkName().orElseThrow());

        PodNetworkRequest req = pod(List.of());
        NetNs ns = NetNs.at(req.netns());
        PodNetworkResult result = cni.setUp(req);
        String ip = result.primaryIp();
        assertTrue(ip.startsWith(prefix + "."), ip + " in " + subnet);
        assertEquals(List.of(ip), result.ips());
        assertEquals("eth0", result.interfaceName());
        assertTrue(Files.exists(ipamFile("bt-net", ip)), "host-local reserved " + ip);
        assertTrue(Files.exists(cni.cacheFile(req)));

        List<String> inside = ns.run(HostNet::interfacesOfThread);
        assertTrue(inside.contains("eth0") && inside.contains("lo"), inside.toString());
        assertTrue(inNetns(ns, "ip", "-o", "-4", "addr", "show", "dev", "eth0").contains(" " + ip + "/24"));
        assertTrue(inNetns(ns, "ip", "-o", "link", "show", "dev", "lo").contains(",UP"), "loopback plugin ran");
        assertTrue(inNetns(ns, "ip", "route").contains("default via " + prefix + ".1"));
        HostNet.ok("/bin/busybox", "ping", "-c1", "-W2", ip);

        cni.check(req);

        cni.tearDown(req);
        assertFalse(Files.exists(ipamFile("bt-net", ip)), "host-local released " + ip);
        assertFalse(Files.exists(cni.cacheFile(req)));
        assertEquals(List.of("lo"), ns.run(HostNet::interfacesOfThread));
        assertEquals(List.of(), HostNet.rulesMentioning(req.podId(), ip + "/"), "bridge DEL removed its masquerade");
        assertEquals(1, HostNet.sh("/bin/busybox", "ping", "-c1", "-W1", ip).status());

        cni.tearDown(req);
        var e = assertThrows(IOException.class, () -> cni.check(req));
        assertTrue(e.getMessage().contains("no recorded ADD"), e.getMessage());
    }

    @Test
    void tearDownWorksFromTheRecordAfterTheConfigurationIsGone() throws Exception {
        writeConf("10-test.conflist", network("bt-net"));
        PodNetworkRequest req = pod(List.of());
        String ip = cni.setUp(req).primaryIp();
        assertTrue(Files.exists(ipamFile("bt-net", ip)));

        Files.delete(confDir.resolve("10-test.conflist"));
        NetworkStatus status = cni.status();
        assertFalse(status.ready());
        assertEquals("NoNetworkConfig", status.reason());
        assertTrue(status.message().contains(confDir.toString()), status.message());

        // The namespace is gone too: DEL runs with an empty CNI_NETNS and host-local still releases. (bridge then
        // leaves its masquerade rule and chain for this pod; cleanUp removes them.)
        NetNs.at(req.netns()).remove();
        cni.tearDown(req);
        assertFalse(Files.exists(ipamFile("bt-net", ip)), "released " + ip);
        assertFalse(Files.exists(cni.cacheFile(req)));
        cni.tearDown(req);
    }

    @Test
    void aHostPortReachesTheListenerInsideThePod() throws Exception {
        writeConf("10-test.conflist", network("bt-net"));
        int containerPort = 8080;
        int hostPort = ThreadLocalRandom.current().nextInt(20000, 40000);
        PodNetworkRequest req = pod(List.of(new PortMapping("TCP", containerPort, hostPort, ""),
                new PortMapping("tcp", 9090, 0, "")));
        NetNs ns = NetNs.at(req.netns());
        String ip = cni.setUp(req).primaryIp();

        // Bound inside: Java creates the socket's file descriptor only at bind, and the namespace is the creating
        // thread's.
        try (ServerSocket server = ns.run(() -> {
            var s = new ServerSocket();
            s.bind(new InetSocketAddress("0.0.0.0", containerPort));
            return s;
        })) {
            Thread acceptor = Thread.ofVirtual().start(() -> {
                for (int i = 0; i < 3; i++) {
                    try (Socket s = server.accept()) {
                        s.getOutputStream().write(("hello from " + ip + "\n").getBytes(StandardCharsets.UTF_8));
                    } catch (IOException e) {
                        return;
                    }
                }
            });
            // Through the bridge's (gateway) address: a local destination, so the OUTPUT DNAT rules apply.
            assertEquals("hello from " + ip, readLine(prefix + ".1", hostPort));
            // Loopback too: portmap sets route_localnet on the bridge and masquerades 127.0.0.1 sources.
            assertEquals("hello from " + ip, readLine("127.0.0.1", hostPort));
            // The pod's own address and port, directly.
            assertEquals("hello from " + ip, readLine(ip, containerPort));
            server.close();
            acceptor.join();
        }
        List<String> dnat = HostNet.rulesMentioning(String.valueOf(hostPort));
        assertFalse(dnat.isEmpty(), "portmap added DNAT rules for " + hostPort);
        assertTrue(HostNet.rulesMentioning(":9090").isEmpty(), "a mapping without a host port is not passed on");

        List<CniException> advisories = cni.checkReport(req);
        advisories.forEach(a -> assertEquals("portmap", a.plugin(), a.getMessage()));

        cni.tearDown(req);
        assertEquals(List.of(), HostNet.rulesMentioning(String.valueOf(hostPort)), "portmap DEL removed its DNAT");
        assertEquals(List.of(), HostNet.rulesMentioning(req.podId(), ip + "/"));
    }

    private static String readLine(String host, int port) throws IOException {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(host, port), 3000);
            s.setSoTimeout(3000);
            InputStream in = s.getInputStream();
            return new String(in.readAllBytes(), StandardCharsets.UTF_8).strip();
        }
    }

    @Test
    void aMissingPluginMakesTheNetworkNotReadyAndSetUpNamesIt() throws Exception {
        JsonObject net = network("bt-net");
        var missing = new JsonObject();
        missing.addProperty("type", "bt-no-such-plugin");
        net.getAsJsonArray("plugins").add(missing);
        writeConf("10-test.conflist", net);

        NetworkStatus status = cni.status();
        assertFalse(status.ready());
        assertEquals("PluginMissing", status.reason());
        assertTrue(status.message().contains("\"bt-no-such-plugin\"") && status.message().contains("/usr/lib/cni"),
                status.message());
        assertTrue(status.message().contains("10-test.conflist"), status.message());

        PodNetworkRequest req = pod(List.of());
        var e = assertThrows(CniException.class, () -> cni.setUp(req));
        assertEquals("bt-no-such-plugin", e.plugin());
        assertFalse(Files.exists(cni.cacheFile(req)));
        assertFalse(Files.exists(ipamDir.resolve("bt-net")) && Files.list(ipamDir.resolve("bt-net"))
                .anyMatch(p -> p.getFileName().toString().startsWith(prefix)), "nothing was added");
    }

    @Test
    void aPluginFailingMidChainRollsBackTheEarlierOnes() throws Exception {
        JsonObject net = network("bt-net");
        JsonArray plugins = net.getAsJsonArray("plugins");
        var tuning = new JsonObject();
        tuning.addProperty("type", "tuning");
        var sysctl = new JsonObject();
        sysctl.addProperty("net.ipv4.conf.eth0.bt_no_such_sysctl", "1");
        tuning.add("sysctl", sysctl);
        plugins.set(1, tuning); // bridge, tuning (fails), loopback
        writeConf("10-test.conflist", net);
        assertTrue(cni.status().ready(), cni.status().toString());

        PodNetworkRequest req = pod(List.of());
        var e = assertThrows(CniException.class, () -> cni.setUp(req));
        assertEquals("tuning", e.plugin());
        assertEquals("ADD", e.command());
        assertTrue(e.getMessage().contains("bt_no_such_sysctl"), e.getMessage());

        Path reserved = ipamDir.resolve("bt-net");
        List<String> left = Files.isDirectory(reserved)
                ? Files.list(reserved).map(p -> p.getFileName().toString()).filter(n -> n.startsWith(prefix)).toList()
                : List.of();
        assertEquals(List.of(), left, "bridge's DEL released the address");
        assertFalse(Files.exists(cni.cacheFile(req)), "no record after a rolled-back ADD");
        assertEquals(List.of("lo"), NetNs.at(req.netns()).run(HostNet::interfacesOfThread));
    }

    @Test
    void aPodNameTooBigForThePluginsEnvironmentLeavesNoRecord() throws Exception {
        writeConf("10-test.conflist", network("bt-net"));
        // CNI_ARGS carries the name; one environment string over the kernel's 128 KiB fails exec with E2BIG
        String id = "bt" + HostNet.suffix() + Long.toHexString(ThreadLocalRandom.current().nextLong());
        NetNs ns = NetNs.create(dir.resolve("netns").resolve(id));
        namespaces.add(ns);
        var req = new PodNetworkRequest(id, "n".repeat(200 * 1024), "default", "uid-" + id, ns.path(), "eth0",
                List.of(), Map.of());
        pods.add(req);

        var e = assertThrows(CniException.class, () -> cni.setUp(req));
        assertEquals("bridge", e.plugin());
        assertTrue(e.getMessage().contains("cannot start"), e.getMessage());
        assertFalse(Files.exists(cni.cacheFile(req)), "no record of an ADD no plugin ran");
    }

    @Test
    void firstValidFileByNameWinsAndInvalidOnesAreNamed() throws Exception {
        Files.writeString(confDir.resolve("05-broken.conflist"), "{not json");
        writeConf("20-b.conflist", network("bt-b"));
        writeConf("10-a.conflist", network("bt-a"));
        NetworkStatus status = cni.status();
        assertTrue(status.ready(), status.toString());
        assertEquals("bt-a", status.networkName().orElseThrow());
        assertTrue(status.message().contains("05-broken.conflist"), status.message());

        Files.delete(confDir.resolve("10-a.conflist"));
        Files.delete(confDir.resolve("20-b.conflist"));
        status = cni.status();
        assertFalse(status.ready());
        assertEquals("InvalidNetworkConfig", status.reason());
        assertTrue(status.message().contains("05-broken.conflist"), status.message());
    }

    @Test
    void aVersionNoPluginSpeaksIsNotReady() throws Exception {
        JsonObject net = network("bt-net");
        net.addProperty("cniVersion", "9.0.0");
        writeConf("10-test.conflist", net);
        NetworkStatus status = cni.status();
        assertFalse(status.ready());
        assertEquals("IncompatibleCniVersion", status.reason());
        assertTrue(status.message().contains("9.0.0") && status.message().contains("bridge"), status.message());

        // cniVersions (spec 1.1): the highest that every plugin here speaks is chosen.
        net.remove("cniVersion");
        var versions = new JsonArray();
        versions.add("0.4.0");
        versions.add("1.0.0");
        versions.add("9.0.0");
        net.add("cniVersions", versions);
        writeConf("10-test.conflist", net);
        status = cni.status();
        assertTrue(status.ready(), status.toString());
        assertTrue(status.message().contains("cniVersion 1.0.0"), status.message());
    }

    @Test
    void writeDefaultConfigWritesOnlyIntoAnEmptyDirectory() throws Exception {
        Path d = dir.resolve("fresh/net.d");
        assertTrue(Cni.writeDefaultConfig(d, bridge, subnet));
        JsonObject written = JsonParser.parseString(Files.readString(d.resolve("10-bollard.conflist")))
                .getAsJsonObject();
        assertEquals("1.0.0", written.get("cniVersion").getAsString());
        JsonObject br = written.getAsJsonArray("plugins").get(0).getAsJsonObject();
        assertEquals(bridge, br.get("bridge").getAsString());
        assertEquals(subnet, br.getAsJsonObject("ipam").getAsJsonArray("ranges").get(0).getAsJsonArray().get(0)
                .getAsJsonObject().get("subnet").getAsString());
        assertFalse(Cni.writeDefaultConfig(d, "other", "10.1.0.0/16"));
        var c = new Cni(new CniConfig(d, CniConfig.DEFAULT_BIN_DIRS, dir.resolve("c2"), null));
        assertTrue(c.status().ready(), c.status().toString());
    }
}
