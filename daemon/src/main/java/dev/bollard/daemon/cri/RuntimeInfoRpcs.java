package dev.bollard.daemon.cri;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import dev.bollard.api.cri.v1.LinuxRuntimeConfiguration;
import dev.bollard.api.cri.v1.RuntimeCondition;
import dev.bollard.api.cri.v1.RuntimeConfigRequest;
import dev.bollard.api.cri.v1.RuntimeConfigResponse;
import dev.bollard.api.cri.v1.RuntimeFeatures;
import dev.bollard.api.cri.v1.RuntimeHandler;
import dev.bollard.api.cri.v1.RuntimeHandlerFeatures;
import dev.bollard.api.cri.v1.RuntimeStatus;
import dev.bollard.api.cri.v1.StatusRequest;
import dev.bollard.api.cri.v1.StatusResponse;
import dev.bollard.api.cri.v1.UpdateRuntimeConfigRequest;
import dev.bollard.api.cri.v1.UpdateRuntimeConfigResponse;
import dev.bollard.api.cri.v1.VersionRequest;
import dev.bollard.api.cri.v1.VersionResponse;
import dev.bollard.daemon.BollardVersion;
import dev.bollard.daemon.config.BollardConfig;
import dev.bollard.daemon.linux.CgroupLayout;
import dev.bollard.daemon.network.Cni;
import dev.bollard.daemon.runtime.CgroupDriver;
import dev.bollard.daemon.runtime.HandlerStatus;
import dev.bollard.daemon.runtime.PodCidrs;
import dev.bollard.daemon.runtime.RuntimeHandlers;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/** Version, Status, RuntimeConfig and UpdateRuntimeConfig: what the runtime is and whether it is ready. */
public final class RuntimeInfoRpcs {

    private static final dev.bollard.daemon.log.Log LOG = dev.bollard.daemon.log.Log.get("cri");
    static final String RUNTIME_READY = "RuntimeReady";
    static final String NETWORK_READY = "NetworkReady";

    private final BollardConfig config;
    private final RuntimeHandlers handlers;
    private final CgroupDriver cgroupDriver;
    private final CgroupLayout cgroupLayout;
    private final PodCidrs podCidrs;
    private final Cni cni;
    /** Run once, at the end of the first Version (see {@link #afterFirstVersion}); null: nothing to run. */
    private final java.util.concurrent.atomic.AtomicReference<Runnable> afterFirstVersion =
            new java.util.concurrent.atomic.AtomicReference<>();
    /** Run once, at the end of the first Status (see {@link #afterFirstStatus}); null: nothing to run. */
    private final java.util.concurrent.atomic.AtomicReference<Runnable> afterFirstStatus =
            new java.util.concurrent.atomic.AtomicReference<>();

    public RuntimeInfoRpcs(BollardConfig config, RuntimeHandlers handlers, CgroupDriver cgroupDriver,
                           CgroupLayout cgroupLayout, PodCidrs podCidrs, Cni cni) {
        this.cni = cni;
        this.config = config;
        this.handlers = handlers;
        this.cgroupDriver = cgroupDriver;
        this.cgroupLayout = cgroupLayout;
        this.podCidrs = podCidrs;
    }

    /**
     * {@code work} runs once, when the first Status has its answer: kubelet's first call after a node boots, which
     * a RunPodSandbox follows. What only the pods need is prepared from there, not at start, so a daemon nobody
     * calls yet neither spends it nor holds its memory.
     */
    public void afterFirstStatus(Runnable work) {
        afterFirstStatus.set(work);
    }

    /** {@code work} runs once, when the first Version has its answer: kubelet asks Version, then Status. */
    public void afterFirstVersion(Runnable work) {
        afterFirstVersion.set(work);
    }

    VersionResponse version(VersionRequest request) {
        var built = VersionResponse.newBuilder()
                .setVersion(BollardVersion.KUBELET_API_VERSION)
                .setRuntimeName(BollardVersion.RUNTIME_NAME)
                .setRuntimeVersion(BollardVersion.version())
                .setRuntimeApiVersion(BollardVersion.CRI_API_VERSION)
                .build();
        var once = afterFirstVersion.getAndSet(null);
        if (once != null) {
            once.run();
        }
        return built;
    }

    StatusResponse status(StatusRequest request) {
        List<HandlerStatus> checks = handlers.statuses();
        HandlerStatus defaultCheck = checks.stream().filter(c -> c.name().equals(handlers.defaultName())).findFirst()
                .orElseThrow();
        var runtimeReady = RuntimeCondition.newBuilder().setType(RUNTIME_READY).setStatus(defaultCheck.ready());
        if (!defaultCheck.ready()) {
            runtimeReady.setReason(defaultCheck.reason())
                    .setMessage("default runtime handler \"" + defaultCheck.name() + "\": " + defaultCheck.message());
        }
        var net = cni.status();
        var networkReady = RuntimeCondition.newBuilder().setType(NETWORK_READY).setStatus(net.ready());
        if (!net.ready()) {
            networkReady.setReason(net.reason().isEmpty() ? "NetworkPluginNotReady" : net.reason())
                    .setMessage("CNI: " + net.message());
        }

        var response = StatusResponse.newBuilder()
                .setStatus(RuntimeStatus.newBuilder().addConditions(runtimeReady).addConditions(networkReady))
                // KEP-3619: SpecBuilder honours Merge/Strict and ContainerStatus.user reports the uid, gid and
                // groups the process gets (the spec's process.user, after the policy was applied).
                .setFeatures(RuntimeFeatures.newBuilder().setSupplementalGroupsPolicy(true));
        // The default handler is also reported under the empty name, which is how kubelet asks for it.
        response.addRuntimeHandlers(handler(""));
        for (String name : handlers.names()) {
            response.addRuntimeHandlers(handler(name));
        }
        if (request.getVerbose()) {
            response.putInfo("config", configJson().toString());
            response.putInfo("handlerChecks", handlersJson(checks).toString());
            response.putInfo("node", nodeJson().toString());
        }
        var built = response.build();
        var once = afterFirstStatus.getAndSet(null);
        if (once != null) {
            once.run();
        }
        return built;
    }

