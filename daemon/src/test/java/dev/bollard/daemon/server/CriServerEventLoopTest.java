package dev.bollard.daemon.server;

import dev.bollard.api.cri.v1.ListPodSandboxRequest;
import dev.bollard.api.cri.v1.ListPodSandboxResponse;
import dev.bollard.api.cri.v1.PodSandbox;
import dev.bollard.api.cri.v1.RuntimeServiceGrpc;
import dev.bollard.api.cri.v1.VersionRequest;
import dev.bollard.api.cri.v1.VersionResponse;
import io.grpc.stub.StreamObserver;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Calls the daemon names run on the connection's event loop; every other call on a virtual thread. */
class CriServerEventLoopTest {

    /** A call that only knows its method (all the supplier asks). */
    private static <Q, A> io.grpc.ServerCall<Q, A> callOf(io.grpc.MethodDescriptor<Q, A> method) {
        return new io.grpc.ServerCall<>() {
            @Override
            public void request(int numMessages) {
            }

            @Override
            public void sendHeaders(io.grpc.Metadata headers) {
            }

            @Override
            public void sendMessage(A message) {
            }

            @Override
            public void close(io.grpc.Status status, io.grpc.Metadata trailers) {
            }

            @Override
            public boolean isCancelled() {
                return false;
            }

            @Override
            public io.grpc.MethodDescriptor<Q, A> getMethodDescriptor() {
                return method;
            }
        };
    }

    @Test
    void theSupplierRunsANamedMethodOnTheCallingThreadAndLeavesTheRestToTheDefault() {
        var supplier = CriServer.onEventLoop(m -> m.equals("runtime.v1.RuntimeService/ListPodSandbox"));
        var direct = supplier.getExecutor(callOf(RuntimeServiceGrpc.getListPodSandboxMethod()), new io.grpc.Metadata());
        var ranOn = new AtomicReference<Thread>();
        direct.execute(() -> ranOn.set(Thread.currentThread()));
        assertEquals(Thread.currentThread(), ranOn.get(), "at once, on the thread that delivers the call");
        assertEquals(null, supplier.getExecutor(callOf(RuntimeServiceGrpc.getVersionMethod()), new io.grpc.Metadata()),
                "another method: the default executor");
    }

    @TempDir
    Path dir;

    private TestCriSocket cri;

    @AfterEach
    void close() {
        if (cri != null) {
            cri.close();
        }
    }

    @Test
    void aNamedCallRunsOnTheEventLoopOnlyWhileAllowed() throws Exception {
        var listThread = new AtomicReference<Thread>();
        var versionThread = new AtomicReference<Thread>();
        var service = new RuntimeServiceGrpc.RuntimeServiceImplBase() {
            @Override
            public void version(VersionRequest request, StreamObserver<VersionResponse> observer) {
                versionThread.set(Thread.currentThread());
                observer.onNext(VersionResponse.newBuilder().setRuntimeName("test").build());
                observer.onCompleted();
            }

            @Override
            public void listPodSandbox(ListPodSandboxRequest request, StreamObserver<ListPodSandboxResponse> observer) {
                listThread.set(Thread.currentThread());
                observer.onNext(ListPodSandboxResponse.newBuilder().addItems(PodSandbox.newBuilder().setId("p")).build());
                observer.onCompleted();
            }
        };
        var allowed = new AtomicBoolean(false);
        Path socket = dir.resolve("cri.sock");
        cri = TestCriSocket.connect(socket, CriServer.start(socket, List.of(service), List.of(),
                method -> allowed.get() && method.equals("runtime.v1.RuntimeService/ListPodSandbox")));
        var stub = cri.runtime();

        assertEquals("p", stub.listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItems(0).getId());
        assertTrue(listThread.get().isVirtual(), "not allowed yet (recovery running): a virtual thread");

        allowed.set(true); // from here on it may run on the event loop (when its message comes after the switch)
        for (int i = 0; i < 20; i++) {
            assertEquals("p", stub.listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItems(0).getId());
        }
        assertEquals("test", stub.version(VersionRequest.getDefaultInstance()).getRuntimeName());
        assertTrue(versionThread.get().isVirtual(), "a call not named: a virtual thread");
    }
}
