package dev.bollard.daemon.network;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The pure parts: how configuration is derived per call, CNI_ARGS, results, versions, parse errors. */
class CniLogicTest {

    @TempDir
    Path dir;

    private static JsonObject json(String s) {
        return JsonParser.parseString(s).getAsJsonObject();
    }

    private static PodNetworkRequest request(List<PortMapping> ports, Map<String, String> extra) {
        return new PodNetworkRequest("abc123", "web", "ns1", "u-1", Path.of("/run/x"), null, ports, extra);
    }

    @Test
    void execConfigPassesOnlyDeclaredCapabilitiesAndDropsTheCapabilitiesKey() {
        JsonObject plugin = json("""
                {"type":"portmap","capabilities":{"portMappings":true,"bandwidth":false},"snat":true}""");
        JsonObject caps = Cni.capabilityArgs(request(List.of(new PortMapping("UDP", 53, 5353, "127.0.0.1"),
                new PortMapping("tcp", 80, 0, "")), Map.of()));
        caps.add("bandwidth", json("{\"ingressRate\":1}"));
        JsonObject prev = json("{\"cniVersion\":\"1.0.0\",\"ips\":[]}");
        JsonObject c = Cni.execConfig(plugin, "net1", "1.0.0", prev, caps);
        assertFalse(c.has("capabilities"));
        assertEquals("net1", c.get("name").getAsString());
        assertEquals("1.0.0", c.get("cniVersion").getAsString());
        assertEquals(prev, c.get("prevResult"));
        assertEquals(json("""
                {"portMappings":[{"hostPort":5353,"containerPort":53,"protocol":"udp","hostIP":"127.0.0.1"}]}"""),
                c.get("runtimeConfig"));
        assertTrue(plugin.has("capabilities"), "the network's own object is not changed");

        JsonObject bridge = Cni.execConfig(json("{\"type\":\"bridge\"}"), "net1", "0.4.0", null, caps);
        assertFalse(bridge.has("runtimeConfig"));
        assertFalse(bridge.has("prevResult"));
    }

    @Test
    void cniArgsFollowKubeletsConvention() {
        assertEquals("IgnoreUnknown=1;K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=web;K8S_POD_INFRA_CONTAINER_ID=abc123;"
                        + "K8S_POD_UID=u-1;A=1;B=2",
                Cni.cniArgs(request(List.of(), Map.of("B", "2", "A", "1"))));
        assertThrows(IllegalArgumentException.class, () -> Cni.cniArgs(request(List.of(), Map.of("X", "a;b"))));
        assertThrows(IllegalArgumentException.class, () -> new PodNetworkRequest("../evil", "", "", "", Path.of("/x"),
                "eth0", List.of(), Map.of()));
        assertThrows(IllegalArgumentException.class, () -> new PodNetworkRequest("ok", "", "", "", Path.of("/x"),
                "way-too-long-ifname", List.of(), Map.of()));
        assertThrows(IllegalArgumentException.class, () -> new PortMapping("icmp", 1, 1, ""));
    }

    @Test
    void podIpsAreTheSandboxInterfacesV4First() {
        JsonObject r = json("""
                {"cniVersion":"1.0.0",
                 "interfaces":[{"name":"cni0"},{"name":"eth0","sandbox":"/run/netns/x"},{"name":"net1","sandbox":"/x"}],
                 "ips":[{"address":"fd00::5/64","interface":1},{"address":"10.1.0.5/24","interface":1},
                        {"address":"10.1.0.1/24","interface":0},{"address":"10.9.0.5/24","interface":2}]}""");
        assertEquals(List.of("10.1.0.5", "fd00::5"), CniResults.podIps(r, "eth0"));
        assertEquals(List.of("10.2.0.7"), CniResults.podIps(json("{\"ips\":[{\"address\":\"10.2.0.7/16\"}]}"), "eth0"));
        assertEquals(List.of("10.3.0.2", "fd01::2"), CniResults.podIps(json("""
                {"cniVersion":"0.2.0","ip4":{"ip":"10.3.0.2/16"},"ip6":{"ip":"fd01::2/64"}}"""), "eth0"));
    }

