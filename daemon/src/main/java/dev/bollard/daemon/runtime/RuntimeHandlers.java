package dev.bollard.daemon.runtime;

import dev.bollard.daemon.config.BollardConfig;
import dev.bollard.daemon.linux.CgroupLayout;
import dev.bollard.daemon.linux.Executables;

import java.nio.file.Path;
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

    public RuntimeHandlers(BollardConfig config, CgroupDriver cgroupDriver, CgroupLayout layout) {
        this(config, cgroupDriver, layout, Executables::find);
    }

    RuntimeHandlers(BollardConfig config, CgroupDriver cgroupDriver, CgroupLayout layout,
                    Function<String, Optional<Path>> lookup) {
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
            return notReady(h, "HybridCgroupsUnsupported",
                    "crun refuses hybrid cgroup v1/v2 layouts (cgroup2 mounted at " + layout.unifiedMount()
                            + " beside v1 controllers)", shim, binary);
        }
        return new HandlerStatus(h.name(), true, "", "", shim, binary);
    }

    private static HandlerStatus notReady(BollardConfig.RuntimeHandler h, String reason, String message,
                                          Optional<Path> shim, Optional<Path> binary) {
        return new HandlerStatus(h.name(), false, reason, message, shim, binary);
    }
}
