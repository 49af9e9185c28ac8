package dev.bollard.daemon.cri;

import dev.bollard.daemon.log.Log;
import io.grpc.ForwardingServerCall.SimpleForwardingServerCall;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;

/**
 * One log line per CRI call: method, status code and latency at debug; calls that fail with a server-side code
 * (INTERNAL, UNKNOWN, DATA_LOSS) at warn, since those are Bollard's faults rather than the caller's.
 */
public final class CallLogInterceptor implements ServerInterceptor {

    private static final Log LOG = Log.get("cri");

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
        long start = System.nanoTime();
        String method = call.getMethodDescriptor().getFullMethodName();
        return next.startCall(new SimpleForwardingServerCall<>(call) {
            @Override
            public void close(Status status, Metadata trailers) {
                long nanos = System.nanoTime() - start;
                // the latency text only for a line that is written (it was formatted on every call)
                switch (status.getCode()) {
                    case INTERNAL, UNKNOWN, DATA_LOSS -> LOG.warn("cri call failed", "method", method,
                            "code", status.getCode(), "latency", latency(nanos), "error", status.getDescription());
                    default -> {
                        if (LOG.isDebug()) {
                            LOG.debug("cri call", "method", method, "code", status.getCode(), "latency", latency(nanos),
                                    "error", status.getDescription() == null ? "" : status.getDescription());
                        }
                    }
                }
                super.close(status, trailers);
            }
        }, headers);
    }

    private static String latency(long nanos) {
        return String.format("%.3fms", nanos / 1e6);
    }
}
