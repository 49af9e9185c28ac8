package dev.bollard.cli;

import com.google.protobuf.Message;
import dev.bollard.api.cri.v1.ContainerStatusRequest;
import dev.bollard.api.cri.v1.ContainerStatusResponse;
import dev.bollard.api.cri.v1.CreateContainerRequest;
import dev.bollard.api.cri.v1.CreateContainerResponse;
import dev.bollard.api.cri.v1.ExecSyncRequest;
import dev.bollard.api.cri.v1.ExecSyncResponse;
import dev.bollard.api.cri.v1.ImageServiceGrpc;
import dev.bollard.api.cri.v1.ImageStatusRequest;
import dev.bollard.api.cri.v1.ImageStatusResponse;
import dev.bollard.api.cri.v1.ListContainersRequest;
import dev.bollard.api.cri.v1.ListContainersResponse;
import dev.bollard.api.cri.v1.ListPodSandboxRequest;
import dev.bollard.api.cri.v1.ListPodSandboxResponse;
import dev.bollard.api.cri.v1.PodSandboxStatusRequest;
import dev.bollard.api.cri.v1.PodSandboxStatusResponse;
import dev.bollard.api.cri.v1.PullImageRequest;
import dev.bollard.api.cri.v1.PullImageResponse;
import dev.bollard.api.cri.v1.RemoveContainerRequest;
import dev.bollard.api.cri.v1.RemoveContainerResponse;
import dev.bollard.api.cri.v1.RemovePodSandboxRequest;
import dev.bollard.api.cri.v1.RemovePodSandboxResponse;
import dev.bollard.api.cri.v1.RunPodSandboxRequest;
import dev.bollard.api.cri.v1.RunPodSandboxResponse;
import dev.bollard.api.cri.v1.RuntimeServiceGrpc;
import dev.bollard.api.cri.v1.StartContainerRequest;
import dev.bollard.api.cri.v1.StartContainerResponse;
import dev.bollard.api.cri.v1.StopContainerRequest;
import dev.bollard.api.cri.v1.StopContainerResponse;
import dev.bollard.api.cri.v1.StopPodSandboxRequest;
import dev.bollard.api.cri.v1.StopPodSandboxResponse;
import dev.bollard.api.cri.v1.UpdateContainerResourcesRequest;
import dev.bollard.api.cri.v1.UpdateContainerResourcesResponse;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.netty.channel.unix.DomainSocketAddress;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

/**
 * An in-process fake of the CRI RuntimeService and ImageService on a UNIX socket, for the CLI's pure-logic tests:
 * it records every request and answers what a test put in {@link #answers} (by method name), or
 * UNIMPLEMENTED-free defaults, or the status a test put in {@link #failures}.
 */
final class FakeRuntime implements AutoCloseable {

    final Path socket;
    final List<Message> requests = new CopyOnWriteArrayList<>();
    final Map<String, Function<Message, Message>> answers = new ConcurrentHashMap<>();
    final Map<String, Status> failures = new ConcurrentHashMap<>();
    private final Server server;
    private final EpollEventLoopGroup boss = new EpollEventLoopGroup(1);
    private final EpollEventLoopGroup workers = new EpollEventLoopGroup(1);

    FakeRuntime(Path socket) throws IOException {
        this.socket = socket;
        this.server = NettyServerBuilder.forAddress(new DomainSocketAddress(socket.toString()))
                .channelType(EpollServerDomainSocketChannel.class)
                .bossEventLoopGroup(boss).workerEventLoopGroup(workers)
                .addService(new Runtime()).addService(new Images())
                .build().start();
    }

    String endpoint() {
        return "unix://" + socket;
    }

    /** The recorded requests of one type, in order. */
    <T extends Message> List<T> requests(Class<T> type) {
        return requests.stream().filter(type::isInstance).map(type::cast).toList();
    }

    @SuppressWarnings("unchecked")
    private <Q extends Message, R extends Message> void answer(String method, Q request, R fallback, StreamObserver<R> out) {
        requests.add(request);
        Status failure = failures.get(method);
        if (failure != null) {
            out.onError(failure.asRuntimeException());
            return;
        }
        var answer = answers.get(method);
        out.onNext(answer != null ? (R) answer.apply(request) : fallback);
        out.onCompleted();
    }

