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

    private final Map<String, BollardConfig.RuntimeHandler> handlers;
    private final String defaultName;
    private final CgroupDriver cgroupDriver;
    private final CgroupLayout layout;
    private final Function<String, Optional<Path>> lookup;
    private final Path launcherDir;

    /** @param launcherDir where runtime launchers Bollard writes for this node live (see {@link #hybridLauncher}) */
    public RuntimeHandlers(BollardConfig config, CgroupDriver cgroupDriver, CgroupLayout layout, Path launcherDir) {
        this(config, cgroupDriver, layout, Executables::find, launcherDir);
    }

    RuntimeHandlers(BollardConfig config, CgroupDriver cgroupDriver, CgroupLayout layout,
                    Function<String, Optional<Path>> lookup, Path launcherDir) {
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

    public List<HandlerStatus> statuses() {
        return handlers.values().stream().map(this::check).toList();
    }

    public HandlerStatus check(BollardConfig.RuntimeHandler h) {
        var shim = lookup.apply(h.shim());
        var binary = lookup.apply(h.binaryName());
        if (shim.isEmpty()) {
            return notReady(h, "ShimNotFound", "shim binary \"" + h.shim() + "\" not found (PATH or absolute path)", shim, binary);
        }
        if (binary.isEmpty()) {
            return notReady(h, "RuntimeBinaryNotFound", "OCI runtime \"" + h.binaryName() + "\" not found (PATH or absolute path)",
                    shim, binary);
        }
        if (h.systemdCgroup() && cgroupDriver != CgroupDriver.SYSTEMD) {
            return notReady(h, "SystemdCgroupUnavailable",
                    "systemd_cgroup = true needs the systemd cgroup driver; this node uses " + cgroupDriver.name().toLowerCase(), shim, binary);
        }
        if (layout.mode() == CgroupLayout.Mode.HYBRID && binary.get().getFileName().toString().contains("crun")) {
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
            try {
                return new HandlerStatus(h.name(), true, "", "", shim,
                        Optional.of(hybridLauncher(binary.get(), unshare.get(), layout.unifiedMount())));
            } catch (IOException e) {
                return notReady(h, "HybridCgroupsUnsupported", "cannot write the hybrid-cgroup launcher for crun: "
                        + e.getMessage(), shim, binary);
            }
        }
        return new HandlerStatus(h.name(), true, "", "", shim, binary);
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
        Path launcher = launcherDir.resolve(runtime.getFileName() + "-hybrid");
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