    @Test
    void versionsAreChosenAndCompared() {
        assertTrue(CniVersions.atLeast("1.0.0", "0.4.0"));
        assertFalse(CniVersions.atLeast("0.3.1", "0.4.0"));
        assertTrue(CniVersions.atLeast("0.10.0", "0.4.0"));
        var net = NetworkConfigList.parse("""
                {"name":"n","cniVersions":["0.4.0","1.0.0","1.1.0"],"plugins":[{"type":"a"},{"type":"b"}]}""",
                "x", false);
        assertEquals("1.1.0", CniVersions.choose(net, java.util.Arrays.asList(null, null)).orElseThrow());
        assertEquals("1.0.0", CniVersions.choose(net, List.of(Set.of("1.0.0", "1.1.0"), Set.of("0.4.0", "1.0.0")))
                .orElseThrow());
        assertTrue(CniVersions.choose(net, List.of(Set.of("0.3.1"), Set.of("0.3.1"))).isEmpty());
    }

    @Test
    void parseErrorsSayWhatIsWrong() {
        assertEquals("no \"plugins\" list",
                assertThrows(IllegalArgumentException.class, () -> NetworkConfigList.parse(
                        "{\"name\":\"n\",\"cniVersion\":\"1.0.0\",\"type\":\"bridge\"}", "f", false)).getMessage());
        assertEquals("plugin 1 of network n has no \"type\"", assertThrows(IllegalArgumentException.class,
                () -> NetworkConfigList.parse("{\"name\":\"n\",\"cniVersion\":\"1.0.0\",\"plugins\":[{\"type\":\"a\"},{}]}",
                        "f", false)).getMessage());
        assertEquals("invalid cniVersion \"1.0\" in network n", assertThrows(IllegalArgumentException.class,
                () -> NetworkConfigList.parse("{\"name\":\"n\",\"cniVersion\":\"1.0\",\"plugins\":[{\"type\":\"a\"}]}",
                        "f", false)).getMessage());
        var single = NetworkConfigList.parse("{\"name\":\"n\",\"cniVersion\":\"0.3.1\",\"type\":\"bridge\"}", "f", true);
        assertEquals(1, single.plugins().size());
        assertEquals("bridge", NetworkConfigList.type(single.plugins().getFirst()));
        assertTrue(NetworkConfigList.parse("""
                {"name":"n","cniVersion":"1.0.0","disableCheck":"true","plugins":[{"type":"a"}]}""", "f", false)
                .disableCheck());
    }

    @Test
    void aHungPluginIsKilledAndNamed() throws Exception {
        // A stand-in for a plugin that never answers (the real ones do not hang on demand).
        Path bin = Files.createDirectory(dir.resolve("bin"));
        Path hang = bin.resolve("bt-hang");
        Files.writeString(hang, "#!/bin/sh\nexec sleep 600\n");
        Files.setPosixFilePermissions(hang, PosixFilePermissions.fromString("rwxr-xr-x"));
        var exec = new PluginExec(List.of(bin), Duration.ofMillis(300));
        var e = assertThrows(CniException.class, () -> exec.run("bt-hang",
                new PluginExec.Invocation("ADD", "c1", "/x", "eth0", ""), new byte[0]));
        assertEquals("bt-hang", e.plugin());
        assertTrue(e.getMessage().contains("was killed"), e.getMessage());
        assertTrue(ProcessHandle.allProcesses().noneMatch(p -> p.info().commandLine().orElse("")
                .contains(hang.toString())), "the plugin is gone");
    }