    RuntimeConfigResponse runtimeConfig(RuntimeConfigRequest request) {
        var driver = cgroupDriver == CgroupDriver.SYSTEMD
                ? dev.bollard.api.cri.v1.CgroupDriver.SYSTEMD
                : dev.bollard.api.cri.v1.CgroupDriver.CGROUPFS;
        return RuntimeConfigResponse.newBuilder()
                .setLinux(LinuxRuntimeConfiguration.newBuilder().setCgroupDriver(driver))
                .build();
    }

    UpdateRuntimeConfigResponse updateRuntimeConfig(UpdateRuntimeConfigRequest request) throws IOException {
        String cidr = request.getRuntimeConfig().getNetworkConfig().getPodCidr();
        try {
            podCidrs.set(cidr);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("runtime_config.network_config.pod_cidr: " + e.getMessage(), e);
        }
        var c = config.cni();
        if (c.writeDefaultConfig() && !podCidrs.get().isEmpty()
                && Cni.updateDefaultConfig(c.confDir(), c.defaultBridge(), String.join(",", podCidrs.get()))) {
            LOG.info("default CNI configuration now uses the pod CIDR", "podCIDRs", String.join(",", podCidrs.get()));
        }
        return UpdateRuntimeConfigResponse.getDefaultInstance();
    }

    private RuntimeHandler handler(String name) {
        var f = handlers.features(name);
        return RuntimeHandler.newBuilder().setName(name)
                .setFeatures(RuntimeHandlerFeatures.newBuilder().setRecursiveReadOnlyMounts(f.recursiveReadOnlyMounts())
                        .setUserNamespaces(f.userNamespaces()))
                .build();
    }

    private JsonObject configJson() {
        var d = config.daemon();
        var daemon = new JsonObject();
        daemon.addProperty("socket", d.socket().toString());
        daemon.addProperty("root", d.root().toString());
        daemon.addProperty("state", d.state().toString());
        daemon.addProperty("logLevel", lower(d.logLevel()));
        daemon.addProperty("logFormat", lower(d.logFormat()));
        var runtime = new JsonObject();
        runtime.addProperty("cgroupDriver", lower(config.runtime().cgroupDriver()));
        runtime.addProperty("defaultRuntime", config.runtime().defaultRuntime());
        var runtimes = new JsonObject();
        config.runtimes().forEach((name, h) -> {
            var o = new JsonObject();
            o.addProperty("shim", h.shim());
            o.addProperty("binaryName", h.binaryName());
            o.addProperty("root", h.root().map(Path::toString).orElse(""));
            o.addProperty("systemdCgroup", h.systemdCgroup());
            o.addProperty("privilegedWithoutHostDevices", h.privilegedWithoutHostDevices());
            runtimes.add(name, o);
        });
        var all = new JsonObject();
        all.add("daemon", daemon);
        all.add("runtime", runtime);
        all.add("runtimes", runtimes);
        // containerd's names for the same facts (its CRI config's enableCDI and cdiSpecDirs)
        all.addProperty("enableCDI", config.cdi().enable());
        var cdiDirs = new JsonArray();
        config.cdi().specDirs().forEach(dir -> cdiDirs.add(dir.toString()));
        all.add("cdiSpecDirs", cdiDirs);
        return all;
    }

    private static JsonArray handlersJson(List<HandlerStatus> checks) {
        var arr = new JsonArray();
        for (var c : checks) {
            var o = new JsonObject();
            o.addProperty("name", c.name());
            o.addProperty("ready", c.ready());
            o.addProperty("reason", c.reason());
            o.addProperty("message", c.message());
            o.addProperty("shimPath", c.shim().map(Path::toString).orElse(""));
            o.addProperty("binaryPath", c.binary().map(Path::toString).orElse(""));
            arr.add(o);
        }
        return arr;
    }

    private JsonObject nodeJson() {
        var o = new JsonObject();
        o.addProperty("cgroupDriver", lower(cgroupDriver));
        o.addProperty("cgroupLayout", lower(cgroupLayout.mode()));
        o.addProperty("cgroupUnifiedMount", cgroupLayout.unifiedMount() == null ? "" : cgroupLayout.unifiedMount());
        var cidrs = new JsonArray();
        podCidrs.get().forEach(cidrs::add);
        o.add("podCIDRs", cidrs);
        return o;
    }

    private static String lower(Enum<?> e) {
        return e.name().toLowerCase(Locale.ROOT);
    }
}
