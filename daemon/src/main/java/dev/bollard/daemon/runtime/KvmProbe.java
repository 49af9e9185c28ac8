package dev.bollard.daemon.runtime;

import dev.bollard.daemon.config.BollardConfig.Accelerator;
import dev.bollard.daemon.store.AtomicFiles;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * Whether {@code /dev/kvm} really boots a guest here, and so which accelerator a VM handler uses. A {@code /dev/kvm}
 * that opens is not enough: on a PVM host (these nodes) a stock guest kernel hangs early in its boot under
 * {@code -accel kvm}. So the probe boots the guest kernel itself, without an initramfs, under KVM: a kernel that
 * works gets as far as mounting its root, finds none, panics, and ({@code panic=-1}, {@code -no-reboot}) qemu
 * exits — well under a second on real KVM. A qemu still running after the timeout is killed and KVM is judged
 * unusable.
 *
 * <p>The outcome is a property of the node, so it is probed once per node and kept in a file (keyed by the
 * qemu and kernel it was made with, and whether /dev/kvm was there); the daemon and the shims of every pod read it.
 */
public final class KvmProbe {

    /** Where outcomes are kept, one file per qemu/kernel/device key: beside the VM shims' default state root. */
    public static final Path NODE_CACHE = Path.of("/run/bollard-vm/kvm-probe");
    public static final Path KVM_DEVICE = Path.of("/dev/kvm");
    public static final Duration TIMEOUT = Duration.ofSeconds(dev.bollard.daemon.config.ConfigSchema.VM_KVM_PROBE_SECONDS);

    /** What booting the guest kernel under KVM did. */
    public sealed interface Outcome {
        /** The kernel got to mounting its root (and panicked there, as meant). */
        record Booted(long millis) implements Outcome {
        }

        /** qemu was still running at the timeout (the PVM hang). */
        record Hung(Duration timeout) implements Outcome {
        }

        /** qemu exited without the kernel getting far, or could not start. */
        record Failed(String detail) implements Outcome {
        }

        /** {@code /dev/kvm} is missing or cannot be opened read-write. */
        record NoDevice(String detail) implements Outcome {
        }
    }

    /** The accelerator chosen, and why (for the handler's readiness and Status). */
    public record Decision(Accelerator accelerator, String reason) {
        public String describe() {
            return "accelerator " + accelerator.name().toLowerCase(java.util.Locale.ROOT) + " (" + reason + ")";
        }
    }

    private KvmProbe() {
    }

    /**
     * The accelerator for the configured setting and what the probe found; {@code outcome} is only looked at for
     * {@code auto}. Empty for {@code kvm} on a node without a usable {@code /dev/kvm}: that handler is not ready.
     */
    public static Optional<Decision> decide(Accelerator setting, Outcome outcome) {
        return switch (setting) {
            case TCG -> Optional.of(new Decision(Accelerator.TCG, "accelerator = \"tcg\" in the configuration"));
            case KVM -> outcome instanceof Outcome.NoDevice
                    ? Optional.empty()
                    : Optional.of(new Decision(Accelerator.KVM, "accelerator = \"kvm\" in the configuration"));
            case AUTO -> Optional.of(switch (outcome) {
                case Outcome.Booted b -> new Decision(Accelerator.KVM,
                        "/dev/kvm booted the guest kernel in " + b.millis() + " ms");
                case Outcome.Hung h -> new Decision(Accelerator.TCG, "/dev/kvm did not boot the guest kernel within "
                        + h.timeout().toSeconds() + " s (a PVM or nested host stock kernels cannot boot on)");
                case Outcome.Failed f -> new Decision(Accelerator.TCG, "qemu -accel kvm failed: " + f.detail());
                case Outcome.NoDevice n -> new Decision(Accelerator.TCG, n.detail());
            });
        };
    }

    /** Whether {@code /dev/kvm} can be used at all, before booting anything. */
    static Optional<Outcome.NoDevice> deviceProblem(Path device) {
        if (!Files.exists(device)) {
            return Optional.of(new Outcome.NoDevice("no " + device + " on this node"));
        }
        if (!Files.isReadable(device) || !Files.isWritable(device)) {
            return Optional.of(new Outcome.NoDevice(device + " cannot be opened read-write"));
        }
        return Optional.empty();
    }

    /** Boots {@code kernel} under KVM with {@code qemu} for at most {@code timeout}; never longer (plus a kill). */
    public static Outcome probe(Path qemu, Path kernel, Path device, Duration timeout) {
        var problem = deviceProblem(device);
        if (problem.isPresent()) {
            return problem.get();
        }
        return boot(qemu, kernel, "kvm", timeout);
    }

