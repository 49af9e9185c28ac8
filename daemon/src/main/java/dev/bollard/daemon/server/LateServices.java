package dev.bollard.daemon.server;

import io.grpc.BindableService;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerMethodDefinition;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;

/**
 * Lets the CRI socket be served before the services behind most of its methods are wired (the image store, the
 * records, the shim manager, the lifecycle): the server is built with each service's method set (its descriptors
 * and marshallers) from the start; the methods that need nothing else (Version, Status) answer with their own
 * handlers, every other method's handler waits, on the call's virtual thread, for {@link #bind} to hand it the
 * wired service's handler. Calls held by the {@link RecoveryGate} (every call but Version and Status) only pass
 * it once recovery is done, which is after the binding, so in practice none waits here; the wait is what keeps
 * that true whatever the order. A start that fails before the binding refuses the held calls UNAVAILABLE.
 */
final class LateServices {

    private final CompletableFuture<Map<String, ServerCallHandler<?, ?>>> handlers = new CompletableFuture<>();

    /**
     * What the socket serves from its start for one service: {@code early}'s methods, of which those named in
     * {@code answeredNow} (full method names) keep {@code early}'s handlers and the others wait for {@link #bind}.
     */
    BindableService serve(BindableService early, Set<String> answeredNow) {
        ServerServiceDefinition definition = early.bindService();
        var builder = ServerServiceDefinition.builder(definition.getServiceDescriptor());
        for (var method : definition.getMethods()) {
            builder.addMethod(servedAs(method, answeredNow));
        }
        ServerServiceDefinition served = builder.build();
        return () -> served;
    }

    /** The wired services, each with the same name and methods as the one {@link #serve}d for it. */
    void bind(List<BindableService> services) {
        var byMethod = new HashMap<String, ServerCallHandler<?, ?>>();
        for (var service : services) {
            for (var method : service.bindService().getMethods()) {
                byMethod.put(method.getMethodDescriptor().getFullMethodName(), method.getServerCallHandler());
            }
        }
        handlers.complete(Map.copyOf(byMethod));
    }

    /** The start failed: calls waiting for a binding are refused (the socket is closed after). */
    void fail() {
        handlers.completeExceptionally(new IllegalStateException("the start failed"));
    }

    private <Q, A> ServerMethodDefinition<Q, A> servedAs(ServerMethodDefinition<Q, A> method, Set<String> answeredNow) {
        String name = method.getMethodDescriptor().getFullMethodName();
        if (answeredNow.contains(name)) {
            return method;
        }
        ServerCallHandler<Q, A> handler = (call, headers) -> startCall(name, call, headers);
        return ServerMethodDefinition.create(method.getMethodDescriptor(), handler);
    }

    @SuppressWarnings("unchecked")
    private <Q, A> ServerCall.Listener<Q> startCall(String name, ServerCall<Q, A> call, Metadata headers) {
        ServerCallHandler<Q, A> wired;
        try {
            wired = (ServerCallHandler<Q, A>) handlers.get().get(name);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return refuse(call, Status.UNAVAILABLE, "the daemon is stopping");
        } catch (ExecutionException e) {
            return refuse(call, Status.UNAVAILABLE, "the daemon failed to start and is stopping");
        }
        if (wired == null) { // a wired service without a method its early version served: a wiring mistake
            return refuse(call, Status.INTERNAL, "method " + name + " is not wired");
        }
        return wired.startCall(call, headers);
    }

    private static <Q, A> ServerCall.Listener<Q> refuse(ServerCall<Q, A> call, Status status, String why) {
        call.close(status.withDescription(why), new Metadata());
        return new ServerCall.Listener<>() {
        };
    }
}
