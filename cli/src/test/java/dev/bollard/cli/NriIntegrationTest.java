package dev.bollard.cli;

import com.google.gson.JsonParser;
import dev.bollard.api.cri.v1.ContainerStatusRequest;
import dev.bollard.api.nri.v1alpha1.ContainerAdjustment;
import dev.bollard.api.nri.v1alpha1.Event;
import dev.bollard.api.nri.v1alpha1.KeyValue;
import dev.bollard.api.nri.v1alpha1.Mount;
import dev.bollard.daemon.nri.TestNriPlugin;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * NRI against a real daemon and real containers: a plugin of our own (Java, test code, the plugin's side of the
 * protocol) connects to the daemon's socket, is synchronized with the pods already running, and adjusts a new
 * container (env, annotation, a bind mount) which then sees all three; a plugin that hangs in CreateContainer holds
 * the creation for at most the request timeout and is disconnected. Interop: containerd/nri's own sample plugins
 * (logger, device-injector), built from Debian sid's packages (scripts/fetch-nri-plugins.sh) and started by the
 * daemon from its plugin directory, adjust a container: env and annotation, a device node with its cgroup rule, a
 * mount, as the pod's annotations ask.
 */
@LeakChecked
class NriIntegrationTest {

    private static String nriToml(Path dir) {
        return """
                [nri]
                enable = true
                socket_path = "%s"
                plugin_path = "%s"
                plugin_config_path = "%s"
                plugin_request_timeout = "2s"
                """.formatted(dir.resolve("nri/nri.sock"), dir.resolve("nri/plugins"), dir.resolve("nri/conf.d"));
    }

    @Test
    void aPluginIsSynchronizedAndItsAdjustmentReachesTheContainer() throws Exception {
        try (var node = PodTestNode.start(NriIntegrationTest::nriToml)) {
            var podConfig = node.pod("nri").build();
            String pod = node.runPod(podConfig);
            Path shared = Files.createDirectories(node.dir.resolve("nri-shared"));
            Files.writeString(shared.resolve("file.txt"), "mounted by NRI\n");
            var adjustment = ContainerAdjustment.newBuilder()
                    .addEnv(KeyValue.newBuilder().setKey("NRI_ADJUSTED").setValue("yes"))
                    .putAnnotations("bollard.test/nri", "adjusted")
                    .addMounts(Mount.newBuilder().setDestination("/nri").setSource(shared.toString()).setType("bind")
                            .addOptions("rbind").addOptions("ro"))
                    .build();
            try (var plugin = new TestNriPlugin(node.dir.resolve("nri/nri.sock"), "adjuster", "10", 0, adjustment)) {
                var sync = plugin.synchronized_.get(30, TimeUnit.SECONDS);
                assertTrue(sync.getPodsList().stream().anyMatch(p -> p.getId().equals(pod)),
                        "Synchronize lists the pod that was running before the plugin connected: " + sync);
                assertEquals("bollard", plugin.configured.get().getRuntimeName());

                String c = node.createAndStart(pod, podConfig, PodTestNode.container("app", "sleep", "3600").build());
                assertEquals("yes", node.sh(c, "echo $NRI_ADJUSTED").strip());
                assertEquals("mounted by NRI", node.sh(c, "cat /nri/file.txt").strip());
                assertEquals("read-only", node.sh(c, "(echo x > /nri/file.txt) 2>/dev/null && echo writable || echo read-only")
                        .strip());
                var info = node.rt().containerStatus(ContainerStatusRequest.newBuilder().setContainerId(c).setVerbose(true)
                        .build()).getInfoOrThrow("info");
                var spec = JsonParser.parseString(info).getAsJsonObject().getAsJsonObject("runtimeSpec");
                assertEquals("adjusted", spec.getAsJsonObject("annotations").get("bollard.test/nri").getAsString());
                var create = plugin.creates.getFirst();
                assertEquals("app", create.getContainer().getName());
                assertEquals(pod, create.getPod().getId());
                awaitEvent(plugin, Event.POST_START_CONTAINER);
                node.removePod(pod);
                awaitEvent(plugin, Event.REMOVE_POD_SANDBOX);
            }
        }
    }

    @Test
    void aHangingPluginDelaysCreationAtMostTheTimeoutAndIsDisconnected() throws Exception {
        try (var node = PodTestNode.start(NriIntegrationTest::nriToml)) {
            var podConfig = node.pod("nri-hang").build();
            String pod = node.runPod(podConfig);
            try (var hanging = new TestNriPlugin(node.dir.resolve("nri/nri.sock"), "hangs", "05", 0, null)) {
                hanging.synchronized_.get(30, TimeUnit.SECONDS);
                String c = assertTimeoutPreemptively(Duration.ofSeconds(60), () -> node.createAndStart(pod, podConfig,
                        PodTestNode.container("app", "sleep", "3600").build()));
                assertEquals("ok", node.sh(c, "echo ok").strip(), "the container was created and runs");
                hanging.closedFuture().get(30, TimeUnit.SECONDS);
                assertFalse(hanging.isOpen(), "the daemon disconnected the plugin that timed out");
                // later containers no longer wait for it
                String second = node.createAndStart(pod, podConfig, PodTestNode.container("second", "sleep", "3600").build());
                assertEquals("ok", node.sh(second, "echo ok").strip());
            }
            node.removePod(pod);
        }
    }

