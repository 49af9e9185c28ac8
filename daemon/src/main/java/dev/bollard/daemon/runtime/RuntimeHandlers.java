package dev.bollard.daemon.runtime;

import dev.bollard.daemon.config.BollardConfig;
import dev.bollard.daemon.linux.CgroupLayout;
import dev.bollard.daemon.linux.Executables;

import dev.bollard.daemon.store.AtomicFiles;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;

/**
 * The configured RuntimeClass handlers and the checks that say whether each can run pods here. Checks run on
 * every call (a few stat(2)s), so installing a missing runtime turns its handler ready without a restart.
 */
public final class RuntimeHandlers {

    private static final dev.bollard.daemon.log.Log LOG = dev.bollard.daemon.log.Log.get("daemon");

    private final Map<String, BollardConfig.RuntimeHandler> handlers;
    private final String defaultName;
    private final CgroupDriver cgroupDriver;
    private final CgroupLayout layout;
    private final Function<String, Optional<Path>> lookup;
    private final Path launcherDir;
    /** runc's answers kept across restarts; null: asked once per daemon, kept nowhere */
    private final RuncFeaturesCache featuresCache;

    /** @param launcherDir where runtime launchers Bollard writes for this node live (see {@link #hybridLauncher}) */
    public RuntimeHandlers(BollardConfig config, CgroupDriver cgroupDriver, CgroupLayout layout, Path launcherDir) {
        this(config, cgroupDriver, layout, Executables::find, launcherDir, null);
    }

    /**
     * @param featuresFile where runc's features answers are kept across daemon restarts ({@link RuncFeaturesCache}),
     *                     in the root: a node's reboot keeps them
     */
    public RuntimeHandlers(BollardConfig config, CgroupDriver cgroupDriver, CgroupLayout layout, Path launcherDir,
                           Path featuresFile) {
        this(config, cgroupDriver, layout, Executables::find, launcherDir, featuresFile);
    }

    RuntimeHandlers(BollardConfig config, CgroupDriver cgroupDriver, CgroupLayout layout,
                    Function<String, Optional<Path>> lookup, Path launcherDir) {
        this(config, cgroupDriver, layout, lookup, launcherDir, null);
    }

    RuntimeHandlers(BollardConfig config, CgroupDriver cgroupDriver, CgroupLayout layout,
                    Function<String, Optional<Path>> lookup, Path launcherDir, Path featuresFile) {
        this.featuresCache = featuresFile == null ? null : new RuncFeaturesCache(featuresFile);
        this.launcherDir = launcherDir;
        this.handlers = config.runtimes();
        this.defaultName = config.runtime().defaultRuntime();
        this.cgroupDriver = cgroupDriver;
        this.layout = layout;
        this.lookup = lookup;
    }

    public String defaultName() {
        return defaultName;
    }

    public List<String> names() {
        return List.copyOf(handlers.keySet());
    }

    public Optional<BollardConfig.RuntimeHandler> get(String name) {
        return Optional.ofNullable(handlers.get(name.isEmpty() ? defaultName : name));
    }

    /**
     * Whether the handler's pods run in a VM (its table has the VM settings, which only a VM shim's takes): their
     * containers' cgroups and ports are in the guest, not on the host.
     */
    public boolean runsInVm(String name) {
        return get(name).flatMap(h -> h.vm()).isPresent();
    }

    public List<HandlerStatus> statuses() {
        return handlers.values().stream().map(this::check).toList();
    }

