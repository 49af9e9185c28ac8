package dev.bollard.daemon.server;

import dev.bollard.api.cri.v1.ListPodSandboxRequest;
import dev.bollard.api.cri.v1.PodSandbox;
import dev.bollard.api.cri.v1.RuntimeServiceGrpc;
import dev.bollard.api.cri.v1.VersionRequest;
import io.grpc.BindableService;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** The socket served before the services are wired: Version answers, other calls wait for the wiring, or are refused. */
class LateServicesTest {

    @TempDir
    Path dir;

    private TestCriSocket cri;

    /** A RuntimeService whose Version names {@code name} and whose ListPodSandbox lists one pod named {@code name}. */
    private static BindableService runtime(String name) {
        return new VersionAndPodsService(name, () -> List.of(PodSandbox.newBuilder().setId(name).build()));
    }

    private RuntimeServiceGrpc.RuntimeServiceBlockingStub serve(LateServices late) throws Exception {
        Path socket = dir.resolve("cri.sock");
        var early = late.serve(runtime("early"), Set.of(RuntimeServiceGrpc.getVersionMethod().getFullMethodName()));
        cri = TestCriSocket.connect(socket, CriServer.start(socket, List.of(early)));
        return cri.runtime();
    }

    @AfterEach
    void close() {
        if (cri != null) {
            cri.close();
        }
    }

    @Test
    void versionAnswersBeforeTheWiringAndOtherCallsAreAnsweredByTheWiredService() throws Exception {
        var late = new LateServices();
        var stub = serve(late);
        assertEquals("early", stub.version(VersionRequest.getDefaultInstance()).getRuntimeName());

        var listed = CompletableFuture.supplyAsync(() -> stub.listPodSandbox(ListPodSandboxRequest.getDefaultInstance()));
        assertThrows(TimeoutException.class, () -> listed.get(300, TimeUnit.MILLISECONDS), "held until wired");
        late.bind(List.of(runtime("wired")));
        assertEquals("wired", listed.get(30, TimeUnit.SECONDS).getItems(0).getId());
        assertEquals("wired", stub.listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItems(0).getId());
        assertEquals("early", stub.version(VersionRequest.getDefaultInstance()).getRuntimeName(),
                "what answered first keeps answering");
    }

    @Test
    void aFailedStartRefusesTheHeldCalls() throws Exception {
        var late = new LateServices();
        var stub = serve(late);
        var listed = CompletableFuture.supplyAsync(() -> stub.listPodSandbox(ListPodSandboxRequest.getDefaultInstance()));
        assertThrows(TimeoutException.class, () -> listed.get(300, TimeUnit.MILLISECONDS), "held until wired");
        late.fail();
        var e = assertThrows(ExecutionException.class, () -> listed.get(30, TimeUnit.SECONDS));
        var status = ((StatusRuntimeException) e.getCause()).getStatus();
        assertEquals(Status.Code.UNAVAILABLE, status.getCode());
        assertEquals("the daemon failed to start and is stopping", status.getDescription());
    }
}
