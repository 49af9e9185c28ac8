package dev.bollard.cli;

import com.google.gson.JsonParser;
import dev.bollard.api.cri.v1.LinuxContainerResources;
import dev.bollard.api.cri.v1.PodSandboxStatusRequest;
import dev.bollard.api.cri.v1.StopPodSandboxRequest;
import dev.bollard.api.cri.v1.UpdatePodSandboxResourcesRequest;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** UpdatePodSandboxResources (KEP-1287): the pod's cgroup parent gets the values, idempotently. */
class PodResourcesIntegrationTest extends PodNodeTest {

    private static final long MEMORY = 256L << 20;
    private String cgroupParent(String pod) {
        var info = node.rt().podSandboxStatus(PodSandboxStatusRequest.newBuilder().setPodSandboxId(pod).setVerbose(true)
                .build()).getInfoMap().get("info");
        return JsonParser.parseString(info).getAsJsonObject().get("cgroupParent").getAsString();
    }

    private static String read(String hierarchy, String parent, String file) throws Exception {
        return Files.readString(Path.of("/sys/fs/cgroup", hierarchy, parent, file)).trim();
    }

    private UpdatePodSandboxResourcesRequest.Builder update(String pod, LinuxContainerResources.Builder resources) {
        return UpdatePodSandboxResourcesRequest.newBuilder().setPodSandboxId(pod).setResources(resources);
    }

    @Test
    void resourcesReachThePodCgroupParentIdempotently() throws Exception {
        String pod = node.runPod(node.pod("res").build());
        try {
            String parent = cgroupParent(pod);
            var resources = LinuxContainerResources.newBuilder().setMemoryLimitInBytes(MEMORY).setCpuQuota(50_000)
                    .setCpuPeriod(100_000).setCpuShares(512);
            for (int i = 0; i < 2; i++) {
                node.rt().updatePodSandboxResources(update(pod, resources).build());
                assertEquals(Long.toString(MEMORY), read("memory", parent, "memory.limit_in_bytes"), "call " + i);
                assertEquals("50000", read("cpu", parent, "cpu.cfs_quota_us"), "call " + i);
                assertEquals("100000", read("cpu", parent, "cpu.cfs_period_us"), "call " + i);
                assertEquals("512", read("cpu", parent, "cpu.shares"), "call " + i);
            }
            // Overhead adds to the containers' limits.
            node.rt().updatePodSandboxResources(update(pod, resources).setOverhead(LinuxContainerResources.newBuilder()
                    .setMemoryLimitInBytes(64L << 20).setCpuQuota(10_000).setCpuPeriod(100_000)).build());
            assertEquals(Long.toString(MEMORY + (64L << 20)), read("memory", parent, "memory.limit_in_bytes"));
            assertEquals("60000", read("cpu", parent, "cpu.cfs_quota_us"));
            var info = node.rt().podSandboxStatus(PodSandboxStatusRequest.newBuilder().setPodSandboxId(pod)
                    .setVerbose(true).build()).getInfoMap().get("info");
            assertEquals(MEMORY + (64L << 20), JsonParser.parseString(info).getAsJsonObject()
                    .getAsJsonObject("podResources").get("memoryLimitInBytes").getAsLong());

            var negative = assertThrows(StatusRuntimeException.class, () -> node.rt().updatePodSandboxResources(
                    update(pod, LinuxContainerResources.newBuilder().setMemoryLimitInBytes(-5)).build()));
            assertEquals(Status.Code.INVALID_ARGUMENT, negative.getStatus().getCode());
            assertEquals(Long.toString(MEMORY + (64L << 20)), read("memory", parent, "memory.limit_in_bytes"),
                    "a refused call changes nothing");

            node.rt().stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(pod).build());
            var stopped = assertThrows(StatusRuntimeException.class,
                    () -> node.rt().updatePodSandboxResources(update(pod, resources).build()));
            assertEquals(Status.Code.FAILED_PRECONDITION, stopped.getStatus().getCode());
        } finally {
            node.removePod(pod);
        }
    }

    @Test
    void unknownPodIsNotFound() {
        var e = assertThrows(StatusRuntimeException.class, () -> node.rt().updatePodSandboxResources(
                update("0123456789abcdef", LinuxContainerResources.newBuilder().setCpuShares(2)).build()));
        assertEquals(Status.Code.NOT_FOUND, e.getStatus().getCode());
    }
}
