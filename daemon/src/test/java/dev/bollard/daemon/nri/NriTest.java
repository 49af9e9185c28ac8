package dev.bollard.daemon.nri;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.bollard.api.cri.v1.PodSandboxConfig;
import dev.bollard.api.cri.v1.PodSandboxMetadata;
import dev.bollard.api.nri.v1alpha1.ContainerAdjustment;
import dev.bollard.api.nri.v1alpha1.Event;
import dev.bollard.api.nri.v1alpha1.KeyValue;
import dev.bollard.daemon.config.BollardConfig;
import dev.bollard.daemon.linux.UnixSockets;
import dev.bollard.daemon.container.ContainerStore;
import dev.bollard.daemon.sandbox.Sandbox;
import dev.bollard.daemon.sandbox.SandboxRecord;
import dev.bollard.daemon.sandbox.SandboxState;
import dev.bollard.daemon.sandbox.SandboxStore;
import dev.bollard.daemon.store.ProtoJson;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The runtime side against plugins of our own on a real socket: set-up, order, adjustments, a hanging plugin. */
class NriTest {

    @TempDir
    Path dir;
    private Nri nri;
    private final List<TestNriPlugin> plugins = new ArrayList<>();
    private Sandbox pod;

    @BeforeEach
    void setUp() throws Exception {
        var config = new BollardConfig.Nri(true, dir.resolve("nri.sock"), dir.resolve("plugins"),
                dir.resolve("conf.d"), Duration.ofSeconds(5), Duration.ofMillis(700), false);
        var sandboxes = new SandboxStore(Files.createDirectories(dir.resolve("pods")));
        var containers = new ContainerStore(Files.createDirectories(dir.resolve("containers")));
        nri = new Nri(config, sandboxes, containers, (id, r) -> { }).start();
        var podConfig = PodSandboxConfig.newBuilder().setMetadata(PodSandboxMetadata.newBuilder().setName("web")
                .setNamespace("default").setUid("u1")).putLabels("app", "web").build();
        pod = new Sandbox(SandboxRecord.builder().id("pod1").name("web").config(ProtoJson.toJson(podConfig))
                .state(SandboxState.READY).build(), podConfig, null);
    }

    @AfterEach
    void tearDown() {
        plugins.forEach(TestNriPlugin::close);
        nri.close();
    }

    private TestNriPlugin plugin(String name, String index, int events, ContainerAdjustment adjustment) throws Exception {
        var p = new TestNriPlugin(dir.resolve("nri.sock"), name, index, events, adjustment);
        plugins.add(p);
        return p;
    }

    private static void await(BooleanSupplier condition) throws InterruptedException {
        for (int i = 0; i < 200 && !condition.getAsBoolean(); i++) {
            Thread.sleep(50);
        }
        assertTrue(condition.getAsBoolean(), "condition not reached in 10 s");
    }

    private static JsonObject spec() {
        return JsonParser.parseString("{\"process\": {\"args\": [\"sh\"], \"env\": [\"PATH=/bin\"]}}").getAsJsonObject();
    }

    private static ContainerAdjustment env(String name, String value) {
        return ContainerAdjustment.newBuilder().addEnv(KeyValue.newBuilder().setKey(name).setValue(value)).build();
    }

    @Test
    void pluginsAreConfiguredSynchronizedAndCalledInIndexOrder() throws Exception {
        var late = plugin("late", "20", 0, env("WHO", "late"));
        var early = plugin("early", "05", 0, env("WHO", "early"));
        var configure = late.configured.get(10, TimeUnit.SECONDS);
        assertEquals("bollard", configure.getRuntimeName());
        assertEquals(700, configure.getRequestTimeout());
        assertEquals(0, late.synchronized_.get(10, TimeUnit.SECONDS).getPodsCount());
        early.synchronized_.get(10, TimeUnit.SECONDS);
        await(() -> nri.pluginNames().size() == 2);
        assertEquals(List.of("05-early", "20-late"), nri.pluginNames());

        var out = nri.createContainer(pod, "c1", "app", java.util.Map.of("tier", "front"), spec());
        assertEquals("[\"PATH=/bin\",\"WHO=late\"]", out.getAsJsonObject("process").get("env").toString(),
                "both asked; the higher index wins");
        var request = early.creates.getFirst();
        assertEquals("web", request.getPod().getName());
        assertEquals("front", request.getContainer().getLabelsMap().get("tier"));
        assertEquals("[sh]", request.getContainer().getArgsList().toString());
    }

