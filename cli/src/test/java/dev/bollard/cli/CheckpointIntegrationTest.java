package dev.bollard.cli;

import dev.bollard.api.cri.v1.CheckpointContainerRequest;
import dev.bollard.api.cri.v1.ContainerState;
import dev.bollard.api.cri.v1.StopContainerRequest;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * CheckpointContainer (KEP-2008) on a counter process. Where CRIU cannot work on the node (CRIU 3.17 on Linux
 * 6.13 and later: {@code criu check} fails on the vDSO layout), the call must fail with that reason, and leave the
 * container running and nothing at the location; where it works, the archive holds the CRIU images, the config,
 * the spec and the writable layer, and the container keeps counting.
 */
class CheckpointIntegrationTest extends PodNodeTest {

    /** Writes each count whole (a new file renamed over the old one), so a reader never sees a half-written one. */
    private static final String COUNTER =
            "i=0; while true; do echo $i > /tmp/count.new; mv /tmp/count.new /tmp/count; i=$((i+1)); sleep 0.1; done";

    private static boolean criuWorksHere() throws Exception {
        try {
            var p = new ProcessBuilder("criu", "check").redirectErrorStream(true).start();
            p.getInputStream().readAllBytes();
            return p.waitFor(30, TimeUnit.SECONDS) && p.exitValue() == 0;
        } catch (IOException e) {
            return false; // not installed
        }
    }

    private static CheckpointContainerRequest request(String id, String location) {
        return CheckpointContainerRequest.newBuilder().setContainerId(id).setLocation(location).build();
    }

    /** The counter's last count; -1 before its first. */
    private int count(String id) {
        String out = node.sh(id, "cat /tmp/count 2>/dev/null").strip();
        return out.matches("\\d+") ? Integer.parseInt(out) : -1;
    }

    /** The count moves on: the process still runs (no timing asserted, only progress within a generous bound). */
    private void assertStillCounting(String id) throws InterruptedException {
        assertEquals(ContainerState.CONTAINER_RUNNING, node.status(id).getState());
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        int before = count(id);
        while (before < 0) {
            assertTrue(System.nanoTime() < deadline, "the counter never wrote a count");
            Thread.sleep(100);
            before = count(id);
        }
        while (count(id) <= before) {
            assertTrue(System.nanoTime() < deadline, "the counter stopped at " + before);
            Thread.sleep(100);
        }
    }

    private static Map<String, byte[]> entries(InputStream in) throws IOException {
        var out = new HashMap<String, byte[]>();
        try (var tar = new TarArchiveInputStream(in)) {
            for (var e = tar.getNextEntry(); e != null; e = tar.getNextEntry()) {
                out.put(e.getName(), tar.readAllBytes());
            }
        }
        return out;
    }

    @Test
    void aRunningCounterIsCheckpointedOrRefusedWithCriusReason() throws Exception {
        var podConfig = node.pod("checkpoint").build();
        String pod = node.runPod(podConfig);
        String id = node.createAndStart(pod, podConfig, PodTestNode.container("counter", "sh", "-c", COUNTER).build());
        assertStillCounting(id);
        Path location = Files.createDirectories(node.dir.resolve("checkpoints")).resolve("counter.tar");

        int countAtCheckpoint = -1;
        if (criuWorksHere()) {
            node.rt().checkpointContainer(request(id, location.toString()));
            countAtCheckpoint = count(id);
            var archive = entries(Files.newInputStream(location));
            assertTrue(archive.keySet().stream().anyMatch(n -> n.startsWith("checkpoint/") && n.endsWith(".img")),
                    archive.keySet().toString());
            assertTrue(new String(archive.get("config.dump"), StandardCharsets.UTF_8).contains(id));
            assertTrue(new String(archive.get("spec.dump"), StandardCharsets.UTF_8).contains("ociVersion"));
            var diff = entries(new ByteArrayInputStream(archive.get("rootfs-diff.tar")));
            assertTrue(diff.containsKey("tmp/count"), diff.keySet().toString());
        } else {
            var e = assertThrows(StatusRuntimeException.class,
                    () -> node.rt().checkpointContainer(request(id, location.toString())));
            String why = e.getStatus().getDescription();
            assertEquals(Status.Code.FAILED_PRECONDITION, e.getStatus().getCode(), why);
            assertTrue(why.contains("criu check failed") || why.contains("criu not found"), why);
            assertFalse(Files.exists(location), "no archive when the checkpoint failed");
            // the CLI (crictl's checkpoint) says the same, naming the container
            var cli = DaemonProcess.run(node.dir, "-r", node.daemon.endpoint(), "checkpoint", "--export",
                    location.toString(), id);
            assertEquals(1, cli.exit(), cli.err());
            assertTrue(cli.err().contains(id) && cli.err().contains("criu"), cli.err());
        }
        assertStillCounting(id);
        try (var bundle = Files.list(node.dir.resolve("state/containers").resolve(id))) {
            assertTrue(bundle.noneMatch(p -> p.getFileName().toString().startsWith("checkpoint-")),
                    "the checkpoint's work directory is removed");
        }
        try (var dir = Files.list(location.getParent())) {
            assertTrue(dir.allMatch(p -> p.equals(location)), "no temporary files beside the location");
        }

        if (countAtCheckpoint >= 0) {
            // CRI-O style restore: the archive as the image of a new container, which goes on counting from there
            var restoredPod = node.pod("restored").build();
            String pod2 = node.runPod(restoredPod);
            var restoreConfig = PodTestNode.container("counter-restored").setImage(
                    dev.bollard.api.cri.v1.ImageSpec.newBuilder().setImage(location.toString())).build();
            String restored = node.createAndStart(pod2, restoredPod, restoreConfig);
            assertTrue(count(restored) >= countAtCheckpoint - 1, "restored at " + count(restored));
            assertStillCounting(restored);
            node.removePod(pod2);
        }

        node.rt().stopContainer(StopContainerRequest.newBuilder().setContainerId(id).setTimeout(0).build());
        var notRunning = assertThrows(StatusRuntimeException.class,
                () -> node.rt().checkpointContainer(request(id, location + ".2")));
        assertEquals(Status.Code.FAILED_PRECONDITION, notRunning.getStatus().getCode());
        assertTrue(notRunning.getStatus().getDescription().contains("not running"),
                notRunning.getStatus().getDescription());
        node.removePod(pod);
    }

