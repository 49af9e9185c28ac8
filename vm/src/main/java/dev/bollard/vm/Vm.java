package dev.bollard.vm;

import dev.bollard.daemon.log.Log;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * One pod's VM: a qemu microvm booting the guest kernel and initramfs, a virtiofsd sharing the pod's directory
 * ({@code <state>/shared}, mounted at {@code /run/bollard/shared} in the guest), and the agent channel. Its files
 * live in the pod's state directory: {@code ctl.sock} (agent), {@code vfs.sock} (virtiofsd), {@code console.log}
 * (the guest's serial console), {@code qemu.pid}, {@code virtiofsd.pid}.
 */
final class Vm implements AutoCloseable {

    private static final Log LOG = Log.get("vm");
    static final String SHARE_TAG = "bollard";
    static final String GUEST_SHARE = "/run/bollard/shared";
    /** microvm has no HPET: without a given TSC rate a failed PIT calibration hangs the boot (see vm/README.md). */
    static final String KERNEL_ARGS = "console=ttyS0 quiet panic=-1 tsc_early_khz=2100000 tsc=reliable";

    private final Path stateDir;
    private final Process virtiofsd;
    private final Process qemu;
    private final AgentChannel agent;
    private final AgentChannel.Ready ready;
    private final long bootNanos;

    private Vm(Path stateDir, Process virtiofsd, Process qemu, AgentChannel agent, AgentChannel.Ready ready,
               long bootNanos) {
        this.stateDir = stateDir;
        this.virtiofsd = virtiofsd;
        this.qemu = qemu;
        this.agent = agent;
        this.ready = ready;
        this.bootNanos = bootNanos;
    }

    static Path shareDir(Path stateDir) {
        return stateDir.resolve("shared");
    }

    /**
     * Boots and waits for the agent's READY. On any failure everything started is stopped and the exception says
     * why, with the end of the guest console.
     */
    static Vm boot(VmConfig config, Path stateDir, AgentChannel.Listener listener) throws IOException {
        return boot(config, stateDir, java.util.Optional.empty(), listener);
    }

    /** With {@code network}, qemu runs in the pod's network namespace with a NIC on its tap. */
    static Vm boot(VmConfig config, Path stateDir, java.util.Optional<PodNetwork> network,
                   AgentChannel.Listener listener) throws IOException {
        config.problem().ifPresent(p -> {
            throw new IllegalStateException(p);
        });
        long start = System.nanoTime();
        Path share = shareDir(stateDir);
        Files.createDirectories(share);
        Path vfsSocket = stateDir.resolve("vfs.sock");
        Path ctlSocket = stateDir.resolve("ctl.sock");
        Path console = stateDir.resolve("console.log");
        Files.deleteIfExists(vfsSocket);
        Files.deleteIfExists(ctlSocket);
        Process virtiofsd = null;
        Process qemu = null;
        AgentChannel agent = null;
        try {
            // chroot sandbox: virtiofsd stays in our mount namespace, so the rootfs and volume mounts made under
            // the share after it started are visible to the guest.
            virtiofsd = new ProcessBuilder(config.virtiofsd().toString(), "--socket-path=" + vfsSocket,
                    "-o", "source=" + share, "-o", "sandbox=chroot", "-o", "cache=auto")
                    .redirectErrorStream(true)
                    .redirectOutput(stateDir.resolve("virtiofsd.log").toFile())
                    .start();
            Files.writeString(stateDir.resolve("virtiofsd.pid"), Long.toString(virtiofsd.pid()));
            awaitSocket(vfsSocket, virtiofsd, Duration.ofSeconds(10), stateDir.resolve("virtiofsd.log"));
            qemu = new ProcessBuilder(qemuCommand(config, stateDir, network))
                    .redirectErrorStream(true)
                    .redirectOutput(stateDir.resolve("qemu.log").toFile())
                    .start();
            Files.writeString(stateDir.resolve("qemu.pid"), Long.toString(qemu.pid()));
            agent = AgentChannel.connect(ctlSocket, listener, Duration.ofSeconds(10));
            AgentChannel.Ready ready;
            try {
                ready = agent.awaitReady(config.readyTimeout());
            } catch (TimeoutException e) {
                throw new IOException("the guest agent did not answer within " + config.readyTimeout()
                        + (qemu.isAlive() ? "" : " (qemu exited with " + qemu.exitValue() + ")"), e);
            }
            var vm = new Vm(stateDir, virtiofsd, qemu, agent, ready, System.nanoTime() - start);
            LOG.info("vm ready", "state", stateDir, "kernel", ready.kernelRelease(), "vcpus", config.cpus(),
                    "memory_mb", config.memoryMb(), "accel", config.accel().name().toLowerCase(java.util.Locale.ROOT),
                    "ms", TimeUnit.NANOSECONDS.toMillis(vm.bootNanos), "guest_init_s", ready.initStarted(),
                    "guest_agent_s", ready.agentStarted(), "guest_ready_s", ready.agentReady());
            return vm;
        } catch (IOException | RuntimeException e) {
            if (agent != null) {
                agent.close();
            }
            stop(qemu);
            stop(virtiofsd);
            String tail = tail(console) + tail(stateDir.resolve("qemu.log"));
            removeRuntimeFiles(stateDir);
            throw new IOException("cannot boot the VM: " + e.getMessage() + (tail.isEmpty() ? "" : "; " + tail), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            if (agent != null) {
                agent.close();
            }
            stop(qemu);
            stop(virtiofsd);
            removeRuntimeFiles(stateDir);
            throw new IOException("interrupted while booting the VM", e);
        }
    }

    static List<String> qemuCommand(VmConfig config, Path stateDir, java.util.Optional<PodNetwork> network) {
        var cmd = new ArrayList<String>();
        network.ifPresent(n -> cmd.addAll(n.enter()));
        String mem = config.memoryMb() + "M";
        cmd.addAll(List.of(config.qemu().toString(),
                "-M", "microvm,memory-backend=mem",
                "-accel", config.accel() == VmConfig.Accel.KVM ? "kvm" : "tcg",
                "-m", mem, "-smp", Integer.toString(config.cpus()),
                "-object", "memory-backend-memfd,id=mem,size=" + mem + ",share=on",
                // virtiofsd needs the modern virtio-mmio transport.
                "-global", "virtio-mmio.force-legacy=false",
                "-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
                "-serial", "file:" + stateDir.resolve("console.log"),
                "-kernel", config.kernel().toString(), "-initrd", config.initrd().toString(),
                "-append", KERNEL_ARGS + network.map(n -> " " + n.kernelArgs()).orElse(""),
                "-chardev", "socket,path=" + stateDir.resolve("ctl.sock") + ",server=on,wait=off,id=agent",
                "-device", "virtio-serial-device",
                "-device", "virtserialport,chardev=agent,name=bollard.agent",
                "-chardev", "socket,id=fs0,path=" + stateDir.resolve("vfs.sock"),
                "-device", "vhost-user-fs-device,chardev=fs0,tag=" + SHARE_TAG));
        network.ifPresent(n -> cmd.addAll(List.of(
                // no /dev/vhost-net on these nodes: vhost=on would abort qemu
                "-netdev", "tap,id=net0,ifname=" + PodNetwork.TAP + ",script=no,downscript=no,vhost=off",
                "-device", "virtio-net-device,netdev=net0,mac=" + n.mac())));
        return cmd;
    }

    private static void awaitSocket(Path socket, Process process, Duration timeout, Path log)
            throws IOException, InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!Files.exists(socket)) {
            if (!process.isAlive()) {
                throw new IOException(process.info().command().orElse("process") + " exited with "
                        + process.exitValue() + ": " + tail(log));
            }
            if (System.nanoTime() > deadline) {
                throw new IOException(socket + " did not appear within " + timeout);
            }
            Thread.sleep(10);
        }
    }

    AgentChannel agent() {
        return agent;
    }

    AgentChannel.Ready ready() {
        return ready;
    }

    boolean isAlive() {
        return qemu.isAlive();
    }

    /** Asks the guest to power off, waits up to {@code grace}, then kills what is left. Idempotent. */
    @Override
    public void close() {
        close(Duration.ofSeconds(5));
    }

    void close(Duration grace) {
        agent.expectClose();
        if (qemu.isAlive()) {
            try {
                agent.call(Duration.ofSeconds(2), "shutdown");
            } catch (IOException e) {
                LOG.debug("guest shutdown request failed", "error", e.getMessage());
            }
            try {
                qemu.waitFor(grace.toMillis(), TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        agent.close();
        stop(qemu);
        stop(virtiofsd);
        removeRuntimeFiles(stateDir);
    }

    private static void stop(Process process) {
        if (process == null) {
            return;
        }
        try {
            if (process.isAlive()) {
                process.destroy();
                if (!process.waitFor(2, TimeUnit.SECONDS)) {
                    process.destroyForcibly();
                    process.waitFor(2, TimeUnit.SECONDS);
                }
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
    }

    /** Kills a VM's processes by their pid files (the {@code delete} action, when the shim itself is gone). */
    static void killByPidFiles(Path stateDir) {
        for (String name : List.of("qemu.pid", "virtiofsd.pid")) {
            Path file = stateDir.resolve(name);
            try {
                long pid = Long.parseLong(Files.readString(file).strip());
                ProcessHandle.of(pid).filter(p -> p.info().commandLine().map(c -> c.contains(stateDir.toString()))
                        .orElse(false)).ifPresent(p -> {
                    p.destroyForcibly();
                    p.onExit().orTimeout(2, TimeUnit.SECONDS).exceptionally(t -> null).join();
                });
            } catch (IOException | NumberFormatException e) {
                // no pid file: nothing to kill
            }
        }
    }

    static void removeRuntimeFiles(Path stateDir) {
        for (String name : List.of("ctl.sock", "vfs.sock", "qemu.pid", "virtiofsd.pid", "console.log", "qemu.log",
                "virtiofsd.log")) {
            try {
                Files.deleteIfExists(stateDir.resolve(name));
            } catch (IOException e) {
                LOG.warn("cannot remove VM file", "file", stateDir.resolve(name), "error", e.getMessage());
            }
        }
    }

    /** The last lines of a log file, for error messages. */
    static String tail(Path file) {
        try {
            List<String> lines = Files.readAllLines(file, StandardCharsets.UTF_8);
            List<String> last = lines.subList(Math.max(0, lines.size() - 8), lines.size());
            return last.isEmpty() ? "" : file.getFileName() + ": " + String.join(" | ", last).strip();
        } catch (IOException e) {
            return "";
        }
    }
}