    @Test
    void aLiveSocketIsNeverTakenAStaleOneIsReplaced() throws Exception {
        var config = new BollardConfig.Nri(true, dir.resolve("nri.sock"), dir.resolve("plugins"),
                dir.resolve("conf.d"), Duration.ofSeconds(5), Duration.ofMillis(700), false);
        var second = new Nri(config, new SandboxStore(Files.createDirectories(dir.resolve("pods2"))),
                new ContainerStore(Files.createDirectories(dir.resolve("containers2"))), (id, r) -> { });
        var refused = assertThrows(java.io.IOException.class, second::start);
        assertTrue(refused.getMessage().contains("is in use"), refused.getMessage());
        // the first runtime still serves: a plugin can still register with it
        var p = plugin("still", "10", 0, env("A", "1"));
        await(() -> nri.pluginNames().contains("10-still"));
        p.close();
        second.close();

        Path stale = dir.resolve("stale.sock");
        try (var ch = java.nio.channels.ServerSocketChannel.open(java.net.StandardProtocolFamily.UNIX)) {
            ch.bind(java.net.UnixDomainSocketAddress.of(stale)); // bound, then closed: a file nobody answers on
        }
        var staleConfig = new BollardConfig.Nri(true, stale, dir.resolve("plugins"),
                dir.resolve("conf.d"), Duration.ofSeconds(5), Duration.ofMillis(700), false);
        try (var third = new Nri(staleConfig, new SandboxStore(Files.createDirectories(dir.resolve("pods3"))),
                new ContainerStore(Files.createDirectories(dir.resolve("containers3"))), (id, r) -> { }).start()) {
            assertEquals(UnixSockets.PathState.LIVE_SOCKET, UnixSockets.probe(stale));
        }
    }

    @Test
    void eventsGoOnlyToSubscribers() throws Exception {
        int runPodOnly = 1 << (Event.RUN_POD_SANDBOX_VALUE - 1);
        var p = plugin("pods", "10", runPodOnly, env("X", "1"));
        p.synchronized_.get(10, TimeUnit.SECONDS);
        await(() -> nri.pluginNames().size() == 1);
        var out = nri.createContainer(pod, "c1", "app", java.util.Map.of(), spec());
        assertEquals(spec(), out, "not subscribed to CreateContainer: not asked");
        assertTrue(p.creates.isEmpty());
        nri.podEvent(Event.STOP_POD_SANDBOX, pod);
        nri.podEvent(Event.RUN_POD_SANDBOX, pod);
        await(() -> !p.stateChanges.isEmpty());
        Thread.sleep(200);
        assertEquals(1, p.stateChanges.size());
        assertEquals(Event.RUN_POD_SANDBOX, p.stateChanges.getFirst().getEvent());
        assertEquals("pod1", p.stateChanges.getFirst().getPod().getId());
    }

    @Test
    void aHangingPluginIsWaitedForAtMostTheTimeoutThenDisconnected() throws Exception {
        var hanging = plugin("hangs", "01", 0, null);
        var good = plugin("good", "02", 0, env("OK", "1"));
        good.synchronized_.get(10, TimeUnit.SECONDS);
        hanging.synchronized_.get(10, TimeUnit.SECONDS);
        await(() -> nri.pluginNames().size() == 2);
        JsonObject out = assertTimeoutPreemptively(Duration.ofSeconds(30),
                () -> nri.createContainer(pod, "c1", "app", java.util.Map.of(), spec()));
        assertEquals("[\"PATH=/bin\",\"OK=1\"]", out.getAsJsonObject("process").get("env").toString(),
                "the good plugin's adjustment still applies");
        assertEquals(List.of("02-good"), nri.pluginNames());
        hanging.closedFuture().get(10, TimeUnit.SECONDS);
        assertFalse(hanging.isOpen());
        assertTrue(good.isOpen());
    }

