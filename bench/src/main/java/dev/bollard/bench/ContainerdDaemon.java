package dev.bollard.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

/**
 * Debian's containerd (1.6) with its built-in CRI plugin, configured entirely under a temporary directory: its
 * own root, state, gRPC and ttrpc sockets, overlayfs snapshotter, runc v2, the benchmark's certs.d as registry
 * {@code config_path}, an empty CNI configuration directory (pulls need no network), and the plugins a pull never
 * uses (other snapshotters, tracing, /opt) disabled.
 */
final class ContainerdDaemon implements DaemonUnderTest {

    static final Path BINARY = Path.of("/usr/bin/containerd");

    @Override
    public String name() {
        return "containerd";
    }

    @Override
    public String version() {
        return Workspace.run(List.of(BINARY.toString(), "--version"));
    }

    @Override
    public Running start(Workspace ws, Path dir, Path certsD, PodSetup pods) throws IOException, InterruptedException {
        Files.createDirectories(dir.resolve("cni/conf"));
        Files.createDirectories(dir.resolve("cni/bin"));
        Path cniBin = pods == null ? dir.resolve("cni/bin") : CNI_BIN_DIR;
        Path cniConf = pods == null ? dir.resolve("cni/conf") : pods.cniConfDir();
        Path socket = dir.resolve("containerd.sock");
        Path config = dir.resolve("config.toml");
        String t = """
                version = 2
                root = %s
                state = %s
                disabled_plugins = [
                  "io.containerd.snapshotter.v1.aufs",
                  "io.containerd.snapshotter.v1.btrfs",
                  "io.containerd.snapshotter.v1.zfs",
                  "io.containerd.snapshotter.v1.devmapper",
                  "io.containerd.internal.v1.tracing",
                  "io.containerd.tracing.processor.v1.otlp",
                  "io.containerd.internal.v1.opt",
                ]

                [grpc]
                  address = %s

                [ttrpc]
                  address = %s

                [debug]
                  address = ""
                  level = "info"

                [metrics]
                  address = ""

                [plugins."io.containerd.grpc.v1.cri"]
                  disable_cgroup = false
                  disable_apparmor = true
                  # without CAP_SYS_RESOURCE (this node) a sandbox's negative oom_score_adj fails to apply
                  restrict_oom_score_adj = true
                %s
                  [plugins."io.containerd.grpc.v1.cri".containerd]
                    snapshotter = "overlayfs"
                    default_runtime_name = "runc"
                    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
                      runtime_type = "io.containerd.runc.v2"
                      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
                        SystemdCgroup = false
                  [plugins."io.containerd.grpc.v1.cri".cni]
                    bin_dir = %s
                    conf_dir = %s
                  [plugins."io.containerd.grpc.v1.cri".registry]
                    config_path = %s
                """.formatted(q(dir.resolve("root")), q(dir.resolve("state")), q(socket),
                q(dir.resolve("containerd.sock.ttrpc")),
                pods == null ? "" : "  sandbox_image = " + q(pods.sandboxImage()), q(cniBin), q(cniConf), q(certsD));
        Files.writeString(config, t);
        Path log = dir.resolve("containerd.log");
        Process p = ws.start(List.of(BINARY.toString(), "--config", config.toString()), log, Map.of());
        try {
            String v = DaemonUnderTest.awaitCri(p, socket, log, Duration.ofSeconds(60));
            return new Running(name(), p, dir, socket, log, v);
        } catch (IOException | RuntimeException e) {
            Workspace.stop(p, 10);
            throw new IOException("containerd: " + e.getMessage(), e);
        }
    }

    private static String q(Object o) {
        return DaemonUnderTest.toml(o);
    }
}
