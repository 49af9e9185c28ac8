package dev.bollard.cli;

import dev.bollard.api.cri.v1.ListPodSandboxRequest;
import dev.bollard.api.cri.v1.RemovePodSandboxRequest;
import dev.bollard.api.cri.v1.RuntimeServiceGrpc;
import dev.bollard.api.cri.v1.VersionRequest;
import dev.bollard.daemon.linux.UnixSockets;
import dev.bollard.daemon.server.NotifyReceiver;
import dev.bollard.daemon.store.FileTrees;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.unix.DomainSocketAddress;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The Debian package end to end on this machine: scripts/package.sh builds it, {@code dpkg -i} installs it, the
 * installed {@code bollard} runs with no JDK in sight, the unit's ExecStart line starts the daemon (this test stands
 * in for systemd's NOTIFY_SOCKET), a pod runs, {@code dpkg -r} with BOLLARD_KEEP_PODS leaves it running, a new
 * install finds it, then {@code dpkg -r} (which removes the pods) and {@code dpkg -P} leave nothing of the package
 * behind. {@code BOLLARD_DEB=path} tests a package built before instead.
 */
class DebianPackageIntegrationTest {

    private static final Path UNIT = Path.of("/lib/systemd/system/bollard.service");
    private static final Path CRICTL_YAML = Path.of("/etc/crictl.yaml");
    private static final Path WANTS = Path.of("/etc/systemd/system/multi-user.target.wants/bollard.service");
    private static final List<Path> OURS = List.of(Path.of("/usr/bin/bollard"), Path.of("/usr/lib/bollard"), UNIT,
            Path.of("/etc/bollard"), Path.of("/usr/share/doc/bollard"), WANTS);
    /** No JDK reachable: what a node without Java has. */
    private static final Map<String, String> NODE_ENV = Map.of("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    /** NODE_ENV, and a JVM that refuses to start unless the package's class archive maps. */
    private static final Map<String, String> SHARED_ARCHIVE_REQUIRED = Map.of("PATH", NODE_ENV.get("PATH"),
            "BOLLARD_JAVA_OPTS", "-Xshare:on");

    @Test
    void installRunAPodRemoveAndPurge() throws Exception {
        assumeTrue("root".equals(System.getProperty("user.name")), "dpkg -i needs root");
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/dpkg-deb")) && Files.isExecutable(Path.of("/usr/bin/dpkg")),
                "no dpkg on this machine");
        assumeTrue(!Files.isDirectory(Path.of("/run/systemd/system")),
                "systemd runs here: installing would start the node's real bollard.service");
        assumeTrue(!packageKnown(), "a bollard package is on this machine already: it is the operator's, not this test's");
        for (Path p : OURS) {
            assumeTrue(!Files.exists(p, java.nio.file.LinkOption.NOFOLLOW_LINKS), p + " exists already");
        }
        boolean crictlYamlBefore = Files.exists(CRICTL_YAML);
        String crictlYamlText = crictlYamlBefore ? Files.readString(CRICTL_YAML) : null;

        Path dir = Files.createTempDirectory("bollard-deb-");
        String suffix = HexFormat.of().formatHex(randomBytes(3));
        String bridge = "bd" + suffix;
        Path socket = dir.resolve("run/bollard.sock");
        Process daemon = null;
        var group = new EpollEventLoopGroup(1);
        ManagedChannel channel = null;
        try (var notify = NotifyReceiver.at(dir.resolve("notify.sock"))) {
            Path deb = packageFile(dir);
            dpkg("-i", deb.toString());
            assertTrue(Files.isRegularFile(Path.of("/etc/bollard/bollard.toml")), "the conffile");
            assertTrue(Files.readString(Path.of("/etc/bollard/bollard.toml")).contains("# socket = \"/run/bollard/bollard.sock\""),
                    "defaults commented");
            assertTrue(Files.readString(UNIT).contains("Type=notify"));
            if (!crictlYamlBefore) {
                assertTrue(Files.readString(CRICTL_YAML).contains("runtime-endpoint: unix:///run/bollard/bollard.sock"));
            } else {
                assertEquals(crictlYamlText, Files.readString(CRICTL_YAML), "an operator's /etc/crictl.yaml stays");
            }

            // the installed command with no JDK: its own runtime; -Xshare:on fails unless the package's class archive
            // (made at package time) is taken
            var config = run(List.of("bollard", "config", "default"), SHARED_ARCHIVE_REQUIRED);
            assertEquals(0, config.exit(), config.err());
            assertTrue(config.out().contains("[daemon]"), config.out());

            // the daemon as systemd starts it: the unit's ExecStart line, with a private socket, root, state, config
            Path cni = Files.createDirectories(dir.resolve("cni"));
            String prefix = "10." + ThreadLocalRandom.current().nextInt(100, 250) + "." + ThreadLocalRandom.current().nextInt(1, 250);
            Files.writeString(cni.resolve("10-test.conflist"), """
                    {"cniVersion": "1.0.0", "name": "bollard-deb-%s", "plugins": [
                      {"type": "bridge", "bridge": "%s", "isGateway": true, "ipMasq": false,
                       "ipam": {"type": "host-local", "dataDir": "%s", "ranges": [[{"subnet": "%s.0/24"}]]}},
                      {"type": "loopback"}]}
                    """.formatted(suffix, bridge, dir.resolve("ipam"), prefix));
            Files.writeString(dir.resolve("bollard.toml"), """
                    [cni]
                    conf_dir = "%s"
                    write_default_config = false
                    [registry]
                    config_path = "%s"
                    """.formatted(cni, dir.resolve("certs.d")));
            var command = new ArrayList<>(execStart());
            command.addAll(List.of("--socket", socket.toString(), "--root", dir.resolve("root").toString(),
                    "--state", dir.resolve("state").toString(), "--config", dir.resolve("bollard.toml").toString()));
            var pb = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(dir.resolve("daemon.log").toFile());
            pb.environment().clear();
            pb.environment().putAll(SHARED_ARCHIVE_REQUIRED);
            pb.environment().put("NOTIFY_SOCKET", notify.address());
            daemon = pb.start();
            Optional<String> ready = notify.receive(Duration.ofSeconds(120));
            assertEquals(Optional.of("READY=1"), ready, "daemon log: " + Files.readString(dir.resolve("daemon.log")));
            // READY=1 came after the socket answered: it answers now, without waiting
            assertEquals(UnixSockets.PathState.LIVE_SOCKET, UnixSockets.probe(socket));
            channel = NettyChannelBuilder.forAddress(new DomainSocketAddress(socket.toString()))
                    .channelType(EpollDomainSocketChannel.class).eventLoopGroup(group).usePlaintext().build();
            var rt = RuntimeServiceGrpc.newBlockingStub(channel);
            assertEquals("bollard", rt.withDeadlineAfter(10, TimeUnit.SECONDS).version(VersionRequest.getDefaultInstance())
                    .getRuntimeName());
            String endpoint = "unix://" + socket;
            var version = run(List.of("bollard", "-r", endpoint, "version"), NODE_ENV);
            assertEquals(0, version.exit(), version.err());
            assertTrue(version.out().contains("RuntimeName:  bollard") || version.out().contains("bollard"), version.out());

            // a pod, through the installed client
            Path tar = busyboxImage(dir);
            var imported = run(List.of("bollard", "-r", endpoint, "image", "import", tar.toString()), NODE_ENV);
            assertEquals(0, imported.exit(), imported.err());
            Files.writeString(dir.resolve("pod.json"), """
                    {"metadata": {"name": "deb-pod", "namespace": "test", "uid": "deb-%s"}, "hostname": "deb-pod",
                     "log_directory": "%s", "linux": {}}
                    """.formatted(suffix, Files.createDirectories(dir.resolve("logs"))));
            Files.writeString(dir.resolve("container.json"), """
                    {"metadata": {"name": "sleeper"}, "image": {"image": "bollard.local/busybox:deb"},
                     "command": ["sleep", "3600"], "log_path": "sleeper.log", "linux": {}}
                    """);
            var started = run(List.of("bollard", "-r", endpoint, "run", "--no-pull", dir.resolve("container.json").toString(),
                    dir.resolve("pod.json").toString()), NODE_ENV);
            assertEquals(0, started.exit(), started.err());
            String containerId = started.out().strip();
            var exec = run(List.of("bollard", "-r", endpoint, "exec", "-s", containerId, "hostname"), NODE_ENV);
            assertEquals(0, exec.exit(), exec.err());
            assertEquals("deb-pod", exec.out().strip());
            assertEquals(1, rt.listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsCount());

            // remove, keeping the pods (the operator's choice), then install again
            dpkg(Map.of("BOLLARD_ENDPOINT", endpoint, "BOLLARD_KEEP_PODS", "1"), "-r", "bollard");
            assertFalse(Files.exists(Path.of("/usr/bin/bollard")));
            assertEquals(1, rt.withDeadlineAfter(10, TimeUnit.SECONDS)
                    .listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsCount(), "BOLLARD_KEEP_PODS kept the pod");
            dpkg("-i", deb.toString());
            exec = run(List.of("bollard", "-r", endpoint, "exec", "-s", containerId, "hostname"), NODE_ENV);
            assertEquals("deb-pod", exec.out().strip(), exec.err());

            // remove: the pods go first (prerm, through the endpoint in the environment), the conffile stays
            dpkg(Map.of("BOLLARD_ENDPOINT", endpoint), "-r", "bollard");
            assertEquals(0, rt.withDeadlineAfter(10, TimeUnit.SECONDS)
                    .listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsCount(), "prerm removed the pod");
            assertFalse(Files.exists(Path.of("/usr/bin/bollard")));
            assertFalse(Files.exists(Path.of("/usr/lib/bollard")));
            assertFalse(Files.exists(UNIT));
            assertTrue(Files.exists(Path.of("/etc/bollard/bollard.toml")), "a removed package keeps its conffile");

            daemon.destroy(); // SIGTERM, as systemctl stop
            assertEquals(Optional.of("STOPPING=1"), notify.receive(Duration.ofSeconds(30)));
            assertTrue(daemon.waitFor(30, TimeUnit.SECONDS));

            dpkg("-P", "bollard");
            for (Path p : OURS) {
                assertFalse(Files.exists(p, java.nio.file.LinkOption.NOFOLLOW_LINKS), p + " is left after purge");
            }
            assertEquals(crictlYamlBefore, Files.exists(CRICTL_YAML), "/etc/crictl.yaml as found");
            assertFalse(Files.exists(Path.of("/var/lib/systemd/deb-systemd-helper-enabled/bollard.service.dsh-also")),
                    "deb-systemd-helper's state purged");
        } finally {
            if (channel != null) {
                channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            }
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
            cleanUp(dir, socket, daemon, bridge, crictlYamlBefore);
        }
    }

