package dev.bollard.cli;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * What the VM handler's real-process tests share: the guest image, a {@code [runtimes.vm]} table whose shim runs
 * from this JVM's class path, and the VM processes a test node may leave.
 */
final class VmTestNodes {

    private VmTestNodes() {
    }

    /** Builds the guest (vm/guest/build.sh: cached after the first run) and returns its output directory. */
    static Path buildGuest() throws IOException, InterruptedException {
        var build = new ProcessBuilder("../vm/guest/build.sh").redirectErrorStream(true).start();
        String output = new String(build.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, build.waitFor(), output);
        return Path.of(output.strip().lines().reduce((a, b) -> b).orElseThrow());
    }

    /** The {@code [runtimes.vm]} table for a node in {@code dir}: the guest's kernel and initrd, then {@code more}. */
    static String vmRuntimeToml(Path dir, Path guest, String more) throws IOException {
        return "\n[runtimes.vm]\nshim = \"" + vmShimLauncher(dir) + "\"\nkernel = \"" + guest.resolve("vmlinux")
                + "\"\ninitrd = \"" + guest.resolve("initrd.img") + "\"\n" + more;
    }

    /**
     * What bin/containerd-shim-bollard-vm-v2 does, from this JVM's class path. No guest image beside it: the
     * configured kernel and initrd are what Bollard hands the shim.
     */
    static Path vmShimLauncher(Path dir) throws IOException {
        Path bin = Files.createDirectories(dir.resolve("vmshim/bin"));
        Path launcher = bin.resolve("containerd-shim-bollard-vm-v2");
        String flags = "--enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow -XX:+UseSerialGC";
        Files.writeString(launcher, "#!/bin/sh\n"
                + "export BOLLARD_VM_STATE_ROOT='" + dir.resolve("vmstate") + "'\n"
                + "exec '" + ProcessHandle.current().info().command().orElseThrow() + "' " + flags
                + " -Dbollard.vm.jvmFlags='" + flags + "' -cp '" + System.getProperty("java.class.path")
                + "' dev.bollard.vm.Main \"$@\"\n");
        Files.setPosixFilePermissions(launcher, PosixFilePermissions.fromString("rwxr-xr-x"));
        return launcher;
    }

    /** The node's VM shims, qemu and virtiofsd: their command lines name the node's directory. */
    static List<String> vmProcesses(Path dir) throws IOException {
        var out = new ArrayList<String>();
        try (var procs = Files.list(Path.of("/proc"))) {
            for (Path p : procs.filter(p -> p.getFileName().toString().matches("\\d+")).toList()) {
                try {
                    String cmd = new String(Files.readAllBytes(p.resolve("cmdline"))).replace('\0', ' ');
                    if ((cmd.contains("qemu-system") || cmd.contains("virtiofsd") || cmd.contains("dev.bollard.vm.Main"))
                            && cmd.contains(dir.toString())) {
                        out.add(p.getFileName() + ": " + cmd.substring(0, Math.min(200, cmd.length())));
                    }
                } catch (IOException ignored) {
                    // the process ended meanwhile
                }
            }
        }
        return out;
    }

    /** An HTTP GET from the host to the pod's address (polling until httpd in the guest listens). */
    static String fetch(String ip, int port) throws Exception {
        IOException last = null;
        for (int i = 0; i < 100; i++) {
            try (var s = new java.net.Socket()) {
                s.connect(new java.net.InetSocketAddress(ip, port), 2000);
                s.setSoTimeout(10000);
                s.getOutputStream().write(("GET /index.html HTTP/1.0\r\nHost: " + ip + "\r\n\r\n")
                        .getBytes(StandardCharsets.US_ASCII));
                return new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            } catch (IOException e) {
                last = e;
                Thread.sleep(200);
            }
        }
        throw new AssertionError("no HTTP answer from " + ip + ":" + port, last);
    }
}
