package dev.bollard.daemon.metrics;

import io.grpc.ForwardingServerCall.SimpleForwardingServerCall;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;

/** Times every gRPC call into {@link OperatorMetrics#criCall}, from its start to the status sent. */
public final class MetricsInterceptor implements ServerInterceptor {

    private final OperatorMetrics metrics;

    public MetricsInterceptor(OperatorMetrics metrics) {
        this.metrics = metrics;
    }

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
        long start = System.nanoTime();
        String method = call.getMethodDescriptor().getFullMethodName();
        return next.startCall(new SimpleForwardingServerCall<>(call) {
            @Override
            public void close(Status status, Metadata trailers) {
                metrics.criCall(method, status.getCode().name(), System.nanoTime() - start);
                super.close(status, trailers);
            }
        }, headers);
    }
}