    /** Whatever the test reached: pods, daemon, package, bridge and files go, so the next tests find the node as it was. */
    private static void cleanUp(Path dir, Path socket, Process daemon, String bridge, boolean crictlYamlBefore) throws Exception {
        if (daemon != null && daemon.isAlive()) {
            removePods(socket);
            daemon.destroy();
            if (!daemon.waitFor(30, TimeUnit.SECONDS)) {
                daemon.destroyForcibly().waitFor();
            }
        }
        if (packageKnown()) {
            run(List.of("dpkg", "-P", "bollard"), Map.of());
        }
        if (!crictlYamlBefore && Files.exists(CRICTL_YAML)
                && Files.readString(CRICTL_YAML).startsWith("# Written by the bollard package")) {
            Files.delete(CRICTL_YAML);
        }
        new ProcessBuilder("ip", "link", "del", bridge).redirectErrorStream(true).start().waitFor();
        boolean mounted = Files.readAllLines(Path.of("/proc/self/mountinfo")).stream()
                .anyMatch(l -> l.split(" ")[4].startsWith(dir.toString()));
        if (!mounted) {
            FileTrees.deleteTree(dir);
        }
    }

    /** Installed, or removed with its conffiles still there. */
    private static boolean packageKnown() throws Exception {
        var r = run(List.of("dpkg-query", "-W", "-f=${db:Status-Status}", "bollard"), Map.of());
        return r.exit() == 0 && !r.out().isBlank() && !r.out().strip().equals("not-installed");
    }

