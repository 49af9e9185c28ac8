package dev.bollard.daemon.server;

import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;

import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;

/**
 * Lets the CRI socket be served before the pods and containers of the last run are recovered: Version and Status,
 * kubelet's first calls, which ask nothing of them, answer at once; every other call waits (on its own virtual
 * thread) until recovery is done, so none sees a node without its pods. A start whose recovery fails ends with
 * the held calls answered UNAVAILABLE.
 */
final class RecoveryGate implements ServerInterceptor {

    static final Set<String> OPEN = Set.of("runtime.v1.RuntimeService/Version", "runtime.v1.RuntimeService/Status");

    private final CompletableFuture<Void> recovered = new CompletableFuture<>();

    void open() {
        recovered.complete(null);
    }

    /** Whether recovery is done and calls pass without waiting. */
    boolean isOpen() {
        return recovered.isDone() && !recovered.isCompletedExceptionally();
    }

    void fail() {
        recovered.completeExceptionally(new IllegalStateException("recovery failed"));
    }

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
                                                      ServerCallHandler<Q, R> next) {
        if (!OPEN.contains(call.getMethodDescriptor().getFullMethodName())) {
            try {
                recovered.get();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return refuse(call, "the daemon is stopping");
            } catch (ExecutionException e) {
                return refuse(call, "the daemon could not recover the pods of its last run and is stopping");
            }
        }
        return next.startCall(call, headers);
    }

    private static <Q, R> ServerCall.Listener<Q> refuse(ServerCall<Q, R> call, String why) {
        call.close(Status.UNAVAILABLE.withDescription(why), new Metadata());
        return new ServerCall.Listener<>() {
        };
    }
}
