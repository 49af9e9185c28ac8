package dev.bollard.daemon.cri;

import dev.bollard.api.cri.v1.ListContainersRequest;
import dev.bollard.api.cri.v1.ListContainersResponse;
import dev.bollard.api.cri.v1.ListPodSandboxRequest;
import dev.bollard.api.cri.v1.ListPodSandboxResponse;
import dev.bollard.api.cri.v1.PodSandbox;
import dev.bollard.api.cri.v1.RuntimeServiceGrpc;
import dev.bollard.api.cri.v1.VersionRequest;
import dev.bollard.api.cri.v1.VersionResponse;
import dev.bollard.daemon.server.CriServer;
import dev.bollard.daemon.server.TestCriSocket;
import io.grpc.stub.StreamObserver;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

/** The last serialized List answer sent again for the same message, and a changed message sent as itself. */
class LastBytesMarshallerTest {

    @TempDir
    Path dir;

    private TestCriSocket cri;

    @AfterEach
    void close() {
        if (cri != null) {
            cri.close();
        }
    }

    private static ListPodSandboxResponse pods(String... ids) {
        var b = ListPodSandboxResponse.newBuilder();
        for (var id : ids) {
            b.addItems(PodSandbox.newBuilder().setId(id).putLabels("app", id));
        }
        return b.build();
    }

    @Test
    void theSameMessageGivesItsBytesAgainAndAnotherOneItsOwn() throws Exception {
        var marshaller = new LastBytesMarshaller<>(RuntimeServiceGrpc.getListPodSandboxMethod().getResponseMarshaller());
        var first = pods("a", "b");
        assertArrayEquals(first.toByteArray(), marshaller.stream(first).readAllBytes());
        assertArrayEquals(first.toByteArray(), marshaller.stream(first).readAllBytes(), "again: the kept bytes");
        var changed = pods("a", "b", "c");
        assertArrayEquals(changed.toByteArray(), marshaller.stream(changed).readAllBytes(), "a new message: its own");
        var equalButNew = pods("a", "b");
        assertEquals(first, marshaller.parse(marshaller.stream(equalButNew)));
    }

    /** Through a real server: the rebuilt service descriptor is accepted, and each answer arrives as it was. */
    @Test
    void aWrappedServiceAnswersEachChangeInTheNextCall() throws Exception {
        var answer = new java.util.concurrent.atomic.AtomicReference<>(pods("a"));
        var service = new RuntimeServiceGrpc.RuntimeServiceImplBase() {
            @Override
            public void version(VersionRequest request, StreamObserver<VersionResponse> observer) {
                observer.onNext(VersionResponse.newBuilder().setRuntimeName("test").build());
                observer.onCompleted();
            }

            @Override
            public void listPodSandbox(ListPodSandboxRequest request, StreamObserver<ListPodSandboxResponse> observer) {
                observer.onNext(answer.get());
                observer.onCompleted();
            }

            @Override
            public void listContainers(ListContainersRequest request, StreamObserver<ListContainersResponse> observer) {
                observer.onNext(ListContainersResponse.getDefaultInstance());
                observer.onCompleted();
            }
        };
        var names = Set.of(RuntimeServiceGrpc.getListPodSandboxMethod().getFullMethodName(),
                RuntimeServiceGrpc.getListContainersMethod().getFullMethodName());
        Path socket = dir.resolve("cri.sock");
        cri = TestCriSocket.connect(socket,
                CriServer.start(socket, List.of(() -> LastBytesMarshaller.wrap(service.bindService(), names))));
        var stub = cri.runtime();

        assertEquals("test", stub.version(VersionRequest.getDefaultInstance()).getRuntimeName());
        assertEquals(pods("a"), stub.listPodSandbox(ListPodSandboxRequest.getDefaultInstance()));
        assertEquals(pods("a"), stub.listPodSandbox(ListPodSandboxRequest.getDefaultInstance()));
        answer.set(pods("a", "b"));
        var next = stub.listPodSandbox(ListPodSandboxRequest.getDefaultInstance());
        assertEquals(pods("a", "b"), next, "the changed answer in the very next call");
        assertNotEquals(pods("a"), next);
        assertEquals(0, stub.listContainers(ListContainersRequest.getDefaultInstance()).getContainersCount());
    }
}
