package dev.bollard.cli;

import dev.bollard.api.cri.v1.ListPodSandboxRequest;
import dev.bollard.api.cri.v1.PodSandboxStatusRequest;
import dev.bollard.api.cri.v1.RemovePodSandboxRequest;
import dev.bollard.api.cri.v1.StopPodSandboxRequest;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * Issue 18, item 5, on a real node: pods each stopped and removed by several clients at once, in either order. Once the calls have
 * answered, no pod is listed, every status is NOT_FOUND and no sandbox or container record is left on disk (a stop
 * that waited on a removal used to write its pod's record back, which only a restart cleared).
 */
class PodStormIntegrationTest extends PodNodeTest {

    private static final int PODS = 10;
    private static final int CLIENTS = 5;

    @Test
    void stopAndRemoveByManyClientsLeaveNoRecord() throws Exception {
        var pods = new ArrayList<String>();
        for (int i = 0; i < PODS; i++) {
            var config = node.pod("storm-" + i).build();
            String pod = node.runPod(config);
            if (i % 2 == 0) { // half of them with a running container, which the stop kills and the removal takes
                node.createAndStart(pod, config, PodTestNode.container("sleeper", "sleep", "600").build());
            }
            pods.add(pod);
        }
        var barrier = new CyclicBarrier(PODS * CLIENTS);
        var calls = new ArrayList<CompletableFuture<Void>>();
        for (String pod : pods) {
            for (int k = 0; k < CLIENTS; k++) {
                boolean removeFirst = k % 2 == 1; // clients agree on no order: stops arrive while a removal runs
                calls.add(CompletableFuture.runAsync(() -> {
                    try {
                        barrier.await();
                    } catch (Exception e) {
                        throw new IllegalStateException(e);
                    }
                    if (removeFirst) {
                        remove(pod);
                        stop(pod);
                    } else {
                        stop(pod);
                        remove(pod);
                    }
                }, Thread::startVirtualThread));
            }
        }
        CompletableFuture.allOf(calls.toArray(CompletableFuture[]::new)).get(5, TimeUnit.MINUTES);

        assertEquals(0, node.rt().listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsCount());
        for (String pod : pods) {
            var e = assertThrows(StatusRuntimeException.class, () -> node.rt().podSandboxStatus(
                    PodSandboxStatusRequest.newBuilder().setPodSandboxId(pod).build()));
            assertEquals(Status.Code.NOT_FOUND, e.getStatus().getCode());
        }
        Path store = node.daemon.root.resolve("store");
        assertEquals(List.of(), files(store.resolve("sandboxes")), "no sandbox record left");
        assertEquals(List.of(), files(store.resolve("containers")), "no container record left");
    }

    private void stop(String pod) {
        node.rt().stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(pod).build());
    }

    private void remove(String pod) {
        node.rt().removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(pod).build());
    }

    private static List<String> files(Path dir) throws Exception {
        try (var list = Files.list(dir)) {
            return list.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }
}