    public HandlerStatus check(BollardConfig.RuntimeHandler h) {
        var shim = lookup.apply(h.shim());
        var binary = lookup.apply(h.binaryName());
        if (shim.isEmpty()) {
            return notReady(h, "ShimNotFound", "shim binary \"" + h.shim() + "\" not found (PATH or absolute path)", shim, binary);
        }
        if (isVmShim(shim.get()) && h.vm().isPresent()) {
            return checkVm(h, shim.get(), binary.or(() -> shim));
        }
        if (binary.isEmpty()) {
            return notReady(h, "RuntimeBinaryNotFound", "OCI runtime \"" + h.binaryName() + "\" not found (PATH or absolute path)",
                    shim, binary);
        }
        if (h.systemdCgroup() && cgroupDriver != CgroupDriver.SYSTEMD) {
            return notReady(h, "SystemdCgroupUnavailable",
                    "systemd_cgroup = true needs the systemd cgroup driver; this node uses " + cgroupDriver.name().toLowerCase(), shim, binary);
        }
        for (String flag : h.runtimeFlags()) {
            String name = flagName(flag);
            if (SHIM_FLAGS.contains(name)) {
                return notReady(h, "RuntimeFlagsInvalid", "runtime_flags must not set --" + name
                        + ": the shim passes it itself (set root / systemd_cgroup instead)", shim, binary);
            }
        }
        Path runtime = binary.get();
        Optional<Path> root = h.root();
        if (isRunsc(runtime)) {
            String platform = flagValue(h.runtimeFlags(), "platform").orElse("ptrace");
            if (!platform.equals("ptrace")) {
                return notReady(h, "PlatformUnusable", platform.equals("kvm")
                        ? "runsc --platform=kvm hangs on this node (its sandbox never starts); use --platform=ptrace"
                        : "runsc platform \"" + platform + "\" is not one this node can run; use --platform=ptrace",
                        shim, binary);
            }
            // A state root of its own: runsc's files never mix with runc's in the shim's default root, and
            // every node (and test daemon) keeps its own.
            if (root.isEmpty()) {
                root = Optional.of(launcherDir.resolveSibling("runsc"));
            }
        }
        try {
            if (layout.mode() == CgroupLayout.Mode.HYBRID && runtime.getFileName().toString().contains("crun")) {
                // crun refuses a hybrid layout whose cgroup2 holds controllers ("cgroups in hybrid mode not supported,
                // drop all controllers from cgroupv2"). Run it where that cgroup2 mount is not visible: it then sees a
                // plain v1 node, which it supports, and the containers it makes are v1 containers like runc's.
                var unshare = lookup.apply("unshare");
                if (unshare.isEmpty()) {
                    return notReady(h, "HybridCgroupsUnsupported",
                            "crun refuses hybrid cgroup v1/v2 layouts (cgroup2 mounted at " + layout.unifiedMount()
                                    + " beside v1 controllers), and unshare (util-linux) is missing to hide that mount",
                            shim, binary);
                }
                runtime = hybridLauncher(runtime, unshare.get(), layout.unifiedMount());
            }
            if (!h.runtimeFlags().isEmpty()) {
                runtime = flagsLauncher(h.name(), runtime, h.runtimeFlags(), isRunsc(binary.get()));
            }
            if (root.isPresent()) {
                Files.createDirectories(root.get());
            }
        } catch (IOException e) {
            return notReady(h, "LauncherUnwritable", "cannot write the launcher of handler \"" + h.name() + "\" in "
                    + launcherDir + ": " + e.getMessage(), shim, binary);
        }
        return new HandlerStatus(h.name(), true, "", "", shim, Optional.of(runtime), root);
    }

    /** Bollard's VM shim (vm/ module): it runs the pod in a qemu VM, so the host needs no OCI runtime of its own. */
    static boolean isVmShim(Path shim) {
        return dev.bollard.daemon.config.ConfigSchema.isVmShim(shim.toString());
    }