    /** Pods a failed test left, removed through the test's own client (the package's may be gone). */
    private static void removePods(Path socket) throws Exception {
        var group = new EpollEventLoopGroup(1);
        var channel = NettyChannelBuilder.forAddress(new DomainSocketAddress(socket.toString()))
                .channelType(EpollDomainSocketChannel.class).eventLoopGroup(group).usePlaintext().build();
        try {
            var rt = RuntimeServiceGrpc.newBlockingStub(channel).withDeadlineAfter(120, TimeUnit.SECONDS);
            for (var s : rt.listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsList()) {
                rt.removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(s.getId()).build());
            }
        } catch (RuntimeException e) {
            System.err.println("removing the test's pods failed: " + e);
        } finally {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        }
    }

    /** ExecStart of the installed unit, as systemd splits it (no quoting in ours). */
    private static List<String> execStart() throws IOException {
        return Files.readAllLines(UNIT).stream().filter(l -> l.startsWith("ExecStart=")).findFirst()
                .map(l -> Arrays.asList(l.substring("ExecStart=".length()).strip().split("\\s+")))
                .orElseThrow(() -> new AssertionError("the unit has no ExecStart"));
    }

    private static Path packageFile(Path dir) throws Exception {
        String prebuilt = System.getenv("BOLLARD_DEB");
        if (prebuilt != null && !prebuilt.isEmpty()) {
            return Path.of(prebuilt);
        }
        Path repo = Path.of(System.getProperty("user.dir")).getParent(); // the cli module runs in cli/
        // --jar-only: this Maven build compiled the classes; a nested compile would rewrite them under the running tests
        var built = run(List.of(repo.resolve("scripts/package.sh").toString(), "--jar-only", "-o", dir.toString()),
                Map.of(), 1200);
        assertEquals(0, built.exit(), built.err());
        Path deb = Path.of(built.out().strip().lines().reduce((a, b) -> b).orElseThrow());
        assertTrue(deb.getFileName().toString().matches("bollard_.+_amd64\\.deb"), deb.toString());
        return deb;
    }

    /** A one-layer busybox image built by the installed command. */
    private static Path busyboxImage(Path dir) throws Exception {
        Path rootfs = Files.createDirectories(dir.resolve("image/rootfs/bin"));
        Files.createDirectories(dir.resolve("image/rootfs/etc"));
        Files.copy(Path.of("/bin/busybox"), rootfs.resolve("busybox"));
        for (String applet : List.of("sh", "sleep", "hostname", "cat", "ls", "env", "stat")) {
            Files.createSymbolicLink(rootfs.resolve(applet), Path.of("busybox"));
        }
        Path tar = dir.resolve("image/busybox.tar");
        var build = run(List.of("bollard", "image", "build", rootfs.getParent().toString(), "--name",
                "bollard.local/busybox:deb", "--cmd", "/bin/sh", "-o", tar.toString()), NODE_ENV);
        assertEquals(0, build.exit(), build.err());
        return tar;
    }

    /** dpkg, waiting out another dpkg or apt of this machine holding the lock. */
    private static void dpkg(String... args) throws Exception {
        dpkg(Map.of(), args);
    }

    private static void dpkg(Map<String, String> env, String... args) throws Exception {
        var cmd = new ArrayList<String>();
        cmd.add("dpkg");
        cmd.addAll(List.of(args));
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(5);
        while (true) {
            var r = run(cmd, env, 600);
            if (r.exit() == 0) {
                return;
            }
            boolean locked = (r.out() + r.err()).contains("lock");
            if (!locked || System.nanoTime() > deadline) {
                throw new AssertionError("dpkg " + String.join(" ", args) + " failed (" + r.exit() + "): " + r.out() + r.err());
            }
            Thread.sleep(2000);
        }
    }

    private static DaemonProcess.Result run(List<String> cmd, Map<String, String> env) throws Exception {
        return run(cmd, env, 120);
    }

    /** Runs a command; an environment of NODE_ENV replaces this JVM's (no JAVA_HOME, no JDK on PATH). */
    private static DaemonProcess.Result run(List<String> cmd, Map<String, String> env, int timeoutSeconds) throws Exception {
        Path out = Files.createTempFile("bollard-deb-out", ".txt");
        Path err = Files.createTempFile("bollard-deb-err", ".txt");
        try {
            var pb = new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(err.toFile());
            if (env == NODE_ENV || env == SHARED_ARCHIVE_REQUIRED) {
                pb.environment().clear();
            }
            pb.environment().putAll(env);
            var p = pb.start();
            if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
                p.destroyForcibly().waitFor();
                throw new AssertionError(String.join(" ", cmd) + " did not finish in " + timeoutSeconds + " s");
            }
            return new DaemonProcess.Result(p.exitValue(), Files.readString(out), Files.readString(err));
        } finally {
            Files.deleteIfExists(out);
            Files.deleteIfExists(err);
        }
    }

    private static byte[] randomBytes(int n) {
        var b = new byte[n];
        ThreadLocalRandom.current().nextBytes(b);
        return b;
    }
}
