package dev.bollard.daemon.cri;

import dev.bollard.api.cri.v1.AttachRequest;
import dev.bollard.api.cri.v1.AttachResponse;
import dev.bollard.api.cri.v1.ExecRequest;
import dev.bollard.api.cri.v1.ExecResponse;
import dev.bollard.api.cri.v1.PortForwardRequest;
import dev.bollard.api.cri.v1.PortForwardResponse;
import dev.bollard.daemon.container.ContainerStore;
import dev.bollard.daemon.container.ContainerState;
import dev.bollard.daemon.sandbox.SandboxStore;
import dev.bollard.daemon.streaming.StreamRequest;
import dev.bollard.daemon.streaming.StreamTokens;
import io.grpc.Status;

import java.net.URI;
import java.util.function.Supplier;

/**
 * Exec, Attach, PortForward: these do not stream over gRPC. Each validates its request against the container or
 * pod as it is now, keeps it under a single-use token and answers the streaming server's URL for it, where the
 * client (kubelet, crictl) then connects. The streaming server checks the state again when the client comes.
 */
public final class StreamingRpcs {

    private final ContainerStore containers;
    private final SandboxStore sandboxes;
    private final StreamTokens tokens;
    private final Supplier<URI> baseUrl;

    public StreamingRpcs(ContainerStore containers, SandboxStore sandboxes, StreamTokens tokens,
                         Supplier<URI> baseUrl) {
        this.containers = containers;
        this.sandboxes = sandboxes;
        this.tokens = tokens;
        this.baseUrl = baseUrl;
    }

    ExecResponse exec(ExecRequest request) {
        var shape = execShape(request);
        var c = containers.get(shape.containerId());
        requireRunning(c);
        var r = new StreamRequest.Exec(c.id(), shape.cmd(), shape.tty(), shape.stdin(), shape.stdout(), shape.stderr());
        return ExecResponse.newBuilder().setUrl(url("exec", r)).build();
    }

    AttachResponse attach(AttachRequest request) {
        var shape = attachShape(request);
        var c = containers.get(shape.containerId());
        requireRunning(c);
        if (shape.tty() != c.config().getTty()) {
            throw new IllegalArgumentException("tty is " + shape.tty() + " but container " + c.id() + " was created with tty "
                    + c.config().getTty() + "; an attach must match the container's tty");
        }
        if (shape.stdin() && !c.config().getStdin()) {
            throw new IllegalArgumentException("stdin requested, but container " + c.id()
                    + " was created without stdin, so it has none to attach to");
        }
        var r = new StreamRequest.Attach(c.id(), shape.tty(), shape.stdin(), shape.stdout(), shape.stderr());
        return AttachResponse.newBuilder().setUrl(url("attach", r)).build();
    }

    PortForwardResponse portForward(PortForwardRequest request) {
        var shape = portForwardShape(request);
        var sandbox = sandboxes.get(shape.podSandboxId());
        if (!sandbox.ready()) {
            throw Status.FAILED_PRECONDITION.withDescription("pod sandbox " + sandbox.id()
                    + " is not ready; ports can only be forwarded into a ready pod").asRuntimeException();
        }
        var r = new StreamRequest.PortForward(sandbox.id(), shape.ports());
        return PortForwardResponse.newBuilder().setUrl(url("portforward", r)).build();
    }

    /** The request's own consistency, before any lookup; the container ID is still as the caller gave it. */
    static StreamRequest.Exec execShape(ExecRequest r) {
        String id = ContainerRpcs.requireId(r.getContainerId());
        if (r.getCmdCount() == 0 || r.getCmdList().getFirst().isEmpty()) {
            throw new IllegalArgumentException("cmd is required: the command to run in container " + id);
        }
        requireStreams(r.getTty(), r.getStdin(), r.getStdout(), r.getStderr());
        return new StreamRequest.Exec(id, r.getCmdList(), r.getTty(), r.getStdin(), r.getStdout(), r.getStderr());
    }

    static StreamRequest.Attach attachShape(AttachRequest r) {
        String id = ContainerRpcs.requireId(r.getContainerId());
        requireStreams(r.getTty(), r.getStdin(), r.getStdout(), r.getStderr());
        return new StreamRequest.Attach(id, r.getTty(), r.getStdin(), r.getStdout(), r.getStderr());
    }

    static StreamRequest.PortForward portForwardShape(PortForwardRequest r) {
        String id = PodSandboxRpcs.requireId(r.getPodSandboxId());
        for (int port : r.getPortList()) {
            if (port < 1 || port > 65535) {
                throw new IllegalArgumentException("port " + port + " is not a TCP port (1-65535)");
            }
        }
        return new StreamRequest.PortForward(id, r.getPortList());
    }

    private static void requireStreams(boolean tty, boolean stdin, boolean stdout, boolean stderr) {
        if (tty && stderr) {
            throw new IllegalArgumentException("tty and stderr cannot both be true: a terminal merges stderr into stdout");
        }
        if (!stdin && !stdout && !stderr) {
            throw new IllegalArgumentException("one of stdin, stdout or stderr must be true");
        }
    }

    private static void requireRunning(dev.bollard.daemon.container.Container c) {
        if (c.state() != ContainerState.RUNNING) {
            throw Status.FAILED_PRECONDITION.withDescription("container " + c.id() + " is "
                    + c.state().name().toLowerCase(java.util.Locale.ROOT) + ", not running").asRuntimeException();
        }
    }

    private String url(String kind, StreamRequest r) {
        // The base first: when the server cannot say where it is, no token is left behind.
        URI base = baseUrl.get();
        return url(base, kind, tokens.put(r));
    }

    /** {@code <base>/<kind>/<token>}, whether or not the base ends in a slash. */
    static String url(URI base, String kind, String token) {
        String b = base.toString();
        return (b.endsWith("/") ? b.substring(0, b.length() - 1) : b) + "/" + kind + "/" + token;
    }
}