    @Test
    void anAdjustmentThatCannotApplyDisconnectsItsPluginNotTheContainer() throws Exception {
        var bad = plugin("bad", "01", 0, ContainerAdjustment.newBuilder()
                .addMounts(dev.bollard.api.nri.v1alpha1.Mount.newBuilder().setDestination("relative")).build());
        var good = plugin("good", "02", 0, env("OK", "1"));
        bad.synchronized_.get(10, TimeUnit.SECONDS);
        good.synchronized_.get(10, TimeUnit.SECONDS);
        await(() -> nri.pluginNames().size() == 2);
        var out = nri.createContainer(pod, "c1", "app", java.util.Map.of(), spec());
        assertEquals("[\"PATH=/bin\",\"OK=1\"]", out.getAsJsonObject("process").get("env").toString());
        assertFalse(out.has("mounts"));
        assertEquals(List.of("02-good"), nri.pluginNames());
        bad.closedFuture().get(10, TimeUnit.SECONDS);
    }

    @Test
    void unsolicitedUpdatesOfUnknownContainersComeBackAsFailed() throws Exception {
        var p = plugin("updater", "10", 0, env("X", "1"));
        p.synchronized_.get(10, TimeUnit.SECONDS);
        var update = dev.bollard.api.nri.v1alpha1.ContainerUpdate.newBuilder().setContainerId("no-such-container")
                .setLinux(dev.bollard.api.nri.v1alpha1.LinuxContainerUpdate.newBuilder()
                        .setResources(dev.bollard.api.nri.v1alpha1.LinuxResources.getDefaultInstance()))
                .build();
        var ignored = update.toBuilder().setContainerId("also-missing").setIgnoreFailure(true).build();
        var response = p.updateContainers(dev.bollard.api.nri.v1alpha1.UpdateContainersRequest.newBuilder()
                .addUpdate(update).addUpdate(ignored).build());
        assertEquals(List.of("no-such-container"), response.getFailedList().stream()
                .map(dev.bollard.api.nri.v1alpha1.ContainerUpdate::getContainerId).toList(),
                "a failure the plugin does not ignore is reported back");
        assertTrue(p.isOpen());
    }

    @Test
    void aPreInstalledPluginGetsItsSocketAsFd3AndIsKilledWhenItNeverRegisters() throws Exception {
        Path plugins = Files.createDirectories(dir.resolve("pre/plugins"));
        Path seen = dir.resolve("pre/seen");
        Path pidFile = dir.resolve("pre/pid");
        Path script = plugins.resolve("42-silent");
        Files.writeString(script, """
                #!/bin/sh
                echo $$ > %s
                kind=none; [ -S /proc/self/fd/3 ] && kind=socket
                echo "$NRI_PLUGIN_NAME $NRI_PLUGIN_IDX $NRI_PLUGIN_SOCKET $kind" > %s.tmp && mv %s.tmp %s
                exec sleep 600
                """.formatted(pidFile, seen, seen, seen));
        Files.setPosixFilePermissions(script, java.nio.file.attribute.PosixFilePermissions.fromString("rwx------"));
        Files.writeString(plugins.resolve("not-a-plugin"), "ignored: no NN- prefix");
        var config = new BollardConfig.Nri(true, dir.resolve("pre/nri.sock"), plugins, dir.resolve("pre/conf.d"),
                Duration.ofSeconds(1), Duration.ofMillis(700), true);
        try (var pre = new Nri(config, new SandboxStore(Files.createDirectories(dir.resolve("pre/pods"))),
                new ContainerStore(Files.createDirectories(dir.resolve("pre/containers"))), (id, r) -> { }).start()) {
            await(() -> Files.exists(seen));
            assertEquals("silent 42 3 socket", Files.readString(seen).strip());
            assertFalse(Files.exists(dir.resolve("pre/nri.sock")), "disable_connections: no socket");
            long pid = Long.parseLong(Files.readString(pidFile).strip());
            await(() -> ProcessHandle.of(pid).isEmpty() || !Files.exists(Path.of("/proc/" + pid)));
            assertEquals(List.of(), pre.pluginNames());
        }
    }

    @Test
    void aPluginWithABadIndexIsRefused() throws Exception {
        var e = org.junit.jupiter.api.Assertions.assertThrows(java.io.IOException.class,
                () -> plugin("bad", "7", 0, env("X", "1")));
        assertTrue(e.getMessage().contains("invalid plugin index"), e.getMessage());
        Thread.sleep(200);
        assertEquals(List.of(), nri.pluginNames());
    }
}