    @Test
    void aPluginsErrorJsonBecomesTheException() throws Exception {
        Path bin = Files.createDirectory(dir.resolve("bin"));
        Path fail = bin.resolve("bt-fail");
        Files.writeString(fail, """
                #!/bin/sh
                echo "env:$CNI_COMMAND:$CNI_CONTAINERID:$CNI_IFNAME:${HOME:-nohome}" >&2
                echo '{"cniVersion":"1.0.0","code":7,"msg":"bad config","details":"field x"}'
                exit 1
                """);
        Files.setPosixFilePermissions(fail, PosixFilePermissions.fromString("rwxr-xr-x"));
        var exec = new PluginExec(List.of(dir.resolve("missing"), bin), Duration.ofSeconds(10));
        var e = assertThrows(CniException.class, () -> exec.run("bt-fail",
                new PluginExec.Invocation("DEL", "c1", "", "eth0", ""), new byte[0]));
        assertEquals(7, e.code());
        assertEquals("bad config", e.pluginMessage());
        assertEquals("field x", e.details());
        assertEquals("env:DEL:c1:eth0:nohome", e.stderr().strip(), "a clean environment with the CNI variables");
        assertEquals("CNI plugin bt-fail DEL failed (code 7): bad config: field x [stderr: env:DEL:c1:eth0:nohome]",
                e.getMessage());
    }

    @Test
    void aSpec110NetworkIsReadyOnlyWhenEveryPluginsStatusSucceeds() throws Exception {
        // Stand-in plugins: the installed ones speak at most 1.0.0, which has no STATUS.
        Path bin = Files.createDirectory(dir.resolve("bin"));
        Path flag = dir.resolve("unavailable");
        Path plugin = bin.resolve("bt-status");
        Files.writeString(plugin, """
                #!/bin/sh
                config=$(cat)
                case "$CNI_COMMAND" in
                VERSION) echo '{"cniVersion":"1.1.0","supportedVersions":["1.0.0","1.1.0"]}' ;;
                STATUS)
                  case "$config" in *'"name":"n11"'*) ;; *) echo '{"code":7,"msg":"no name"}'; exit 1 ;; esac
                  if [ -e %s ]; then echo '{"cniVersion":"1.1.0","code":50,"msg":"no upstream"}'; exit 1; fi ;;
                esac
                """.formatted(flag));
        Files.setPosixFilePermissions(plugin, PosixFilePermissions.fromString("rwxr-xr-x"));
        Path conf = Files.createDirectory(dir.resolve("net.d"));
        Files.writeString(conf.resolve("10-n.conflist"),
                "{\"name\":\"n11\",\"cniVersion\":\"1.1.0\",\"plugins\":[{\"type\":\"bt-status\"}]}");
        var cni = new Cni(new CniConfig(conf, List.of(bin), dir.resolve("cache"), Duration.ofSeconds(10)));
        NetworkStatus ok = cni.status();
        assertTrue(ok.ready(), ok.toString());
        Files.createFile(flag);
        NetworkStatus down = cni.status();
        assertFalse(down.ready());
        assertEquals("NetworkPluginNotReady", down.reason());
        assertTrue(down.message().contains("bt-status STATUS failed (code 50): no upstream"), down.message());
    }

