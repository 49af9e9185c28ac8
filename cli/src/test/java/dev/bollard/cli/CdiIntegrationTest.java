package dev.bollard.cli;

import dev.bollard.api.cri.v1.CDIDevice;
import dev.bollard.api.cri.v1.CreateContainerRequest;
import dev.bollard.api.cri.v1.StatusRequest;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * CDI devices in real containers: a spec file written here injects /dev/null as /dev/bollard-test, env vars, a
 * read-only mount, a supplementary group and a poststart hook; a container asks for it by cdi_devices or by a
 * cdi.k8s.io/ annotation and finds them.
 */
class CdiIntegrationTest {

    @Test
    void aCdiDeviceReachesTheContainerAndAnUnknownOneFailsCreation() throws Exception {
        Path specs = Files.createTempDirectory("bollard-cdi-");
        Path marker = specs.resolve("marker.txt");
        Path hookRan = specs.resolve("poststart-ran");
        try {
            Files.writeString(marker, "mounted by CDI\n");
            Files.writeString(specs.resolve("bollard-test.yaml"), """
                    cdiVersion: 0.6.0
                    kind: bollard.test/device
                    containerEdits:
                      env: [BOLLARD_CDI_SPEC=spec-level]
                    devices:
                      - name: "null"
                        containerEdits:
                          deviceNodes:
                            - path: /dev/bollard-test
                              hostPath: /dev/null
                          env: [BOLLARD_CDI=injected]
                          mounts:
                            - hostPath: %s
                              containerPath: /cdi/marker.txt
                              options: [ro, bind]
                          additionalGIDs: [4242]
                          hooks:
                            - hookName: poststart
                              path: /bin/sh
                              args: [sh, -c, "echo ran >> %s"]
                    """.formatted(marker, hookRan));
            try (var node = PodTestNode.start("[cdi]\nspec_dirs = \"/nonexistent/cdi:" + specs + "\"\n")) {
                var status = node.rt().status(StatusRequest.newBuilder().setVerbose(true).build());
                assertTrue(status.getInfoOrThrow("config").contains("\"enableCDI\":true"), status.getInfoOrThrow("config"));

                var podConfig = node.pod("cdi").build();
                String pod = node.runPod(podConfig);
                String byField = node.createAndStart(pod, podConfig, PodTestNode.container("by-field", "sleep", "3600")
                        .addCDIDevices(CDIDevice.newBuilder().setName("bollard.test/device=null")).build());
                assertEquals("1:3 character special file", node.sh(byField, "stat -c '%t:%T %F' /dev/bollard-test").strip());
                assertEquals("ok", node.sh(byField, "echo hi > /dev/bollard-test && echo ok").strip(),
                        "the device cgroup lets the container use the node");
                assertEquals("injected spec-level", node.sh(byField, "echo $BOLLARD_CDI $BOLLARD_CDI_SPEC").strip());
                assertEquals("mounted by CDI", node.sh(byField, "cat /cdi/marker.txt").strip());
                assertEquals("read-only", node.sh(byField, "(echo x > /cdi/marker.txt) 2>/dev/null && echo writable || echo read-only")
                        .strip());
                assertTrue(node.sh(byField, "grep Groups /proc/self/status").contains("4242"), "additionalGIDs");
                assertEquals("ran\n", Files.readString(hookRan), "runc ran the device's poststart hook once");

                String byAnnotation = node.createAndStart(pod, podConfig, PodTestNode.container("by-annotation", "sleep", "3600")
                        .putAnnotations("cdi.k8s.io/test-plugin", "bollard.test/device=null").build());
                assertEquals("injected", node.sh(byAnnotation, "echo $BOLLARD_CDI").strip());

                var unknown = assertThrows(StatusRuntimeException.class, () -> node.rt().createContainer(
                        CreateContainerRequest.newBuilder().setPodSandboxId(pod).setSandboxConfig(podConfig)
                                .setConfig(PodTestNode.container("unknown", "sleep", "3600")
                                        .addCDIDevices(CDIDevice.newBuilder().setName("bollard.test/device=missing")))
                                .build()));
                assertEquals(Status.Code.NOT_FOUND, unknown.getStatus().getCode());
                assertTrue(unknown.getStatus().getDescription().contains("bollard.test/device=missing"),
                        unknown.getStatus().getDescription());
                var malformed = assertThrows(StatusRuntimeException.class, () -> node.rt().createContainer(
                        CreateContainerRequest.newBuilder().setPodSandboxId(pod).setSandboxConfig(podConfig)
                                .setConfig(PodTestNode.container("malformed", "sleep", "3600")
                                        .putAnnotations("cdi.k8s.io/x", "just-a-name"))
                                .build()));
                assertEquals(Status.Code.INVALID_ARGUMENT, malformed.getStatus().getCode());
                assertTrue(malformed.getStatus().getDescription().contains("just-a-name"));
                // the failed creations left nothing: their names are free again, no bundle under the state
                String retried = node.createAndStart(pod, podConfig, PodTestNode.container("unknown", "sleep", "3600").build());
                assertFalse(retried.isEmpty());
                node.removePod(pod);
            }
        } finally {
            dev.bollard.daemon.store.FileTrees.deleteTree(specs);
        }
    }
}
