package dev.bollard.vm;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Debian's containerd runs the shim unchanged: {@code ctr run --runtime io.containerd.bollard-vm.v2} finds
 * {@code containerd-shim-bollard-vm-v2} on PATH, and the container runs on the guest kernel with its exit code
 * coming back. (Through containerd's task API; the CRI plugin run is for a later session.) One VM boot.
 */
class VmShimContainerdIntegrationTest {

    private Path work;
    private Process containerd;

    @AfterEach
    void cleanUp() throws Exception {
        if (containerd != null) {
            containerd.destroy();
            if (!containerd.waitFor(10, TimeUnit.SECONDS)) {
                containerd.destroyForcibly();
            }
        }
        if (work != null) {
            TestProcesses.removeWorkDir(work);
        }
    }

    @Test
    void ctrRunsAContainerInAVmThroughTheShim() throws Exception {
        Path guest = TestProcesses.guestImage();
        work = Files.createTempDirectory(Path.of("/tmp"), "vmshim-ctr-");

        Path bin = TestProcesses.shimLauncher(work, guest);
        Path rootfs = work.resolve("busybox");
        for (String dir : List.of("bin", "proc", "dev", "sys", "etc")) {
            Files.createDirectories(rootfs.resolve(dir));
        }
        Files.copy(Path.of("/bin/busybox"), rootfs.resolve("bin/busybox"));
        for (String applet : List.of("sh", "uname")) {
            Files.createSymbolicLink(rootfs.resolve("bin").resolve(applet), Path.of("busybox"));
        }
        Path socket = work.resolve("containerd.sock");
        Files.writeString(work.resolve("config.toml"), """
                version = 2
                root = "%s"
                state = "%s"
                disabled_plugins = ["io.containerd.grpc.v1.cri"]
                [grpc]
                  address = "%s"
                [ttrpc]
                  address = "%s.ttrpc"
                """.formatted(work.resolve("root"), work.resolve("state"), socket, socket));
        String path = bin + ":" + System.getenv().getOrDefault("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
        var daemon = new ProcessBuilder("containerd", "--config", work.resolve("config.toml").toString())
                .redirectErrorStream(true).redirectOutput(work.resolve("containerd.log").toFile());
        daemon.environment().put("PATH", path);
        containerd = daemon.start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!Files.exists(socket) && System.nanoTime() < deadline) {
            Thread.sleep(100);
        }
        assertTrue(Files.exists(socket), "containerd did not start: " + Files.readString(work.resolve("containerd.log")));

        // --rootfs: the first argument is a root directory instead of an image
        var run = new ProcessBuilder("ctr", "-a", socket.toString(), "-n", "bollard-test", "run", "--rm",
                "--runtime", "io.containerd.bollard-vm.v2", "--rootfs", rootfs.toString(), "vm1",
                // an absolute path: ctr's spec for a bare --rootfs sets no PATH for crun to search
                "/bin/sh", "-c", "echo guest $(uname -r); exit 4");
        run.environment().put("PATH", path);
        Process ctr = run.redirectErrorStream(true).start();
        String out = new String(ctr.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(ctr.waitFor(180, TimeUnit.SECONDS), "ctr run did not finish");
        String guestKernel = Files.readString(guest.resolve("kernel-release")).strip();
        assertEquals("guest " + guestKernel, out.strip(), "ctr's output; containerd log: "
                + Files.readString(work.resolve("containerd.log")));
        assertEquals(4, ctr.exitValue(), "the container's exit code through containerd");

        // containerd deleted the task and shut the shim down: no VM is left, and its state is gone.
        deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!TestProcesses.mentioning(work.resolve("vmstate").toString()).isEmpty() && System.nanoTime() < deadline) {
            Thread.sleep(200);
        }
        assertEquals(List.of(), TestProcesses.mentioning(work.resolve("vmstate").toString()), "qemu or virtiofsd left");
        try (Stream<Path> left = Files.exists(work.resolve("vmstate")) ? Files.list(work.resolve("vmstate"))
                : Stream.empty()) {
            assertEquals(List.of(), left.toList(), "VM state left");
        }
    }
}