    @Test
    void theStartUpWarmUpAsksEachPluginsVersionOnceAndTheFirstStatusUsesIt() throws Exception {
        Path bin = Files.createDirectory(dir.resolve("bin"));
        Path asked = dir.resolve("asked");
        Path plugin = bin.resolve("bt-count");
        Files.writeString(plugin, """
                #!/bin/sh
                cat >/dev/null
                case "$CNI_COMMAND" in
                VERSION) echo v >> %s; echo '{"cniVersion":"1.0.0","supportedVersions":["0.4.0","1.0.0"]}' ;;
                esac
                """.formatted(asked));
        Files.setPosixFilePermissions(plugin, PosixFilePermissions.fromString("rwxr-xr-x"));
        Path conf = Files.createDirectory(dir.resolve("net.d"));
        Files.writeString(conf.resolve("10-n.conflist"),
                "{\"name\":\"n10\",\"cniVersion\":\"1.0.0\",\"plugins\":[{\"type\":\"bt-count\"}]}");
        var cni = new Cni(new CniConfig(conf, List.of(bin), dir.resolve("cache"), Duration.ofSeconds(10)));
        cni.warmUp();
        NetworkStatus first = statusAfterWarmUp(cni);
        assertTrue(first.ready(), first.toString());
        assertEquals(1, Files.readAllLines(asked).size(), "VERSION asked once, by the warm-up");

        // the configuration is read again by the next Status: a network asking for a version no plugin speaks
        Files.writeString(conf.resolve("10-n.conflist"),
                "{\"name\":\"n10\",\"cniVersion\":\"1.1.0\",\"plugins\":[{\"type\":\"bt-count\"}]}");
        NetworkStatus changed = cni.status();
        assertFalse(changed.ready(), "the change shows in the next Status: " + changed);
        assertEquals("IncompatibleCniVersion", changed.reason());
    }

    @Test
    void statusDuringTheStartUpWarmUpRunsNoPluginAndLaterStatusesUseTheWarmUpsAnswers() throws Exception {
        // VERSION blocks until the test lets it go: the warm-up is still running when Status comes
        Path bin = Files.createDirectory(dir.resolve("bin"));
        Path asked = dir.resolve("asked");
        Path go = dir.resolve("go");
        Path plugin = bin.resolve("bt-slow");
        Files.writeString(plugin, """
                #!/bin/sh
                cat >/dev/null
                case "$CNI_COMMAND" in
                VERSION) echo v >> %s; while [ ! -e %s ]; do sleep 0.05; done
                  echo '{"cniVersion":"1.0.0","supportedVersions":["0.4.0","1.0.0"]}' ;;
                esac
                """.formatted(asked, go));
        Files.setPosixFilePermissions(plugin, PosixFilePermissions.fromString("rwxr-xr-x"));
        Path conf = Files.createDirectory(dir.resolve("net.d"));
        Files.writeString(conf.resolve("10-n.conflist"),
                "{\"name\":\"n10\",\"cniVersion\":\"1.0.0\",\"plugins\":[{\"type\":\"bt-slow\"}]}");
        var cni = new Cni(new CniConfig(conf, List.of(bin), dir.resolve("cache"), Duration.ofSeconds(30)));
        cni.warmUp();
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (!Files.exists(asked) && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        NetworkStatus during = cni.status();
        assertTrue(during.ready(), during.toString());
        assertEquals("network n10 from " + conf.resolve("10-n.conflist") + " (plugin versions being checked)",
                during.message());
        assertEquals(1, Files.readAllLines(asked).size(), "that Status started no plugin");

        // a missing executable shows at once, warm-up or not
        Files.writeString(conf.resolve("10-n.conflist"),
                "{\"name\":\"n10\",\"cniVersion\":\"1.0.0\",\"plugins\":[{\"type\":\"bt-none\"}]}");
        assertEquals("PluginMissing", cni.status().reason());
        Files.writeString(conf.resolve("10-n.conflist"),
                "{\"name\":\"n10\",\"cniVersion\":\"1.0.0\",\"plugins\":[{\"type\":\"bt-slow\"}]}");

        Files.createFile(go);
        NetworkStatus after = statusAfterWarmUp(cni);
        assertTrue(after.ready(), after.toString());
        assertFalse(after.message().contains("being checked"), after.message());
        assertEquals(1, Files.readAllLines(asked).size(), "the warm-up's VERSION answer is the one used");
    }

    /** Status once the start-up's warm-up has ended (until then it answers from the files). */
    private static NetworkStatus statusAfterWarmUp(Cni cni) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        NetworkStatus s = cni.status();
        while (s.message().contains("(plugin versions being checked)") && System.nanoTime() < deadline) {
            Thread.sleep(20);
            s = cni.status();
        }
        return s;
    }
}