    /**
     * The VM handler is ready when qemu, virtiofsd and the guest (kernel, initramfs: the configured ones, or the
     * vm/guest/build.sh output beside the shim's launcher in a checkout, {@code <checkout>/vm/guest/out}) are there,
     * and, for {@code accelerator = "kvm"}, /dev/kvm. The message says which accelerator its VMs get and why; with
     * {@code auto}, that is the node's KVM probe ({@link KvmProbe}), started on the first check and not waited
     * for here (the message says so until it ends; {@link #vmEnvironment} waits).
     */
    private HandlerStatus checkVm(BollardConfig.RuntimeHandler h, Path shim, Optional<Path> binary) {
        var settings = h.vm().orElseThrow();
        var guest = guestImage(h, shim);
        if (guest instanceof VmGuest.Missing(String reason, String message)) {
            return notReady(h, reason, message, Optional.of(shim), binary);
        }
        var found = (VmGuest.Found) guest;
        Optional<KvmProbe.Decision> decision;
        if (settings.accelerator() == BollardConfig.Accelerator.AUTO) {
            var probe = KvmProbe.cached(KvmProbe.NODE_CACHE, found.qemu(), found.kernel());
            if (!probe.isDone()) {
                return new HandlerStatus(h.name(), true, "", "qemu microvm, accelerator: probing /dev/kvm (tcg unless"
                        + " it boots the guest kernel within " + KvmProbe.TIMEOUT.toSeconds() + " s)",
                        Optional.of(shim), binary, Optional.empty());
            }
            decision = KvmProbe.decide(settings.accelerator(), probe.join());
        } else {
            decision = KvmProbe.decide(settings.accelerator(),
                    KvmProbe.deviceProblem(KvmProbe.KVM_DEVICE).<KvmProbe.Outcome>map(n -> n)
                            .orElse(new KvmProbe.Outcome.Booted(0)));
        }
        if (decision.isEmpty()) {
            return notReady(h, "KvmUnavailable", "accelerator = \"kvm\" but " + KvmProbe.deviceProblem(KvmProbe.KVM_DEVICE)
                    .map(KvmProbe.Outcome.NoDevice::detail).orElse("/dev/kvm is unusable")
                    + " (set accelerator = \"auto\" or \"tcg\")", Optional.of(shim), binary);
        }
        return new HandlerStatus(h.name(), true, "", "qemu microvm, " + decision.get().describe(),
                Optional.of(shim), binary, Optional.empty());
    }

    /** The VM guest of a handler: found (resolved paths), or missing (the readiness reason). */
    sealed interface VmGuest {
        record Found(Path qemu, Path kernel, Path initrd) implements VmGuest {
        }

        record Missing(String reason, String message) implements VmGuest {
        }
    }

    private VmGuest guestImage(BollardConfig.RuntimeHandler h, Path shim) {
        var settings = h.vm().orElseThrow();
        Path guest;
        try {
            guest = shim.toRealPath().getParent().resolveSibling("vm").resolve("guest").resolve("out");
        } catch (IOException e) {
            return new VmGuest.Missing("ShimNotFound", "cannot resolve the VM shim " + shim + ": " + e.getMessage());
        }
        var qemu = lookup.apply(settings.hypervisor());
        if (qemu.isEmpty()) {
            return new VmGuest.Missing("HypervisorNotFound", "hypervisor \"" + settings.hypervisor()
                    + "\" not found (PATH or absolute path; apt-get install qemu-system-x86)");
        }
        if (!Files.isExecutable(VIRTIOFSD)) {
            return new VmGuest.Missing("VirtiofsdNotFound", VIRTIOFSD + " not found (apt-get install qemu-system-x86)");
        }
        Path kernel = settings.kernel().orElse(guest.resolve("vmlinux"));
        Path initrd = settings.initrd().orElse(guest.resolve("initrd.img"));
        for (Path file : List.of(kernel, initrd)) {
            if (!Files.isRegularFile(file)) {
                return new VmGuest.Missing("GuestImageNotFound", "the VM guest's " + file + " is missing"
                        + (file.startsWith(guest) ? " (run vm/guest/build.sh)" : ""));
            }
        }
        return new VmGuest.Found(qemu.get(), kernel, initrd);
    }

