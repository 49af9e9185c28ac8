package dev.bollard.daemon.config;

import java.nio.file.Path;
import java.util.Map;
import java.util.List;
import java.util.Optional;

/** The daemon's whole configuration, after defaults, the TOML file and command-line flags are applied. */
public record BollardConfig(Daemon daemon, Runtime runtime, Map<String, RuntimeHandler> runtimes, Registry registry,
                            Cni cni, Metrics metrics, dev.bollard.daemon.streaming.StreamingConfig streaming, Cdi cdi,
                            Nri nri) {

    /** Without a [metrics] section: metrics off. */
    public enum LogLevel { DEBUG, INFO, WARN, ERROR }

    public enum LogFormat { TEXT, JSON }

    public enum CgroupDriverSetting { AUTO, CGROUPFS, SYSTEMD }

    /** @param stopPodsOnShutdown stop every pod when the daemon stops (test nodes); pods outlive it by default */
    public record Daemon(Path socket, Path root, Path state, LogLevel logLevel, LogFormat logFormat,
                         boolean stopPodsOnShutdown) {
    }

    /**
     * @param sandboxImage        {@code builtin} for the pause image Bollard assembles from catatonit, or an image reference
     * @param maxLogLineBytes     a longer output line is split into partial log lines of this size
     */
    public record Runtime(CgroupDriverSetting cgroupDriver, String defaultRuntime, String sandboxImage,
                          int maxLogLineBytes) {
    }

    /**
     * Pod networking through CNI plugins.
     *
     * @param binDirs where plugin binaries are looked up, in order
     */
    public record Cni(Path confDir, java.util.List<Path> binDirs, boolean writeDefaultConfig, String defaultBridge,
                      String defaultSubnet, long pluginTimeoutSeconds) {
    }

    /**
     * One RuntimeClass handler.
     *
     * @param root         empty when the OCI runtime keeps its default state directory
     * @param runtimeFlags global flags the OCI runtime gets before the shim's own flags and the subcommand
     *                     (through a launcher); empty for none
     */
    public record RuntimeHandler(String name, String shim, String binaryName, Optional<Path> root,
                                 boolean systemdCgroup, boolean privilegedWithoutHostDevices, List<String> runtimeFlags,
                                 int podsPerShim, String shimGrouping, Optional<Vm> vm) {
        public RuntimeHandler {
            runtimeFlags = List.copyOf(runtimeFlags);
        }

        /** A handler with one shim per pod and no VM settings. */
        public RuntimeHandler(String name, String shim, String binaryName, Optional<Path> root, boolean systemdCgroup,
                              boolean privilegedWithoutHostDevices, List<String> runtimeFlags) {
            this(name, shim, binaryName, root, systemdCgroup, privilegedWithoutHostDevices, runtimeFlags, 1,
                    "namespace", Optional.empty());
        }

        /** A VM handler: one shim per pod. */
        public RuntimeHandler(String name, String shim, String binaryName, Optional<Path> root, boolean systemdCgroup,
                              boolean privilegedWithoutHostDevices, List<String> runtimeFlags, Optional<Vm> vm) {
            this(name, shim, binaryName, root, systemdCgroup, privilegedWithoutHostDevices, runtimeFlags, 1,
                    "namespace", vm);
        }

        /** A handler whose pods may share shims, without VM settings. */
        public RuntimeHandler(String name, String shim, String binaryName, Optional<Path> root, boolean systemdCgroup,
                              boolean privilegedWithoutHostDevices, List<String> runtimeFlags, int podsPerShim,
                              String shimGrouping) {
            this(name, shim, binaryName, root, systemdCgroup, privilegedWithoutHostDevices, runtimeFlags, podsPerShim,
                    shimGrouping, Optional.empty());
        }
    }

    public enum Accelerator { AUTO, KVM, TCG }

    /**
     * How a VM handler (shim containerd-shim-bollard-vm-v2) boots its pods' VMs.
     *
     * @param hypervisor the qemu binary: a name on PATH or an absolute path
     * @param kernel     empty: the guest built beside the shim's launcher (vm/guest/out)
     * @param vcpus      before the pod's own CPU limit and overhead are added
     * @param memoryMb   before the pod's own memory limit and overhead are added
     */
    public record Vm(String hypervisor, Optional<Path> kernel, Optional<Path> initrd, int vcpus, int memoryMb,
                     Accelerator accelerator) {
    }

    /** @param configPath the certs.d directory of per-host {@code hosts.toml} files (see registry.HostsConfig) */
    public record Registry(Path configPath, int maxConcurrentDownloads, long pullProgressTimeoutSeconds) {
    }

    /** @param address {@code host:port} of the Prometheus /metrics listener; empty when metrics are off */
    public record Metrics(String address) {
        public static final Metrics OFF = new Metrics("");

        public boolean enabled() {
            return !address.isEmpty();
        }
    }

    /**
     * CDI devices.
     *
     * @param specDirs where spec files are read, in order of rising priority
     */
    public record Cdi(boolean enable, List<Path> specDirs) {
        public Cdi {
            specDirs = List.copyOf(specDirs);
        }
    }

    /**
     * NRI (Node Resource Interface) plugins.
     *
     * @param socketPath          where externally started plugins connect
     * @param pluginPath          pre-installed plugins ({@code NN-name}), started by the daemon
     * @param pluginConfigPath    their configuration ({@code NN-name.conf} or {@code name.conf})
     * @param disableConnections  no socket: only the pre-installed plugins run
     */
    public record Nri(boolean enable, Path socketPath, Path pluginPath, Path pluginConfigPath,
                      java.time.Duration registrationTimeout, java.time.Duration requestTimeout,
                      boolean disableConnections) {
        public static final Nri OFF = new Nri(false, Path.of("/var/run/nri/nri.sock"), Path.of("/opt/nri/plugins"),
                Path.of("/etc/nri/conf.d"), java.time.Duration.ofSeconds(5), java.time.Duration.ofSeconds(2), false);
    }

    public RuntimeHandler defaultHandler() {
        return runtimes.get(runtime.defaultRuntime());
    }

    /** A copy with the daemon paths replaced where a flag gave one. */
    public BollardConfig withPaths(Path socket, Path root, Path state) {
        return new BollardConfig(new Daemon(
                socket != null ? socket : daemon.socket(),
                root != null ? root : daemon.root(),
                state != null ? state : daemon.state(),
                daemon.logLevel(), daemon.logFormat(), daemon.stopPodsOnShutdown()), runtime, runtimes, registry, cni,
                metrics, streaming, cdi, nri);
    }
}