    private final class Runtime extends RuntimeServiceGrpc.RuntimeServiceImplBase {
        @Override
        public void runPodSandbox(RunPodSandboxRequest r, StreamObserver<RunPodSandboxResponse> o) {
            answer("RunPodSandbox", r, RunPodSandboxResponse.newBuilder().setPodSandboxId("pod-1").build(), o);
        }

        @Override
        public void stopPodSandbox(StopPodSandboxRequest r, StreamObserver<StopPodSandboxResponse> o) {
            answer("StopPodSandbox", r, StopPodSandboxResponse.getDefaultInstance(), o);
        }

        @Override
        public void removePodSandbox(RemovePodSandboxRequest r, StreamObserver<RemovePodSandboxResponse> o) {
            answer("RemovePodSandbox", r, RemovePodSandboxResponse.getDefaultInstance(), o);
        }

        @Override
        public void podSandboxStatus(PodSandboxStatusRequest r, StreamObserver<PodSandboxStatusResponse> o) {
            answer("PodSandboxStatus", r, PodSandboxStatusResponse.getDefaultInstance(), o);
        }

        @Override
        public void listPodSandbox(ListPodSandboxRequest r, StreamObserver<ListPodSandboxResponse> o) {
            answer("ListPodSandbox", r, ListPodSandboxResponse.getDefaultInstance(), o);
        }

        @Override
        public void createContainer(CreateContainerRequest r, StreamObserver<CreateContainerResponse> o) {
            answer("CreateContainer", r, CreateContainerResponse.newBuilder().setContainerId("ctr-1").build(), o);
        }

        @Override
        public void startContainer(StartContainerRequest r, StreamObserver<StartContainerResponse> o) {
            answer("StartContainer", r, StartContainerResponse.getDefaultInstance(), o);
        }

        @Override
        public void stopContainer(StopContainerRequest r, StreamObserver<StopContainerResponse> o) {
            answer("StopContainer", r, StopContainerResponse.getDefaultInstance(), o);
        }

        @Override
        public void removeContainer(RemoveContainerRequest r, StreamObserver<RemoveContainerResponse> o) {
            answer("RemoveContainer", r, RemoveContainerResponse.getDefaultInstance(), o);
        }

        @Override
        public void listContainers(ListContainersRequest r, StreamObserver<ListContainersResponse> o) {
            answer("ListContainers", r, ListContainersResponse.getDefaultInstance(), o);
        }

        @Override
        public void containerStatus(ContainerStatusRequest r, StreamObserver<ContainerStatusResponse> o) {
            answer("ContainerStatus", r, ContainerStatusResponse.getDefaultInstance(), o);
        }

        @Override
        public void updateContainerResources(UpdateContainerResourcesRequest r, StreamObserver<UpdateContainerResourcesResponse> o) {
            answer("UpdateContainerResources", r, UpdateContainerResourcesResponse.getDefaultInstance(), o);
        }

        @Override
        public void execSync(ExecSyncRequest r, StreamObserver<ExecSyncResponse> o) {
            answer("ExecSync", r, ExecSyncResponse.getDefaultInstance(), o);
        }
    }

    private final class Images extends ImageServiceGrpc.ImageServiceImplBase {
        @Override
        public void imageStatus(ImageStatusRequest r, StreamObserver<ImageStatusResponse> o) {
            answer("ImageStatus", r, ImageStatusResponse.getDefaultInstance(), o);
        }

        @Override
        public void pullImage(PullImageRequest r, StreamObserver<PullImageResponse> o) {
            answer("PullImage", r, PullImageResponse.newBuilder().setImageRef("sha256:" + "ab".repeat(32)).build(), o);
        }
    }

    @Override
    public void close() throws InterruptedException {
        server.shutdownNow();
        server.awaitTermination(5, TimeUnit.SECONDS);
        boss.shutdownGracefully(0, 1, TimeUnit.SECONDS);
        workers.shutdownGracefully(0, 1, TimeUnit.SECONDS);
    }
}