    /**
     * What the VM shim of a ready VM handler gets in its environment: the resolved qemu, kernel and initrd, the
     * base vCPUs and memory, and the accelerator decided here (waiting for the node's KVM probe if it still runs,
     * at most its timeout), so that no shim probes again. Empty for other handlers.
     */
    public java.util.Map<String, String> vmEnvironment(BollardConfig.RuntimeHandler h, Path shim) {
        if (h.vm().isEmpty()) {
            return java.util.Map.of();
        }
        var settings = h.vm().get();
        if (!(guestImage(h, shim) instanceof VmGuest.Found found)) {
            return java.util.Map.of();
        }
        var accel = settings.accelerator();
        if (accel == BollardConfig.Accelerator.AUTO) {
            var outcome = KvmProbe.cached(KvmProbe.NODE_CACHE, found.qemu(), found.kernel()).join();
            accel = KvmProbe.decide(accel, outcome).orElseThrow().accelerator();
        }
        var env = new java.util.LinkedHashMap<String, String>();
        env.put("BOLLARD_VM_QEMU", found.qemu().toString());
        env.put("BOLLARD_VM_KERNEL", found.kernel().toString());
        env.put("BOLLARD_VM_INITRD", found.initrd().toString());
        env.put("BOLLARD_VM_CPUS", Integer.toString(settings.vcpus()));
        env.put("BOLLARD_VM_MEMORY_MB", Integer.toString(settings.memoryMb()));
        env.put("BOLLARD_VM_ACCEL", accel.name().toLowerCase(java.util.Locale.ROOT));
        return env;
    }

    static final Path VIRTIOFSD = Path.of("/usr/lib/qemu/virtiofsd");

    /**
     * What a handler's pods can use beyond the basics, as Status reports it per handler. runc: recursive read-only
     * mounts when its {@code features} list the {@code rro} mount option (runc 1.1+, on kernel 5.12+), user
     * namespaces when they list the user namespace and the kernel can build an overlay on idmapped layers (5.19+);
     * Bollard makes the idmapped mounts itself, so the runtime needs none of its own. crun (1.8, which has no
     * {@code features} command) does both on those kernels: it joins the pod's user namespace by path, and keeps
     * the submounts of a read-only bind read-only (the integration tests check both). runsc offers neither (its
     * gVisor kernel has no idmapped mounts, and rro was never tested there).
     */
    public record Features(boolean recursiveReadOnlyMounts, boolean userNamespaces) {
        public static final Features NONE = new Features(false, false);
    }

    private final Map<Path, Features> featuresByBinary = new java.util.concurrent.ConcurrentHashMap<>();

    /**
     * Asks every handler's runtime for its features (runc: {@code runc features}, or the answer kept from an earlier
     * start for the same binary and kernel) on a virtual thread now, at daemon start: kubelet's first Status reports
     * them, and would otherwise start runc itself. A Status arriving meanwhile waits for the query under way (one per
     * binary) rather than starting another.
     */
    public void warmUp() {
        Thread.ofVirtual().name("runtime-features").start(() -> {
            statuses(); // the launchers the checks write (state is empty after a reboot), off the first Status
            names().forEach(this::features);
        });
    }

    public Features features(String handlerName) {
        var h = get(handlerName);
        if (h.isEmpty()) {
            return Features.NONE;
        }
        var binary = lookup.apply(h.get().binaryName());
        if (binary.isEmpty()) {
            return Features.NONE;
        }
        String name = binary.get().getFileName().toString();
        if (name.startsWith("crun")) {
            return new Features(kernelAtLeast(5, 12), kernelAtLeast(5, 19));
        }
        if (!name.startsWith("runc")) {
            return Features.NONE;
        }
        return featuresByBinary.computeIfAbsent(binary.get(), this::runcFeatures);
    }

