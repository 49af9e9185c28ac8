package dev.bollard.api.cri.v1;

import com.google.protobuf.Descriptors.FieldDescriptor;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Guards the wire facts kubelet and crictl depend on: service paths, the RPC set, and a sample of the irregular
 * field numbers that a careless edit would break.
 */
class CriProtoTest {

    @Test
    void servicesAndMethodPaths() {
        assertEquals("runtime.v1.RuntimeService", RuntimeServiceGrpc.SERVICE_NAME);
        assertEquals("runtime.v1.ImageService", ImageServiceGrpc.SERVICE_NAME);
        assertEquals("runtime.v1.RuntimeService/Version", RuntimeServiceGrpc.getVersionMethod().getFullMethodName());
        var file = CriApiProto.getDescriptor();
        assertEquals("runtime.v1", file.getPackage());
        assertEquals(35, file.findServiceByName("RuntimeService").getMethods().size());
        assertEquals(6, file.findServiceByName("ImageService").getMethods().size());
    }

    @Test
    void serverStreamingRpcs() {
        var streaming = CriApiProto.getDescriptor().getServices().stream()
                .flatMap(s -> s.getMethods().stream())
                .filter(m -> m.isServerStreaming())
                .map(m -> m.getName()).sorted().toList();
        assertEquals(List.of("GetContainerEvents", "StreamContainerStats", "StreamContainers", "StreamImages",
                "StreamPodSandboxMetrics", "StreamPodSandboxStats", "StreamPodSandboxes"), streaming);
    }

    private static FieldDescriptor field(String message, String name) {
        var f = CriApiProto.getDescriptor().findMessageTypeByName(message).findFieldByName(name);
        assertTrue(f != null, message + "." + name + " exists");
        return f;
    }

    @Test
    void irregularFieldNumbers() {
        assertEquals(12, field("LinuxContainerSecurityContext", "run_as_group").getNumber());
        assertEquals(8, field("LinuxSandboxSecurityContext", "run_as_group").getNumber());
        assertEquals(11, field("LinuxSandboxSecurityContext", "supplemental_groups_policy").getNumber());
        assertEquals(17, field("LinuxContainerSecurityContext", "supplemental_groups_policy").getNumber());
        assertEquals(19, field("ContainerStatus", "stop_signal").getNumber());
        assertEquals(1, field("LinuxRuntimeConfiguration", "cgroup_driver").getNumber());
        assertEquals(4, field("StatusResponse", "features").getNumber());
        assertEquals(3, field("StatusResponse", "runtime_handlers").getNumber());
        assertEquals(1, CgroupDriver.CGROUPFS.getNumber());
        assertEquals(0, CgroupDriver.SYSTEMD.getNumber());
    }

    @Test
    void roundTripKeepsUnknownOrNewFieldsStable() throws Exception {
        var status = StatusResponse.newBuilder()
                .setStatus(RuntimeStatus.newBuilder().addConditions(RuntimeCondition.newBuilder().setType("RuntimeReady").setStatus(true)))
                .putInfo("k", "v").build();
        assertEquals(status, StatusResponse.parseFrom(status.toByteArray()));
    }
}
