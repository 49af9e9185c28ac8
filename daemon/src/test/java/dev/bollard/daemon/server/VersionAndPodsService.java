package dev.bollard.daemon.server;

import dev.bollard.api.cri.v1.ListPodSandboxRequest;
import dev.bollard.api.cri.v1.ListPodSandboxResponse;
import dev.bollard.api.cri.v1.PodSandbox;
import dev.bollard.api.cri.v1.RuntimeServiceGrpc;
import dev.bollard.api.cri.v1.VersionRequest;
import dev.bollard.api.cri.v1.VersionResponse;
import io.grpc.stub.StreamObserver;

import java.util.List;
import java.util.function.Supplier;

/** A RuntimeService for the start-up gates' tests: Version names the runtime, ListPodSandbox lists what it is given. */
final class VersionAndPodsService extends RuntimeServiceGrpc.RuntimeServiceImplBase {

    private final String runtimeName;
    private final Supplier<List<PodSandbox>> pods;

    VersionAndPodsService(String runtimeName, Supplier<List<PodSandbox>> pods) {
        this.runtimeName = runtimeName;
        this.pods = pods;
    }

    @Override
    public void version(VersionRequest request, StreamObserver<VersionResponse> observer) {
        observer.onNext(VersionResponse.newBuilder().setRuntimeName(runtimeName).build());
        observer.onCompleted();
    }

    @Override
    public void listPodSandbox(ListPodSandboxRequest request, StreamObserver<ListPodSandboxResponse> observer) {
        observer.onNext(ListPodSandboxResponse.newBuilder().addAllItems(pods.get()).build());
        observer.onCompleted();
    }
}