    @Test
    void badRequestsAreRefused() {
        var unknown = assertThrows(StatusRuntimeException.class,
                () -> node.rt().checkpointContainer(request("0123456789abcdef", "/tmp/x.tar")));
        assertEquals(Status.Code.NOT_FOUND, unknown.getStatus().getCode());
        var noLocation = assertThrows(StatusRuntimeException.class,
                () -> node.rt().checkpointContainer(request("0123456789abcdef", "")));
        assertEquals(Status.Code.INVALID_ARGUMENT, noLocation.getStatus().getCode());
        assertTrue(noLocation.getStatus().getDescription().contains("location"), noLocation.getStatus().getDescription());
        var relative = assertThrows(StatusRuntimeException.class,
                () -> node.rt().checkpointContainer(request("0123456789abcdef", "relative.tar")));
        assertEquals(Status.Code.INVALID_ARGUMENT, relative.getStatus().getCode());
        var noId = assertThrows(StatusRuntimeException.class,
                () -> node.rt().checkpointContainer(request("", "/tmp/x.tar")));
        assertEquals(Status.Code.INVALID_ARGUMENT, noId.getStatus().getCode());
    }

    @Test
    void aCheckpointArchiveAsTheImageIsRestoredOrRefusedWithCriusReason() throws Exception {
        var podConfig = node.pod("restore").build();
        String pod = node.runPod(podConfig);
        Path dir = Files.createDirectories(node.dir.resolve("restore-input"));
        Path notAnArchive = Files.writeString(dir.resolve("plain.tar"), "not a tar");
        var bad = assertThrows(StatusRuntimeException.class, () -> node.rt().createContainer(
                dev.bollard.api.cri.v1.CreateContainerRequest.newBuilder().setPodSandboxId(pod).setSandboxConfig(podConfig)
                        .setConfig(PodTestNode.container("from-plain").setImage(dev.bollard.api.cri.v1.ImageSpec
                                .newBuilder().setImage(notAnArchive.toString()))).build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, bad.getStatus().getCode(), bad.getStatus().toString());
        assertTrue(bad.getStatus().getDescription().contains("not a checkpoint archive"), bad.getStatus().getDescription());

        if (!criuWorksHere()) {
            // an archive in the layout CheckpointContainer writes, without CRIU images: enough to reach the CRIU check
            Path images = Files.createDirectories(dir.resolve("images"));
            Path upper = Files.createDirectories(dir.resolve("upper"));
            var config = new com.google.gson.JsonObject();
            config.addProperty("rootfsImage", "unused");
            Path archive = dir.resolve("counter.tar");
            dev.bollard.daemon.container.CheckpointArchive.write(archive, images, config, new com.google.gson.JsonObject(),
                    upper);
            var e = assertThrows(StatusRuntimeException.class, () -> node.rt().createContainer(
                    dev.bollard.api.cri.v1.CreateContainerRequest.newBuilder().setPodSandboxId(pod)
                            .setSandboxConfig(podConfig).setConfig(PodTestNode.container("restored").setImage(
                                    dev.bollard.api.cri.v1.ImageSpec.newBuilder().setImage(archive.toString()))).build()));
            String why = e.getStatus().getDescription();
            assertEquals(Status.Code.FAILED_PRECONDITION, e.getStatus().getCode(), why);
            assertTrue(why.contains("restore") && why.contains(archive.toString()), why);
            assertTrue(why.contains("criu check failed") || why.contains("criu not found"), why);
            try (var bundles = Files.list(node.dir.resolve("state/containers"))) {
                assertEquals(0, bundles.count(), "a refused restore leaves no bundle");
            }
            // the name was never taken
            String id = node.createAndStart(pod, podConfig, PodTestNode.container("restored", "true").build());
            node.awaitExit(id);
        }
        node.removePod(pod);
    }
}
