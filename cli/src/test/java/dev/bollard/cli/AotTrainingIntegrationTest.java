package dev.bollard.cli;

import dev.bollard.api.cri.v1.VersionRequest;
import dev.bollard.daemon.store.FileTrees;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.spi.ToolProvider;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The build-time training run ({@link AotTraining}, behind scripts/aot-train.sh) with a real daemon, runc and CNI:
 * it produces an AOT cache that a daemon then starts from ({@code -XX:AOTMode=on} makes a cache the JVM cannot use
 * fatal), and it leaves nothing behind (no processes, mounts, netns, cgroups, CNI state, no bridge).
 */
@ExtendWith(LeakCheckExtension.class)
class AotTrainingIntegrationTest {

    @Test
    void trainingWritesACacheTheDaemonStartsFromAndLeavesNothing() throws Exception {
        dev.bollard.daemon.testkit.Root.assume("real pods: runc, CNI in a netns, overlay and tmpfs mounts");
        Path dir = Files.createTempDirectory("bollard-aot-test-");
        try {
            // the JVM archives only jars (no class directories): the code under test's classes as jars
            String classPath = jarClassPath(Files.createDirectories(dir.resolve("jars")));
            Path cache = dir.resolve("daemon.aot");
            Path trainDir = Files.createDirectories(dir.resolve("train"));
            LeakCheckExtension.track(trainDir);
            var outcome = AotTraining.run(javaCommand(classPath, "-XX:AOTCacheOutput=" + cache), Map.of(),
                    new AotTraining.Rounds(1, 1, 2, 1), trainDir);

            assertEquals(143, outcome.daemonExit(), "an orderly shutdown on SIGTERM");
            assertTrue(Files.size(cache) > 1 << 20, "a cache was written at the daemon's exit");
            String trainingLog = Files.readString(trainDir.resolve("daemon.log"));
            assertTrue(trainingLog.contains("msg=\"recovery done\" pods=1 containers=1 "),
                    "the training daemon recovered the pod a SIGKILLed first daemon left: " + trainingLog);
            LeakCheckExtension.daemonClosed(trainDir);
            var ids = LeftoverScan.loggedIds(trainDir);
            assertFalse(ids.isEmpty(), "the training made pods and containers: " + trainingLog);
            assertEquals(java.util.Set.of(), LeftoverScan.scan(List.of(trainDir), ids), "left behind by the training");
            assertFalse(Files.exists(Path.of("/sys/class/net", outcome.bridge())), "the training's bridge is deleted");

            // a daemon started from that cache; AOTMode=on: the JVM exits at once when it cannot use the cache
            Path runDir = Files.createDirectories(dir.resolve("run"));
            Path socket = runDir.resolve("run/bollard.sock");
            Path log = runDir.resolve("daemon.log");
            var cmd = new ArrayList<>(javaCommand(classPath, "-XX:AOTMode=on", "-XX:AOTCache=" + cache, "-Xlog:aot=info"));
            cmd.addAll(DaemonProcess.daemonArgs(runDir));
            Process daemon = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
            try {
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
                while (!Files.exists(socket)) {
                    assertTrue(daemon.isAlive(), () -> "the daemon exited: " + read(log));
                    assertTrue(System.nanoTime() < deadline, () -> "no socket: " + read(log));
                    Thread.sleep(20);
                }
                try (var client = new CriClient(socket.toString(), 60)) {
                    assertFalse(client.runtime(s -> s.version(VersionRequest.newBuilder().setVersion("v1").build()))
                            .getRuntimeName().isEmpty());
                }
            } finally {
                daemon.destroy();
                daemon.waitFor(60, TimeUnit.SECONDS);
                LeakCheckExtension.daemonClosed(runDir);
            }
            String text = Files.readString(log);
            assertTrue(text.contains("Using AOT-linked classes"), "the daemon started from the trained cache: " + text);
        } finally {
            FileTrees.deleteTree(dir);
        }
    }

    private static String read(Path log) {
        try {
            return Files.readString(log);
        } catch (java.io.IOException e) {
            return e.toString();
        }
    }

    /** The daemon's JVM as bin/bollard starts it (its daemon flags), with {@code extra} options. */
    private static List<String> javaCommand(String classPath, String... extra) {
        var cmd = new ArrayList<String>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.addAll(List.of("--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow",
                "-XX:+UseSerialGC", "-Xms8m", "-XX:MinHeapFreeRatio=10", "-XX:MaxHeapFreeRatio=30"));
        cmd.addAll(List.of(extra));
        cmd.addAll(List.of("-cp", classPath, Main.class.getName()));
        return cmd;
    }

    /** This JVM's class path with every main-classes directory packed into a jar (test classes left out). */
    private static String jarClassPath(Path jars) throws Exception {
        var jar = ToolProvider.findFirst("jar").orElseThrow();
        var out = new ArrayList<String>();
        int n = 0;
        for (String entry : System.getProperty("java.class.path").split(File.pathSeparator)) {
            Path p = Path.of(entry);
            if (Files.isDirectory(p)) {
                if (p.getFileName().toString().equals("test-classes")) {
                    continue;
                }
                Path packed = jars.resolve("classes-" + n++ + ".jar");
                assertEquals(0, jar.run(System.out, System.err, "--create", "--file", packed.toString(),
                        "-C", p.toString(), "."), "jar " + p);
                out.add(packed.toString());
            } else if (Files.isRegularFile(p)) {
                out.add(entry);
            }
        }
        return String.join(File.pathSeparator, out);
    }
}
