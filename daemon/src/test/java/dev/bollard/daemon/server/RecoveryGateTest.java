package dev.bollard.daemon.server;

import dev.bollard.api.cri.v1.ListPodSandboxRequest;
import dev.bollard.api.cri.v1.PodSandbox;
import dev.bollard.api.cri.v1.RuntimeServiceGrpc;
import dev.bollard.api.cri.v1.VersionRequest;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** The socket served before recovery: Version answers at once, ListPodSandbox waits for recovery, or is refused. */
class RecoveryGateTest {

    @TempDir
    Path dir;

    private TestCriSocket cri;
    /** What the fake ListPodSandbox lists: the pods "recovery" has loaded. */
    private volatile List<PodSandbox> pods = List.of();

    private RuntimeServiceGrpc.RuntimeServiceBlockingStub serve(RecoveryGate gate) throws Exception {
        var service = new VersionAndPodsService("test", () -> pods);
        Path socket = dir.resolve("cri.sock");
        cri = TestCriSocket.connect(socket, CriServer.start(socket, List.of(service), List.of(gate)));
        return cri.runtime();
    }

    @AfterEach
    void close() {
        if (cri != null) {
            cri.close();
        }
    }

    @Test
    void versionAnswersAtOnceAndAListWaitsForTheRecoveredPods() throws Exception {
        var gate = new RecoveryGate();
        var stub = serve(gate);
        assertEquals("test", stub.version(VersionRequest.getDefaultInstance()).getRuntimeName());

        var listed = CompletableFuture.supplyAsync(() -> stub.listPodSandbox(ListPodSandboxRequest.getDefaultInstance()));
        assertThrows(TimeoutException.class, () -> listed.get(300, TimeUnit.MILLISECONDS), "held until recovery");
        pods = List.of(PodSandbox.newBuilder().setId("recovered").build()); // recovery loads the pod, then opens
        gate.open();
        assertEquals("recovered", listed.get(30, TimeUnit.SECONDS).getItems(0).getId());
        assertEquals(1, stub.listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsCount());
    }

    @Test
    void aFailedRecoveryRefusesTheHeldCalls() throws Exception {
        var gate = new RecoveryGate();
        var stub = serve(gate);
        var listed = CompletableFuture.supplyAsync(() -> stub.listPodSandbox(ListPodSandboxRequest.getDefaultInstance()));
        assertFalse(listed.isDone());
        gate.fail();
        var e = assertThrows(java.util.concurrent.ExecutionException.class, () -> listed.get(30, TimeUnit.SECONDS));
        var status = ((StatusRuntimeException) e.getCause()).getStatus();
        assertEquals(Status.Code.UNAVAILABLE, status.getCode());
        assertEquals("the daemon could not recover the pods of its last run and is stopping", status.getDescription());
    }
}
