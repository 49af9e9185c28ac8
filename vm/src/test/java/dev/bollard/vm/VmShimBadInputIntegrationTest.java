package dev.bollard.vm;

import com.google.protobuf.Empty;
import dev.bollard.api.containerd.task.v2.CreateTaskRequest;
import dev.bollard.api.containerd.task.v2.CreateTaskResponse;
import dev.bollard.api.containerd.task.v2.ShutdownRequest;
import dev.bollard.daemon.linux.MountInfo;
import dev.bollard.daemon.shim.ttrpc.TtrpcClient;
import dev.bollard.daemon.shim.ttrpc.TtrpcException;
import io.grpc.Status.Code;
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
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A VM that cannot boot: Create fails with the reason in bounded time, and nothing is left behind. */
class VmShimBadInputIntegrationTest {

    private Path work;

    @AfterEach
    void cleanUp() throws Exception {
        if (work != null) {
            TestProcesses.removeWorkDir(work);
        }
    }

    @Test
    void aMissingKernelFailsCreateWithTheReasonAndLeavesNothing() throws Exception {
        work = Files.createTempDirectory(Path.of("/tmp"), "vmshim-bad-");
        var e = createFails(work.resolve("no-such-vmlinux"), work.resolve("no-such-initrd"));
        assertEquals(Code.FAILED_PRECONDITION.value(), e.status().getCode(), e.getMessage());
        assertTrue(e.getMessage().contains("guest kernel " + work.resolve("no-such-vmlinux") + " is missing"),
                e.getMessage());
    }

    /** The guest kernel panics (no usable initramfs): qemu exits and Create says so instead of waiting it out. */
    @Test
    void aGuestThatNeverComesUpFailsCreateWithItsConsoleAndLeavesNothing() throws Exception {
        work = Files.createTempDirectory(Path.of("/tmp"), "vmshim-bad-");
        Path guest = TestProcesses.guestImage();
        Path garbage = work.resolve("garbage.img");
        Files.writeString(garbage, "not an initramfs\n".repeat(100));
        long started = System.nanoTime();
        var e = createFails(guest.resolve("vmlinux"), garbage);
        long seconds = TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - started);
        assertEquals(Code.UNAVAILABLE.value(), e.status().getCode(), e.getMessage());
        assertTrue(e.getMessage().contains("cannot boot the VM"), e.getMessage());
        assertTrue(e.getMessage().contains("console.log: "), "the console's last lines: " + e.getMessage());
        assertTrue(seconds < 90, "Create took " + seconds + " s, beyond the ready timeout");
        assertEquals(List.of(), TestProcesses.mentioning(work.toString()), "processes of this test left running");
    }

    /** Starts a shim with this kernel and initrd, asks it to Create the pod, shuts it down and checks it left nothing. */
    private TtrpcException createFails(Path kernel, Path initrd) throws Exception {
        Path bundle = work.resolve("pod");
        Files.createDirectories(bundle.resolve("rootfs"));
        Files.writeString(bundle.resolve("config.json"), "{\"ociVersion\":\"1.0.2\",\"root\":{\"path\":\"rootfs\"}}");
        Path stateRoot = work.resolve("state");
        var command = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElseThrow(),
                "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
                Main.class.getName(), "-namespace", "bollard-test", "-address", work.resolve("none.sock").toString(),
                "-publish-binary", "/bin/false", "-id", "pod", "start"));
        var builder = new ProcessBuilder(command).directory(bundle.toFile());
        builder.environment().put("BOLLARD_VM_KERNEL", kernel.toString());
        builder.environment().put("BOLLARD_VM_INITRD", initrd.toString());
        builder.environment().put("BOLLARD_VM_STATE_ROOT", stateRoot.toString());
        Process start = builder.start();
        String address = new String(start.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        assertTrue(start.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, start.exitValue(), new String(start.getErrorStream().readAllBytes(), StandardCharsets.UTF_8));

        TtrpcException failure;
        try (var shim = TtrpcClient.connect(TtrpcClient.socketPath(address), Duration.ofSeconds(5))) {
            failure = assertThrows(TtrpcException.class, () -> shim.invoke(TaskService.SERVICE, "Create",
                    CreateTaskRequest.newBuilder().setId("pod").setBundle(bundle.toString()).build(),
                    CreateTaskResponse.parser(), Duration.ofSeconds(120)));
            try {
                shim.invoke(TaskService.SERVICE, "Shutdown", ShutdownRequest.newBuilder().setId("pod").build(),
                        Empty.parser(), Duration.ofSeconds(10));
            } catch (TtrpcException ignored) {
                // the shim may exit before its answer is read
            }
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (Files.exists(stateRoot) && Files.list(stateRoot).findAny().isPresent() && System.nanoTime() < deadline) {
            Thread.sleep(100);
        }
        try (Stream<Path> left = Files.list(stateRoot)) {
            assertEquals(List.of(), left.toList(), "the shim left its state behind");
        }
        assertTrue(MountInfo.mountPointsBelow(work).isEmpty());
        return failure;
    }
}