    /** The boot itself, under any accelerator (the tests prove the method with tcg, which boots here). */
    static Outcome boot(Path qemu, Path kernel, String accel, Duration timeout) {
        Path dir = null;
        Process p = null;
        long start = System.nanoTime();
        try {
            dir = Files.createTempDirectory("bollard-kvm-probe");
            Path console = dir.resolve("console");
            p = new ProcessBuilder(qemu.toString(), "-M", "microvm", "-accel", accel, "-m", "128", "-smp", "1",
                    "-nodefaults", "-no-user-config", "-nographic", "-no-reboot", "-serial", "file:" + console,
                    "-kernel", kernel.toString(),
                    "-append", "console=ttyS0 panic=-1 reboot=t tsc_early_khz=2100000 tsc=reliable")
                    .redirectErrorStream(true).redirectOutput(dir.resolve("qemu.log").toFile()).start();
            if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                return new Outcome.Hung(timeout);
            }
            long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
            String out = Files.exists(console) ? Files.readString(console, StandardCharsets.ISO_8859_1) : "";
            if (out.contains("VFS: Unable to mount root fs") || out.contains("Kernel panic")) {
                return new Outcome.Booted(millis);
            }
            String log = Files.readString(dir.resolve("qemu.log"), StandardCharsets.ISO_8859_1).strip();
            return new Outcome.Failed("qemu exited with " + p.exitValue() + " before the kernel booted"
                    + (log.isEmpty() ? "" : ": " + lastLine(log)));
        } catch (IOException e) {
            return new Outcome.Failed(e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new Outcome.Failed("interrupted");
        } finally {
            if (p != null && p.isAlive()) {
                p.destroyForcibly();
                try {
                    p.waitFor(5, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            if (dir != null) {
                try (var files = Files.list(dir)) {
                    for (Path f : files.toList()) {
                        Files.deleteIfExists(f);
                    }
                    Files.deleteIfExists(dir);
                } catch (IOException ignored) {
                    // a temp dir left behind is harmless
                }
            }
        }
    }

    private static String lastLine(String text) {
        var lines = text.lines().toList();
        return lines.get(lines.size() - 1);
    }

    // --- once per node ------------------------------------------------------------------------------------------

    private static final ConcurrentHashMap<String, CompletableFuture<Outcome>> RUNNING = new ConcurrentHashMap<>();

    /** What the cached outcome is keyed by: a different qemu, kernel or /dev/kvm is probed again. */
    static String key(Path qemu, Path kernel, Path device) {
        return describe(qemu) + " " + describe(kernel) + " " + Files.exists(device);
    }

    private static String describe(Path file) {
        try {
            return file + ":" + Files.size(file) + ":" + Files.getLastModifiedTime(file).toMillis();
        } catch (IOException e) {
            return file + ":missing";
        }
    }

    /**
     * The node's outcome: read from {@code cache} when it was made with the same qemu, kernel and device,
     * otherwise probed (one probe at a time per key in this process) and written there.
     */
    public static CompletableFuture<Outcome> cached(Path cacheDir, Path qemu, Path kernel) {
        String key = key(qemu, kernel, KVM_DEVICE);
        Path cache = cacheDir.resolve(java.util.HexFormat.of().formatHex(sha256(key)).substring(0, 32));
        Optional<Outcome> stored = read(cache, key);
        if (stored.isPresent()) {
            return CompletableFuture.completedFuture(stored.get());
        }
        return RUNNING.computeIfAbsent(key, k -> {
            var future = new CompletableFuture<Outcome>();
            Thread.ofVirtual().name("kvm-probe").start(() -> {
                Outcome outcome = probe(qemu, kernel, KVM_DEVICE, TIMEOUT);
                if (!(outcome instanceof Outcome.Failed f && f.detail().equals("interrupted"))) {
                    write(cache, key, outcome);
                }
                future.complete(outcome);
            });
            return future;
        });
    }

    private static byte[] sha256(String text) {
        try {
            return java.security.MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8));
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    static Optional<Outcome> read(Path cache, String key) {
        try {
            List<String> lines = Files.readAllLines(cache, StandardCharsets.UTF_8);
            if (lines.size() < 3 || !lines.get(0).equals(key)) {
                return Optional.empty();
            }
            String detail = lines.get(2);
            return Optional.of(switch (lines.get(1)) {
                case "booted" -> new Outcome.Booted(Long.parseLong(detail));
                case "hung" -> new Outcome.Hung(Duration.ofSeconds(Long.parseLong(detail)));
                case "failed" -> new Outcome.Failed(detail);
                case "no-device" -> new Outcome.NoDevice(detail);
                default -> throw new IllegalArgumentException(lines.get(1));
            });
        } catch (IOException | RuntimeException e) {
            return Optional.empty();
        }
    }

    static void write(Path cache, String key, Outcome outcome) {
        String body = switch (outcome) {
            case Outcome.Booted b -> "booted\n" + b.millis();
            case Outcome.Hung h -> "hung\n" + h.timeout().toSeconds();
            case Outcome.Failed f -> "failed\n" + f.detail().replace('\n', ' ');
            case Outcome.NoDevice n -> "no-device\n" + n.detail().replace('\n', ' ');
        };
        try {
            Files.createDirectories(cache.getParent());
            AtomicFiles.write(cache, (key + "\n" + body + "\n").getBytes(StandardCharsets.UTF_8));
        } catch (IOException e) {
            // not kept: the next process probes again
        }
    }
}
