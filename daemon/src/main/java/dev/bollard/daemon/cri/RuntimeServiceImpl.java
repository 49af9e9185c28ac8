package dev.bollard.daemon.cri;

import dev.bollard.api.cri.v1.RuntimeConfigRequest;
import dev.bollard.api.cri.v1.RuntimeConfigResponse;
import dev.bollard.api.cri.v1.RuntimeServiceGrpc;
import dev.bollard.api.cri.v1.StatusRequest;
import dev.bollard.api.cri.v1.StatusResponse;
import dev.bollard.api.cri.v1.UpdateRuntimeConfigRequest;
import dev.bollard.api.cri.v1.UpdateRuntimeConfigResponse;
import dev.bollard.api.cri.v1.VersionRequest;
import dev.bollard.api.cri.v1.VersionResponse;
import io.grpc.stub.StreamObserver;

/**
 * runtime.v1.RuntimeService: a router only. Each RPC family lives in its own class and this one forwards to it.
 * RPCs not overridden here answer UNIMPLEMENTED with their full method name (gRPC's default), until their issue lands.
 */
public final class RuntimeServiceImpl extends RuntimeServiceGrpc.RuntimeServiceImplBase {

    private final RuntimeInfoRpcs info;

    public RuntimeServiceImpl(RuntimeInfoRpcs info) {
        this.info = info;
    }

    @Override
    public void version(VersionRequest request, StreamObserver<VersionResponse> observer) {
        Calls.unary(observer, () -> info.version(request));
    }

    @Override
    public void status(StatusRequest request, StreamObserver<StatusResponse> observer) {
        Calls.unary(observer, () -> info.status(request));
    }

    @Override
    public void runtimeConfig(RuntimeConfigRequest request, StreamObserver<RuntimeConfigResponse> observer) {
        Calls.unary(observer, () -> info.runtimeConfig(request));
    }

    @Override
    public void updateRuntimeConfig(UpdateRuntimeConfigRequest request, StreamObserver<UpdateRuntimeConfigResponse> observer) {
        Calls.unary(observer, () -> info.updateRuntimeConfig(request));
    }
}
