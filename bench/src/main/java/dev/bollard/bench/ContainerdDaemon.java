package dev.bollard.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

/**
 * A containerd with its built-in CRI plugin, configured entirely under a temporary directory: its own root, state,
 * gRPC and ttrpc sockets, overlayfs snapshotter, runc v2, the benchmark's certs.d as registry {@code config_path},
 * the pods' CNI configuration (or an empty directory: pulls need no network), and the plugins the benchmark never
 * uses (other snapshotters, tracing, /opt) disabled. Two of them: Debian 12's containerd 1.6 ({@code /usr/bin},
 * config {@code version = 2}) and Debian sid's 2.1 unpacked by {@code bench/fetch-containerd21.sh} (config
 * {@code version = 3}: {@code io.containerd.cri.v1.runtime}, {@code io.containerd.cri.v1.images},
 * {@code io.containerd.grpc.v1.cri}), with its own {@code containerd-shim-runc-v2} first on {@code PATH}.
 */
final class ContainerdDaemon implements DaemonUnderTest {

    static final Path BINARY = Path.of("/usr/bin/containerd");

    /** The runtime names of {@code --runtimes}. */
    static final String V16 = "containerd";
    static final String V21 = "containerd21";

    private final String name;
    /** Where containerd, containerd-shim-runc-v2 and ctr are. */
    private final Path binDir;
    private final int configVersion;

    private ContainerdDaemon(String name, Path binDir, int configVersion) {
        this.name = name;
        this.binDir = binDir;
        this.configVersion = configVersion;
    }

    /** Debian 12's containerd 1.6. */
    static ContainerdDaemon debian12() {
        return new ContainerdDaemon("containerd-1.6", BINARY.getParent(), 2);
    }

    /** Debian sid's containerd 2.1, unpacked (dpkg -x) in {@code root}: {@code root/usr/bin/containerd}. */
    static ContainerdDaemon sid(Path root) {
        return new ContainerdDaemon("containerd-2.1", root.resolve("usr/bin"), 3);
    }

    /** Its {@code ctr}: the benchmark imports images with it. */
    Path ctr() {
        return binDir.resolve("ctr");
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public String version() {
        return Workspace.run(List.of(binDir.resolve("containerd").toString(), "--version"));
    }

    @Override
    public Running start(Workspace ws, Path dir, Path certsD, PodSetup pods) throws IOException, InterruptedException {
        Files.createDirectories(dir.resolve("cni/conf"));
        Files.createDirectories(dir.resolve("cni/bin"));
        Path cniBin = pods == null ? dir.resolve("cni/bin") : CNI_BIN_DIR;
        Path cniConf = pods == null ? dir.resolve("cni/conf") : pods.cniConfDir();
        Path socket = dir.resolve("containerd.sock");
        Path config = dir.resolve("config.toml");
        String common = """
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
                """.formatted(q(dir.resolve("root")), q(dir.resolve("state")), q(socket),
                q(dir.resolve("containerd.sock.ttrpc")));
        String sandbox = pods == null ? "" : q(pods.sandboxImage());
        String t = configVersion == 2 ? "version = 2\n" + common + """

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
                """.formatted(sandbox.isEmpty() ? "" : "  sandbox_image = " + sandbox, q(cniBin), q(cniConf), q(certsD))
                : "version = 3\n" + common + """

                [plugins."io.containerd.cri.v1.images"]
                  snapshotter = "overlayfs"
                %s
                  [plugins."io.containerd.cri.v1.images".registry]
                    config_path = %s

                [plugins."io.containerd.cri.v1.runtime"]
                  disable_apparmor = true
                  # without CAP_SYS_RESOURCE (this node) a sandbox's negative oom_score_adj fails to apply
                  restrict_oom_score_adj = true
                  [plugins."io.containerd.cri.v1.runtime".containerd]
                    default_runtime_name = "runc"
                    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
                      runtime_type = "io.containerd.runc.v2"
                      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
                        SystemdCgroup = false
                  [plugins."io.containerd.cri.v1.runtime".cni]
                    bin_dirs = [%s]
                    conf_dir = %s

                [plugins."io.containerd.grpc.v1.cri"]
                  disable_tcp_service = true
                  stream_server_address = "127.0.0.1"
                  stream_server_port = "0"

                # NRI is on by default in 2.x, as users run it; its socket in the run's own directory, not the
                # node's /var/run/nri/nri.sock (left behind at exit, and Bollard's NRI would refuse a live one)
                [plugins."io.containerd.nri.v1.nri"]
                  socket_path = %s
                  plugin_path = %s
                  plugin_config_path = %s
                """.formatted(sandbox.isEmpty() ? ""
                        : "  [plugins.\"io.containerd.cri.v1.images\".pinned_images]\n    sandbox = " + sandbox,
                q(certsD), q(cniBin), q(cniConf), q(dir.resolve("nri.sock")), q(dir.resolve("nri-plugins")),
                q(dir.resolve("nri-conf.d")));
        Files.writeString(config, t);
        Path log = dir.resolve("containerd.log");
        // containerd starts the shim it finds first on PATH: this containerd's own
        String path = binDir + ":" + System.getenv().getOrDefault("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
        Process p = ws.start(List.of(binDir.resolve("containerd").toString(), "--config", config.toString()), log,
                Map.of("PATH", path));
        try {
            String v = DaemonUnderTest.awaitCri(p, socket, log, Duration.ofSeconds(60));
            return new Running(name(), p, dir, socket, log, v);
        } catch (IOException | RuntimeException e) {
            Workspace.stop(p, 10);
            throw new IOException(name + ": " + e.getMessage(), e);
        }
    }

    private static String q(Object o) {
        return DaemonUnderTest.toml(o);
    }
}
