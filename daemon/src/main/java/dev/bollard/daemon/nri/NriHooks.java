package dev.bollard.daemon.nri;

import com.google.gson.JsonObject;
import dev.bollard.api.cri.v1.LinuxContainerResources;
import dev.bollard.api.nri.v1alpha1.Event;
import dev.bollard.daemon.container.Container;
import dev.bollard.daemon.container.ContainerState;
import dev.bollard.daemon.sandbox.Sandbox;

import java.util.Map;

/**
 * Where the pod and container lifecycle meets NRI: one call per step, made by the lifecycle operations. Without
 * NRI ({@code [nri] enable = false}, and in unit tests) {@link #NONE} does nothing. The daemon installs its
 * {@link Nri} at start ({@link #install}), as {@code cdi.CdiDevices} is configured.
 */
public interface NriHooks {

    NriHooks NONE = new NriHooks() {
    };

    /**
     * CreateContainer, after the spec is built (CDI applied), before it is written: the plugins' adjustments
     * applied. Waits at most the request timeout per plugin; a plugin that fails is disconnected, never the create.
     */
    default JsonObject createContainer(Sandbox pod, String id, String name, Map<String, String> labels,
                                       JsonObject spec) {
        return spec;
    }

    /** UpdateContainerResources, before it is applied: the resources to apply (plugins' updates of this one). */
    default LinuxContainerResources updateContainer(Sandbox pod, Container c, LinuxContainerResources resources) {
        return resources;
    }

    /** A pod's step: RUN_POD_SANDBOX once ready, STOP_POD_SANDBOX, REMOVE_POD_SANDBOX. Never waits. */
    default void podEvent(Event event, Sandbox pod) {
    }

    /** A container's step: POST_CREATE, START, POST_START, POST_UPDATE, STOP, REMOVE. Never waits. */
    default void containerEvent(Event event, Sandbox pod, Container c) {
    }

    static NriHooks current() {
        return Holder.hooks;
    }

    static void install(NriHooks hooks) {
        Holder.hooks = hooks == null ? NONE : hooks;
    }

    /** The facts of a pod plugins are told. */
    static NriMessages.PodFacts facts(Sandbox pod) {
        var r = pod.record();
        return new NriMessages.PodFacts(pod.id(), pod.config(), r.runtimeHandler(), r.pid(), r.cgroupParent(), r.ips());
    }

    static dev.bollard.api.nri.v1alpha1.Container message(Container c) {
        var state = c.state();
        var nriState = state == ContainerState.CREATED ? NriMessages.State.CREATED
                : state == ContainerState.RUNNING ? NriMessages.State.RUNNING
                : state == ContainerState.EXITED ? NriMessages.State.STOPPED : NriMessages.State.UNKNOWN;
        return NriMessages.container(c.id(), c.record().sandboxId(), c.config().getMetadata().getName(),
                c.config().getLabelsMap(), c.spec(), nriState, c.record().pid());
    }

    final class Holder {
        private static volatile NriHooks hooks = NONE;

        private Holder() {
        }
    }
}