    /** From the answer kept for this very binary if there is one, else from runc (and then kept). */
    private Features runcFeatures(Path runc) {
        if (featuresCache == null) {
            return queryRuncFeatures(runc).orElse(Features.NONE);
        }
        var id = RuncFeaturesCache.BinaryIdentity.of(runc);
        var kept = id.flatMap(featuresCache::lookup);
        if (kept.isPresent()) {
            return kept.get();
        }
        var asked = queryRuncFeatures(runc);
        if (asked.isPresent() && id.isPresent()) {
            try {
                featuresCache.store(id.get(), asked.get());
            } catch (IOException e) {
                LOG.warn("cannot keep runc's features for the next start", "binary", runc, "error", e.getMessage());
            }
        }
        return asked.orElse(Features.NONE);
    }

    /** runc's answer; empty when runc failed or timed out (not kept: the next start asks again). */
    private static Optional<Features> queryRuncFeatures(Path runc) {
        try {
            var p = new ProcessBuilder(runc.toString(), "features").redirectErrorStream(false)
                    .redirectError(ProcessBuilder.Redirect.DISCARD).start();
            byte[] out = p.getInputStream().readAllBytes();
            if (!p.waitFor(10, java.util.concurrent.TimeUnit.SECONDS) || p.exitValue() != 0) {
                p.destroyForcibly();
                return Optional.empty();
            }
            var json = com.google.gson.JsonParser.parseString(new String(out, StandardCharsets.UTF_8)).getAsJsonObject();
            boolean rro = contains(json.getAsJsonArray("mountOptions"), "rro") && kernelAtLeast(5, 12);
            var linux = json.getAsJsonObject("linux");
            boolean userns = linux != null && contains(linux.getAsJsonArray("namespaces"), "user")
                    && kernelAtLeast(5, 19);
            return Optional.of(new Features(rro, userns));
        } catch (IOException | RuntimeException e) {
            return Optional.empty();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return Optional.empty();
        }
    }

    private static boolean contains(com.google.gson.JsonArray a, String value) {
        if (a == null) {
            return false;
        }
        for (var e : a) {
            if (e.isJsonPrimitive() && e.getAsString().equals(value)) {
                return true;
            }
        }
        return false;
    }

    static boolean kernelAtLeast(int major, int minor) {
        var m = java.util.regex.Pattern.compile("^(\\d+)\\.(\\d+)").matcher(System.getProperty("os.version", ""));
        if (!m.find()) {
            return false;
        }
        int ma = Integer.parseInt(m.group(1));
        int mi = Integer.parseInt(m.group(2));
        return ma > major || (ma == major && mi >= minor);
    }

    /** Global flags the shim gives the runtime itself on every call (containerd-shim-runc-v2 through go-runc). */
    private static final java.util.Set<String> SHIM_FLAGS = java.util.Set.of("root", "log", "log-format", "systemd-cgroup");

    /**
     * Whether the handler runs each of a pod's containers as a sandbox of its own. gVisor's runsc would put them
     * into the pod's gVisor sandbox by the CRI annotations, but through containerd-shim-runc-v2 such a
     * subcontainer has no host process the shim can watch (its exit is never seen); standalone, each container
     * is a gVisor sandbox in the pod's network namespace, as docker runs runsc.
     */
    public boolean standaloneContainers(String handlerName) {
        return get(handlerName).map(h -> isRunsc(Path.of(h.binaryName()))).orElse(false);
    }

    static boolean isRunsc(Path runtime) {
        return runtime.getFileName().toString().startsWith("runsc");
    }

    /** {@code --platform=kvm}, {@code -platform=kvm} → {@code platform}. */
    private static String flagName(String flag) {
        String bare = flag.replaceFirst("^--?", "");
        int eq = bare.indexOf('=');
        return eq < 0 ? bare : bare.substring(0, eq);
    }

    /** The value of a global flag given as {@code --name=value} or {@code --name value}; the last one wins, as in Go. */
    static Optional<String> flagValue(List<String> flags, String name) {
        Optional<String> value = Optional.empty();
        for (int i = 0; i < flags.size(); i++) {
            String f = flags.get(i);
            if (!flagName(f).equals(name)) {
                continue;
            }
            int eq = f.indexOf('=');
            if (eq >= 0) {
                value = Optional.of(f.substring(eq + 1));
            } else if (i + 1 < flags.size()) {
                value = Optional.of(flags.get(++i));
            }
        }
        return value;
    }

