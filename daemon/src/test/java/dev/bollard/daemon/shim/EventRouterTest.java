package dev.bollard.daemon.shim;

import com.google.protobuf.Any;
import com.google.protobuf.Empty;
import com.google.protobuf.MessageLite;
import com.google.protobuf.Timestamp;
import dev.bollard.api.containerd.events.TaskExit;
import dev.bollard.api.containerd.events.TaskOOM;
import dev.bollard.api.containerd.events.TaskStart;
import dev.bollard.api.containerd.services.events.v1.ForwardRequest;
import dev.bollard.api.containerd.types.Envelope;
import dev.bollard.daemon.shim.ttrpc.TtrpcClient;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The events server as a shim sees it: Forward calls over ttrpc on the manager's events socket. */
class EventRouterTest {

    @TempDir
    Path dir;

    private final List<String> seen = new CopyOnWriteArrayList<>();
    private final CountDownLatch done = new CountDownLatch(1);
    private final List<AutoCloseable> closeables = new ArrayList<>();

    @AfterEach
    void tearDown() throws Exception {
        for (AutoCloseable c : closeables.reversed()) {
            c.close();
        }
    }

    @Test
    void exitAndOomEventsReachTheListenerInOrderPerContainer() throws Exception {
        var manager = new ShimManager(dir.resolve("state"), "k8s.io", new ShimEvents() {
            @Override
            public void taskExit(String containerId, String execId, int pid, int exitStatus, Instant exitedAt) {
                seen.add("exit " + containerId + "/" + execId + " " + pid + " " + exitStatus + " " + exitedAt);
                if (containerId.equals("last")) {
                    done.countDown();
                }
            }

            @Override
            public void taskOom(String containerId) {
                seen.add("oom " + containerId);
            }
        });
        closeables.add(manager);
        var client = TtrpcClient.connect(manager.eventsSocket(), Duration.ofSeconds(5));
        closeables.add(client);

        for (int i = 0; i < 20; i++) {
            forward(client, "k8s.io", "containerd.events.TaskExit", TaskExit.newBuilder().setContainerId("c1")
                    .setId(i == 19 ? "c1" : "exec-" + i).setPid(100 + i).setExitStatus(i)
                    .setExitedAt(Timestamp.newBuilder().setSeconds(1_700_000_000L)).build());
        }
        forward(client, "k8s.io", "containerd.events.TaskOOM", TaskOOM.newBuilder().setContainerId("c2").build());
        forward(client, "other", "containerd.events.TaskExit", TaskExit.newBuilder().setContainerId("foreign").build());
        forward(client, "k8s.io", "containerd.events.TaskStart", TaskStart.newBuilder().setContainerId("c3").build());
        forward(client, "k8s.io", "type.googleapis.com/containerd.events.TaskExit",
                TaskExit.newBuilder().setContainerId("last").setId("last").build());
        assertTrue(done.await(10, TimeUnit.SECONDS), "events seen: " + seen);
        // Containers' queues drain concurrently: c1's may still be delivering after "last".
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while ((seen.stream().filter(s -> s.startsWith("exit c1/")).count() < 20 || !seen.contains("oom c2"))
                && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }

        List<String> c1 = seen.stream().filter(s -> s.startsWith("exit c1/")).toList();
        assertEquals(20, c1.size(), seen.toString());
        for (int i = 0; i < 19; i++) {
            assertEquals("exit c1/exec-" + i + " " + (100 + i) + " " + i + " 2023-11-14T22:13:20Z", c1.get(i));
        }
        assertEquals("exit c1/ 119 19 2023-11-14T22:13:20Z", c1.get(19), "the init process has exec id \"\"");
        assertTrue(seen.contains("oom c2"), seen.toString());
        assertTrue(seen.contains("exit last/ 0 0 1970-01-01T00:00:00Z"), seen.toString());
        assertTrue(seen.stream().noneMatch(s -> s.contains("foreign") || s.contains("c3")), seen.toString());
    }

    private static void forward(TtrpcClient client, String namespace, String type, MessageLite event)
            throws Exception {
        var envelope = Envelope.newBuilder().setNamespace(namespace).setTopic("/tasks/x")
                .setTimestamp(Timestamp.newBuilder().setSeconds(1))
                .setEvent(Any.newBuilder().setTypeUrl(type).setValue(event.toByteString()));
        client.invoke(EventRouter.SERVICE, EventRouter.METHOD, ForwardRequest.newBuilder().setEnvelope(envelope).build(),
                Empty.parser(), Duration.ofSeconds(5));
    }
}
