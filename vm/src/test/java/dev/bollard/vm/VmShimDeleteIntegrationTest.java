package dev.bollard.vm;

import dev.bollard.api.containerd.task.v2.ConnectRequest;
import dev.bollard.api.containerd.task.v2.ConnectResponse;
import dev.bollard.api.containerd.task.v2.CreateTaskRequest;
import dev.bollard.api.containerd.task.v2.CreateTaskResponse;
import dev.bollard.api.containerd.task.v2.DeleteResponse;
import dev.bollard.api.containerd.task.v2.StartRequest;
import dev.bollard.api.containerd.task.v2.StartResponse;
import dev.bollard.api.containerd.types.Mount;
import dev.bollard.daemon.linux.MountInfo;
import dev.bollard.daemon.shim.ttrpc.TtrpcClient;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The shim is SIGKILLed under a running pod (as when it crashes or is OOM-killed): the {@code delete} action
 * containerd then runs for the pod's task kills its qemu and virtiofsd, unmounts, and removes the pod's state.
 * A VM boot of its own, since the shim does not survive the case.
 */
class VmShimDeleteIntegrationTest {

    private Path work;

    @AfterEach
    void cleanUp() throws Exception {
        if (work != null) {
            TestProcesses.removeWorkDir(work);
        }
    }

    @Test
    void deleteAfterTheShimWasKilledLeavesNothing() throws Exception {
        Path guest = TestProcesses.guestImage();
        work = Files.createTempDirectory(Path.of("/tmp"), "vmshim-del-");
        Path rootfs = work.resolve("busybox");
        for (String dir : List.of("bin", "proc", "dev")) {
            Files.createDirectories(rootfs.resolve(dir));
        }
        Files.copy(Path.of("/bin/busybox"), rootfs.resolve("bin/busybox"));
        Files.createSymbolicLink(rootfs.resolve("bin/sleep"), Path.of("busybox"));
        Path bundle = work.resolve("pod");
        Files.createDirectories(bundle.resolve("rootfs"));
        Files.writeString(bundle.resolve("config.json"), """
                {"ociVersion":"1.0.2","process":{"args":["sleep","3600"],"env":["PATH=/bin"],"cwd":"/","user":{"uid":0,"gid":0}},
                 "root":{"path":"rootfs"},
                 "mounts":[{"destination":"/proc","type":"proc","source":"proc"}],
                 "linux":{"namespaces":[{"type":"pid"},{"type":"mount"}]}}""");

        List<String> base = List.of(ProcessHandle.current().info().command().orElseThrow(),
                "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
                Main.class.getName(), "-namespace", "bollard-test", "-address", work.resolve("none.sock").toString(),
                "-publish-binary", "/bin/false", "-id", "pod");
        Path stateRoot = work.resolve("state");
        String address = new String(run(base, bundle, guest, stateRoot, "start"), StandardCharsets.UTF_8).strip();
        int shimPid;
        try (var shim = TtrpcClient.connect(TtrpcClient.socketPath(address), Duration.ofSeconds(5))) {
            shim.invoke(TaskService.SERVICE, "Create", CreateTaskRequest.newBuilder().setId("pod")
                    .setBundle(bundle.toString()).addRootfs(Mount.newBuilder().setType("bind")
                            .setSource(rootfs.toString()).addOptions("rbind")).build(),
                    CreateTaskResponse.parser(), Duration.ofSeconds(120));
            shim.invoke(TaskService.SERVICE, "Start", StartRequest.newBuilder().setId("pod").build(),
                    StartResponse.parser(), Duration.ofSeconds(60));
            shimPid = shim.invoke(TaskService.SERVICE, "Connect", ConnectRequest.newBuilder().setId("pod").build(),
                    ConnectResponse.parser(), Duration.ofSeconds(10)).getShimPid();
        }
        assertEquals(2, vmProcesses(), "qemu and virtiofsd run");
        ProcessHandle shim = ProcessHandle.of(shimPid).orElseThrow();
        shim.destroyForcibly();
        shim.onExit().get(10, TimeUnit.SECONDS);
        assertTrue(MountInfo.mountPointsBelow(work).size() >= 2, "the rootfs mounts outlive the killed shim");

        DeleteResponse deleted = DeleteResponse.parseFrom(run(base, bundle, guest, stateRoot, "-bundle",
                bundle.toString(), "delete"));
        assertEquals(137, deleted.getExitStatus());
        assertEquals(0, vmProcesses(), "qemu or virtiofsd left running");
        assertEquals(List.of(), MountInfo.mountPointsBelow(work), "mounts left");
        try (Stream<Path> left = Files.list(stateRoot)) {
            assertEquals(List.of(), left.toList(), "state left");
        }
    }

    private long vmProcesses() {
        return TestProcesses.mentioning(work.toString()).stream().filter(pid -> ProcessHandle.of(pid)
                .flatMap(p -> p.info().command()).map(c -> c.contains("qemu-system") || c.contains("virtiofsd"))
                .orElse(false)).count();
    }

    private static byte[] run(List<String> base, Path bundle, Path guest, Path stateRoot, String... action)
            throws Exception {
        var command = new ArrayList<>(base);
        command.addAll(List.of(action));
        var builder = new ProcessBuilder(command).directory(bundle.toFile());
        builder.environment().put("BOLLARD_VM_KERNEL", guest.resolve("vmlinux").toString());
        builder.environment().put("BOLLARD_VM_INITRD", guest.resolve("initrd.img").toString());
        builder.environment().put("BOLLARD_VM_STATE_ROOT", stateRoot.toString());
        Process p = builder.start();
        p.getOutputStream().close();
        byte[] out = p.getInputStream().readAllBytes();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8));
        return out;
    }
}