    /**
     * A launcher that puts the handler's runtime_flags first: the shim calls {@code <binary> --root R --log L
     * --log-format json <subcommand> ...}, and runtimes such as runsc read global flags only before the
     * subcommand, so ours go in front (the shim's, after them, win for the flags it sets). It execs the runtime,
     * so the pid the shim started is the runtime's.
     *
     * <p>With {@code startOutputApart} (runsc), {@code start} writes its output to a file that is copied to
     * the shim afterwards: {@code runsc start} of a pod's second container spawns that container's gofer,
     * which inherits runsc's stdout/stderr, and the shim reads the output of {@code start} until EOF, so the
     * call would last as long as the container (StartContainer times out although the container runs).
     */
    Path flagsLauncher(String handler, Path runtime, List<String> flags, boolean startOutputApart) throws IOException {
        var quoted = new StringBuilder();
        for (String f : flags) {
            quoted.append(" '").append(f.replace("'", "'\\''")).append('\'');
        }
        String run = runtime + quoted.toString() + " \"$@\"";
        String script = "#!/bin/sh\n"
                + "# Written by Bollard: the runtime of handler " + handler + " with its runtime_flags.\n"
                + (startOutputApart ? """
                # The subcommand: the first argument that is neither a flag nor the value of the shim's --root/--log/--log-format.
                sub=; skip=
                for a in "$@"; do
                  if [ -n "$skip" ]; then skip=; continue; fi
                  case "$a" in --root|--log|--log-format) skip=1 ;; -*) ;; *) sub=$a; break ;; esac
                done
                if [ "$sub" = start ]; then
                  out=$(mktemp) || exit 1
                  %s >"$out" 2>&1
                  rc=$?
                  cat "$out" >&2
                  rm -f "$out"
                  exit $rc
                fi
                """.formatted(run) : "")
                + "exec " + run + "\n";
        return writeLauncher(launcherDir.resolve(handler + "-launcher"), script);
    }

    /**
     * A launcher for an OCI runtime that must not see the cgroup2 mount of a hybrid node: each call runs in a
     * private mount namespace of its own without that mount, then execs the runtime (same pid, so the shim's
     * bookkeeping holds). Written once per runtime binary; the shim runs it as the handler's BinaryName.
     */
    Path hybridLauncher(Path runtime, Path unshare, String unifiedMount) throws IOException {
        String script = "#!/bin/sh\n"
                + "# Written by Bollard: " + runtime + " without the hybrid node's cgroup2 mount (" + unifiedMount + ").\n"
                + "exec " + unshare + " --mount --propagation private /bin/sh -c "
                + "'umount -l " + unifiedMount + " 2>/dev/null; exec \"$0\" \"$@\"' " + runtime + " \"$@\"\n";
        return writeLauncher(launcherDir.resolve(runtime.getFileName() + "-hybrid"), script);
    }

    /** Synchronized: the start's warm-up and a Status may check a handler at the same time (one temporary file). */
    private synchronized Path writeLauncher(Path launcher, String script) throws IOException {
        if (!Files.exists(launcher) || !Files.readString(launcher).equals(script)) {
            Files.createDirectories(launcherDir);
            AtomicFiles.write(launcher, script.getBytes(StandardCharsets.UTF_8));
            Files.setPosixFilePermissions(launcher, PosixFilePermissions.fromString("rwxr-xr-x"));
        }
        return launcher;
    }

    private static HandlerStatus notReady(BollardConfig.RuntimeHandler h, String reason, String message,
                                          Optional<Path> shim, Optional<Path> binary) {
        return new HandlerStatus(h.name(), false, reason, message, shim, binary);
    }
}
