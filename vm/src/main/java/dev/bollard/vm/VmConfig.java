package dev.bollard.vm;

import dev.bollard.daemon.config.BollardConfig;
import dev.bollard.daemon.runtime.KvmProbe;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * How the shim boots a pod's VM. Read from the environment (containerd and Bollard start shims with a fixed
 * command line; the launcher {@code bin/containerd-shim-bollard-vm-v2} sets the defaults of a checkout):
 * {@code BOLLARD_VM_QEMU}, {@code BOLLARD_VM_VIRTIOFSD}, {@code BOLLARD_VM_KERNEL}, {@code BOLLARD_VM_INITRD},
 * {@code BOLLARD_VM_CPUS}, {@code BOLLARD_VM_MEMORY_MB}, {@code BOLLARD_VM_ACCEL} ({@code tcg|kvm|auto}),
 * {@code BOLLARD_VM_READY_TIMEOUT_SECONDS}, {@code BOLLARD_VM_STATE_ROOT}.
 */
record VmConfig(Path qemu, Path virtiofsd, Path kernel, Path initrd, int cpus, int memoryMb, Accel accel,
                Duration readyTimeout, Path stateRoot) {

    enum Accel { TCG, KVM, AUTO }

    static final Path DEFAULT_STATE_ROOT = Path.of("/run/bollard-vm");

    static VmConfig fromEnvironment(Map<String, String> env) {
        Path kernel = Path.of(env.getOrDefault("BOLLARD_VM_KERNEL", "/usr/share/bollard/vm/vmlinux"));
        Path initrd = Path.of(env.getOrDefault("BOLLARD_VM_INITRD", "/usr/share/bollard/vm/initrd.img"));
        return new VmConfig(
                Path.of(env.getOrDefault("BOLLARD_VM_QEMU", "/usr/bin/qemu-system-x86_64")),
                Path.of(env.getOrDefault("BOLLARD_VM_VIRTIOFSD", "/usr/lib/qemu/virtiofsd")),
                kernel, initrd,
                positive(env, "BOLLARD_VM_CPUS", 1),
                positive(env, "BOLLARD_VM_MEMORY_MB", 256),
                accel(env.getOrDefault("BOLLARD_VM_ACCEL", "auto")),
                Duration.ofSeconds(positive(env, "BOLLARD_VM_READY_TIMEOUT_SECONDS", 90)),
                Path.of(env.getOrDefault("BOLLARD_VM_STATE_ROOT", DEFAULT_STATE_ROOT.toString())));
    }

    private static int positive(Map<String, String> env, String name, int fallback) {
        String value = env.get(name);
        if (value == null || value.isBlank()) {
            return fallback;
        }
        try {
            int n = Integer.parseInt(value.strip());
            if (n > 0) {
                return n;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new IllegalArgumentException(name + "=" + value + " is not a positive number");
    }

    /**
     * {@code auto} is decided at boot by the node's KVM probe ({@link #resolved}): Bollard passes the decided
     * accelerator, containerd passes whatever its runtime's environment says.
     */
    private static Accel accel(String value) {
        return switch (value.strip().toLowerCase(java.util.Locale.ROOT)) {
            case "tcg" -> Accel.TCG;
            case "auto" -> Accel.AUTO;
            case "kvm" -> Accel.KVM;
            default -> throw new IllegalArgumentException("BOLLARD_VM_ACCEL=" + value + ": expected tcg, kvm or auto");
        };
    }

    /**
     * With {@code auto} decided: the node's KVM probe (once per node: {@link KvmProbe#cached}, so only the first
     * VM of a node, or after a change of qemu or kernel, waits for it).
     */
    VmConfig resolved() {
        if (accel != Accel.AUTO) {
            return this;
        }
        var outcome = KvmProbe.cached(KvmProbe.NODE_CACHE, qemu, kernel).join();
        var decision = KvmProbe.decide(BollardConfig.Accelerator.AUTO, outcome).orElseThrow();
        dev.bollard.daemon.log.Log.get("vm-shim").info("accelerator", "chosen", decision.describe());
        return withAccel(decision.accelerator() == BollardConfig.Accelerator.KVM ? Accel.KVM : Accel.TCG);
    }

    VmConfig withAccel(Accel a) {
        return new VmConfig(qemu, virtiofsd, kernel, initrd, cpus, memoryMb, a, readyTimeout, stateRoot);
    }

    VmConfig withSize(int newCpus, int newMemoryMb) {
        return new VmConfig(qemu, virtiofsd, kernel, initrd, newCpus, newMemoryMb, accel, readyTimeout, stateRoot);
    }

    /** What is missing to boot a VM, if anything (the readiness reason). */
    Optional<String> problem() {
        List<String> problems = new ArrayList<>();
        if (!Files.isExecutable(qemu)) {
            problems.add("qemu " + qemu + " is missing (apt-get install qemu-system-x86)");
        }
        if (!Files.isExecutable(virtiofsd)) {
            problems.add("virtiofsd " + virtiofsd + " is missing (apt-get install qemu-system-x86)");
        }
        if (!Files.isRegularFile(kernel)) {
            problems.add("guest kernel " + kernel + " is missing (run vm/guest/build.sh)");
        }
        if (!Files.isRegularFile(initrd)) {
            problems.add("guest initrd " + initrd + " is missing (run vm/guest/build.sh)");
        }
        return problems.isEmpty() ? Optional.empty() : Optional.of(String.join("; ", problems));
    }
}
