package dev.bollard.vm;

import dev.bollard.daemon.linux.MountInfo;
import dev.bollard.daemon.store.FileTrees;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * Processes found by their full command line in /proc ({@code ProcessHandle.Info.commandLine()} can come back
 * empty or cut short for a JVM with a long class path, so a shim would go unseen).
 */
final class TestProcesses {

    private TestProcesses() {
    }

    static List<Long> mentioning(String text) {
        var found = new ArrayList<Long>();
        try (Stream<Path> procs = Files.list(Path.of("/proc"))) {
            for (Path proc : (Iterable<Path>) procs::iterator) {
                String name = proc.getFileName().toString();
                if (!name.chars().allMatch(Character::isDigit) || Long.parseLong(name) == ProcessHandle.current().pid()) {
                    continue;
                }
                try {
                    String cmdline = new String(Files.readAllBytes(proc.resolve("cmdline")), StandardCharsets.UTF_8);
                    if (cmdline.contains(text)) {
                        found.add(Long.parseLong(name));
                    }
                } catch (IOException e) {
                    // gone meanwhile
                }
            }
        } catch (IOException e) {
            throw new IllegalStateException("cannot list /proc", e);
        }
        return found;
    }

    /** Kills (SIGKILL) every process whose command line mentions {@code text}: a failed test's leftovers. */
    static void killAllMentioning(String text) {
        for (long pid : mentioning(text)) {
            ProcessHandle.of(pid).ifPresent(p -> {
                p.destroyForcibly();
                p.onExit().orTimeout(5, java.util.concurrent.TimeUnit.SECONDS).exceptionally(t -> null).join();
            });
        }
    }

    /**
     * The guest image (kernel + initramfs), built from Debian packages by {@code guest/build.sh} and cached under
     * vm/guest/out; the script's last line names the directory.
     */
    static Path guestImage() throws IOException, InterruptedException {
        var build = new ProcessBuilder("guest/build.sh").redirectErrorStream(true).start();
        String output = new String(build.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (build.waitFor() != 0) {
            throw new AssertionError("guest/build.sh failed:\n" + output);
        }
        return Path.of(output.strip().lines().reduce((a, b) -> b).orElseThrow());
    }

    /**
     * The shim as containerd looks it up: {@code <work>/bin/containerd-shim-bollard-vm-v2}, a launcher running this
     * JVM's class path with the guest's kernel, initrd and a state root under {@code work} in its environment (as
     * bin/containerd-shim-bollard-vm-v2 sets them; containerd passes no settings). Returns the bin directory.
     */
    static Path shimLauncher(Path work, Path guest) throws IOException {
        Path bin = Files.createDirectories(work.resolve("bin"));
        String flags = "--enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow -XX:+UseSerialGC";
        Path shim = bin.resolve("containerd-shim-bollard-vm-v2");
        Files.writeString(shim, "#!/bin/sh\n"
                + "export BOLLARD_VM_KERNEL='" + guest.resolve("vmlinux") + "' BOLLARD_VM_INITRD='"
                + guest.resolve("initrd.img") + "' BOLLARD_VM_STATE_ROOT='" + work.resolve("vmstate") + "'\n"
                + "exec '" + ProcessHandle.current().info().command().orElseThrow() + "' " + flags
                + " -Dbollard.vm.jvmFlags='" + flags + "' -cp '" + System.getProperty("java.class.path")
                + "' dev.bollard.vm.Main \"$@\"\n");
        Files.setPosixFilePermissions(shim, java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
        return bin;
    }

    /** A test's work directory gone: what runs from it killed, what is mounted below it unmounted, then removed. */
    static void removeWorkDir(Path work) throws IOException {
        killAllMentioning(work.toString());
        MountInfo.unmountBelow(work);
        FileTrees.deleteTree(work);
    }
}