    @Test
    void containerdsSamplePluginsFromDebianAdjustAContainer() throws Exception {
        Path logger = samplePlugin("logger");
        Path injector = samplePlugin("device-injector");
        try (var node = PodTestNode.start(dir -> {
            try {
                Path plugins = Files.createDirectories(dir.resolve("nri/plugins"));
                Files.copy(logger, plugins.resolve("30-logger"));
                Files.copy(injector, plugins.resolve("10-device-injector"));
                Path conf = Files.createDirectories(dir.resolve("nri/conf.d"));
                Files.writeString(conf.resolve("30-logger.conf"), """
                        logFile: %s
                        events: [all]
                        addEnv: NRI_LOGGER_ENV
                        addAnnotation: bollard.test/logger
                        """.formatted(dir.resolve("nri/logger.log")));
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
            return nriToml(dir);
        })) {
            Path log = node.dir.resolve("nri/logger.log");
            awaitFile(log, "Synchronize");
            var podConfig = node.pod("nri-logger")
                    .putAnnotations("devices.nri.io/container.app", """
                            - path: /dev/nri-null
                              type: c
                              major: 1
                              minor: 3
                              file_mode: 438
                            """)
                    .putAnnotations("mounts.nri.io/container.app", """
                            - source: %s
                              destination: /injected
                              type: bind
                              options: [rbind, ro]
                            """.formatted(Files.createDirectories(node.dir.resolve("injected"))))
                    .build();
            Files.writeString(node.dir.resolve("injected/hello.txt"), "injected mount\n");
            String pod = node.runPod(podConfig);
            String c = node.createAndStart(pod, podConfig, PodTestNode.container("app", "sleep", "3600").build());
            assertTrue(node.sh(c, "echo $NRI_LOGGER_ENV").strip().startsWith("logger-pid-"),
                    "the logger plugin's env reached the container");
            var info = node.rt().containerStatus(ContainerStatusRequest.newBuilder().setContainerId(c).setVerbose(true)
                    .build()).getInfoOrThrow("info");
            var spec = JsonParser.parseString(info).getAsJsonObject().getAsJsonObject("runtimeSpec");
            assertTrue(spec.getAsJsonObject("annotations").get("bollard.test/logger").getAsString().startsWith("logger-pid-"));
            assertEquals("1:3 character special file", node.sh(c, "stat -c '%t:%T %F' /dev/nri-null").strip(),
                    "the device injector's device node");
            assertEquals("ok", node.sh(c, "echo hi > /dev/nri-null && echo ok").strip(),
                    "its device cgroup rule lets the container use it");
            assertEquals("injected mount", node.sh(c, "cat /injected/hello.txt").strip());
            awaitFile(log, "PostStartContainer");
            node.removePod(pod);
            awaitFile(log, "RemovePodSandbox");
        }
    }

    /** A sample plugin built by scripts/fetch-nri-plugins.sh (cached in .cache/nri/bin), or the test is skipped. */
    private static Path samplePlugin(String name) throws Exception {
        Path repo = Path.of(System.getProperty("user.dir")).getParent();
        Path built = repo.resolve(".cache/nri/bin").resolve(name);
        if (!Files.isExecutable(built)) {
            var p = new ProcessBuilder(repo.resolve("scripts/fetch-nri-plugins.sh").toString())
                    .redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes());
            assumeTrue(p.waitFor() == 0, "containerd/nri's sample plugins cannot be built here: " + out);
        }
        return built;
    }

    private static void awaitEvent(TestNriPlugin plugin, Event event) throws InterruptedException {
        for (int i = 0; i < 300; i++) {
            if (plugin.stateChanges.stream().anyMatch(e -> e.getEvent() == event)) {
                return;
            }
            Thread.sleep(50);
        }
        throw new AssertionError("no " + event + " event; got " + plugin.stateChanges.stream()
                .map(e -> e.getEvent().toString()).toList());
    }

    private static void awaitFile(Path file, String text) throws Exception {
        for (int i = 0; i < 600; i++) {
            if (Files.exists(file) && Files.readString(file).contains(text)) {
                return;
            }
            Thread.sleep(50);
        }
        throw new AssertionError(file + " never mentioned " + text + ": "
                + (Files.exists(file) ? Files.readString(file) : "(absent)"));
    }
}
