package dev.bollard.daemon.runtime;

import dev.bollard.daemon.config.BollardConfig.Accelerator;
import dev.bollard.daemon.runtime.KvmProbe.Outcome;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

class KvmProbeTest {

    @Test
    void autoTakesKvmOnlyWhenTheGuestKernelBooted() {
        var booted = KvmProbe.decide(Accelerator.AUTO, new Outcome.Booted(420)).orElseThrow();
        assertEquals(Accelerator.KVM, booted.accelerator());
        assertEquals("accelerator kvm (/dev/kvm booted the guest kernel in 420 ms)", booted.describe());

        var hung = KvmProbe.decide(Accelerator.AUTO, new Outcome.Hung(Duration.ofSeconds(10))).orElseThrow();
        assertEquals(Accelerator.TCG, hung.accelerator());
        assertTrue(hung.reason().contains("did not boot the guest kernel within 10 s"), hung.reason());

        var failed = KvmProbe.decide(Accelerator.AUTO, new Outcome.Failed("qemu exited with 1")).orElseThrow();
        assertEquals(new KvmProbe.Decision(Accelerator.TCG, "qemu -accel kvm failed: qemu exited with 1"), failed);

        var none = KvmProbe.decide(Accelerator.AUTO, new Outcome.NoDevice("no /dev/kvm on this node")).orElseThrow();
        assertEquals(new KvmProbe.Decision(Accelerator.TCG, "no /dev/kvm on this node"), none);
    }

    @Test
    void anExplicitSettingIsNotProbedButKvmNeedsTheDevice() {
        for (Outcome o : new Outcome[]{new Outcome.Booted(1), new Outcome.Hung(Duration.ofSeconds(1)),
                new Outcome.NoDevice("none")}) {
            assertEquals(Accelerator.TCG, KvmProbe.decide(Accelerator.TCG, o).orElseThrow().accelerator());
        }
        assertEquals(Accelerator.KVM, KvmProbe.decide(Accelerator.KVM, new Outcome.Hung(Duration.ofSeconds(1)))
                .orElseThrow().accelerator(), "the operator's kvm is taken as said");
        assertEquals(Optional.empty(), KvmProbe.decide(Accelerator.KVM, new Outcome.NoDevice("no /dev/kvm")),
                "kvm without a device: not ready");
    }

    @Test
    void aMissingDeviceIsFoundWithoutBootingAnything(@TempDir Path dir) {
        var outcome = KvmProbe.probe(Path.of("/nonexistent/qemu"), Path.of("/nonexistent/vmlinux"),
                dir.resolve("kvm"), Duration.ofSeconds(1));
        assertEquals(new Outcome.NoDevice("no " + dir.resolve("kvm") + " on this node"), outcome);
    }

    @Test
    void theOutcomeIsKeptPerQemuKernelAndDevice(@TempDir Path dir) throws Exception {
        Path cache = dir.resolve("probe");
        Path qemu = Files.writeString(dir.resolve("qemu"), "x");
        Path kernel = Files.writeString(dir.resolve("vmlinux"), "y");
        String key = KvmProbe.key(qemu, kernel, Path.of("/dev/kvm"));
        for (Outcome o : new Outcome[]{new Outcome.Booted(12), new Outcome.Hung(Duration.ofSeconds(10)),
                new Outcome.Failed("qemu exited with 1: no\nsecond line"), new Outcome.NoDevice("no /dev/kvm")}) {
            KvmProbe.write(cache, key, o);
            Outcome back = KvmProbe.read(cache, key).orElseThrow();
            if (o instanceof Outcome.Failed) {
                assertEquals(new Outcome.Failed("qemu exited with 1: no second line"), back);
            } else {
                assertEquals(o, back);
            }
        }
        Files.writeString(kernel, "a different kernel");
        assertEquals(Optional.empty(), KvmProbe.read(cache, KvmProbe.key(qemu, kernel, Path.of("/dev/kvm"))),
                "another kernel is probed again");
    }

    /** The real probe on this node: whatever /dev/kvm does, the answer comes and no qemu is left running. */
    @Test
    void theRealProbeEndsWithinItsBound() throws Exception {
        Path qemu = Path.of("/usr/bin/qemu-system-x86_64");
        Path kernel = guestKernel();
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isExecutable(qemu) && kernel != null,
                "qemu and the guest kernel (vm/guest/build.sh) are needed");
        Duration timeout = Duration.ofSeconds(5);
        long start = System.nanoTime();
        Outcome outcome = KvmProbe.probe(qemu, kernel, KvmProbe.KVM_DEVICE, timeout);
        long seconds = Duration.ofNanos(System.nanoTime() - start).toSeconds();
        // bounded: the timeout, plus qemu's kill and the temp dir's removal (a correctness bound, not a speed check)
        assertTrue(seconds <= timeout.toSeconds() + 10, "the probe took " + seconds + " s: " + outcome);
        var decision = KvmProbe.decide(Accelerator.AUTO, outcome).orElseThrow();
        if (outcome instanceof Outcome.Booted) {
            assertEquals(Accelerator.KVM, decision.accelerator());
        } else {
            assertEquals(Accelerator.TCG, decision.accelerator(), "on these PVM nodes: " + outcome);
        }
        assertEquals(0, qemuProbesRunning(), "no probe qemu left");
    }

    /** The method itself: under TCG (no KVM needed) the kernel boots, panics without a root and qemu exits. */
    @Test
    void theProbeRecognizesAKernelThatBoots() {
        Path qemu = Path.of("/usr/bin/qemu-system-x86_64");
        Path kernel = guestKernel();
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isExecutable(qemu) && kernel != null,
                "qemu and the guest kernel (vm/guest/build.sh) are needed");
        assertInstanceOf(Outcome.Booted.class, KvmProbe.boot(qemu, kernel, "tcg", Duration.ofSeconds(120)));
        var garbage = KvmProbe.boot(qemu, Path.of("/etc/hostname"), "tcg", Duration.ofSeconds(60));
        assertInstanceOf(Outcome.Failed.class, garbage, "not a kernel");
    }

    private static Path guestKernel() {
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
            Path k = p.resolve("vm/guest/out/vmlinux");
            if (Files.isRegularFile(k)) {
                return k;
            }
        }
        return null;
    }

    private static long qemuProbesRunning() {
        return ProcessHandle.allProcesses().filter(p -> p.info().commandLine().orElse("").contains("bollard-kvm-probe"))
                .count();
    }
}
