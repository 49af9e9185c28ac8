package dev.bollard.daemon.oci;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.bollard.api.cri.v1.ContainerConfig;
import dev.bollard.api.cri.v1.ContainerMetadata;
import dev.bollard.api.cri.v1.ImageSpec;
import dev.bollard.api.cri.v1.LinuxContainerConfig;
import dev.bollard.api.cri.v1.LinuxContainerResources;
import dev.bollard.api.cri.v1.LinuxContainerSecurityContext;
import dev.bollard.api.cri.v1.LinuxPodSandboxConfig;
import dev.bollard.api.cri.v1.NamespaceMode;
import dev.bollard.api.cri.v1.NamespaceOption;
import dev.bollard.api.cri.v1.PodSandboxConfig;
import dev.bollard.api.cri.v1.PodSandboxMetadata;
import dev.bollard.api.cri.v1.SecurityProfile;
import dev.bollard.daemon.image.ImageConfigs;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Runs a generated container spec with the real runc (as root, as CI does): proves runc accepts the spec, that the
 * user, groups and capabilities come out as built, and that the default seccomp profile lets busybox work.
 */
class SpecBuilderRuncTest {

    @TempDir
    Path dir;

    @Test
    void runcRunsAGeneratedContainerSpec() throws Exception {
        String suffix = UUID.randomUUID().toString().substring(0, 8);
        String cgroupParent = "/bollard-oci-test-" + suffix;
        String id = "oci-test-" + suffix;
        Path state = dir.resolve("runc-state");
        Path bundle = dir.resolve("bundle");
        Path rootfs = bundle.resolve("rootfs");
        Files.createDirectories(rootfs.resolve("bin"));
        Files.createDirectories(rootfs.resolve("etc"));
        Files.copy(Path.of("/bin/busybox").toRealPath(), rootfs.resolve("bin/busybox"));
        for (String applet : List.of("sh", "id", "cat", "grep", "echo")) {
            Files.createSymbolicLink(rootfs.resolve("bin").resolve(applet), Path.of("busybox"));
        }
        Files.writeString(rootfs.resolve("etc/passwd"),
                "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n");
        Files.writeString(rootfs.resolve("etc/group"), "root:x:0:\nuser:x:1000:\nextra:x:2000:user\n");
        Path hostname = Files.writeString(dir.resolve("hostname"), "oci-test\n");
        Path hosts = Files.writeString(dir.resolve("hosts"), "127.0.0.1 localhost\n");
        Path resolv = Files.writeString(dir.resolve("resolv.conf"), "nameserver 127.0.0.1\n");

        var podConfig = PodSandboxConfig.newBuilder()
                .setMetadata(PodSandboxMetadata.newBuilder().setName("pod").setNamespace("default").setUid("uid-1"))
                .setHostname("oci-test")
                .setLinux(LinuxPodSandboxConfig.newBuilder().setCgroupParent(cgroupParent))
                .build();
        var pod = new PodContext("sandbox-" + suffix, podConfig, Optional.empty(), 0, hostname, hosts, resolv,
                Optional.empty(), cgroupParent, "runc", "pause");
        var config = ContainerConfig.newBuilder()
                .setMetadata(ContainerMetadata.newBuilder().setName("app"))
                .setImage(ImageSpec.newBuilder().setImage("busybox"))
                .addAllCommand(List.of("/bin/sh", "-c",
                        "id; grep -E '^(CapEff|CapBnd|Seccomp):' /proc/self/status; cat /etc/hostname; echo ok"))
                .setLinux(LinuxContainerConfig.newBuilder()
                        .setResources(LinuxContainerResources.newBuilder().setMemoryLimitInBytes(64L << 20))
                        .setSecurityContext(LinuxContainerSecurityContext.newBuilder()
                                .setRunAsUsername("user")
                                .setSeccomp(SecurityProfile.newBuilder()
                                        .setProfileType(SecurityProfile.ProfileType.RuntimeDefault))
                                .setNamespaceOptions(NamespaceOption.newBuilder()
                                        .setIpc(NamespaceMode.NODE).setPid(NamespaceMode.CONTAINER))))
                .build();
        var image = new ImageConfigs.Parsed(List.of(), ImageConfigs.User.NONE,
                JsonParser.parseString("{\"config\":{\"Env\":[\"FROM_IMAGE=1\"]}}").getAsJsonObject());
        RootfsFiles files = p -> {
            Path f = rootfs.resolve(p.substring(1));
            return Files.exists(f) ? Optional.of(Files.readAllBytes(f)) : Optional.empty();
        };

        JsonObject spec = new SpecBuilder(NodeProfile.detect()).containerSpec(pod, id, config, image,
                SpecInputsResolver.container(pod, config, files, 0, SpecInputs.Handler.DEFAULT));
        Files.writeString(bundle.resolve("config.json"), spec.toString());

        try {
            Result r = run(List.of("runc", "--root", state.toString(), "run", "-b", bundle.toString(), id));
            if (r.exitCode != 0 || !r.output.contains("ok")) {
                fail("runc run exited " + r.exitCode + ":\n" + r.output + "\nspec: " + spec);
            }
            assertTrue(r.output.contains("uid=1000(user) gid=1000(user) groups=1000(user),2000(extra)"), r.output);
            // a non-root user keeps no effective capabilities; the bounding set is the default 14
            assertTrue(r.output.contains("CapEff:\t0000000000000000"), r.output);
            assertTrue(r.output.contains("CapBnd:\t00000000a80425fb"), r.output);
            assertTrue(r.output.contains("Seccomp:\t2"), "a seccomp filter is in force:\n" + r.output);
            assertTrue(r.output.contains("oci-test"), r.output);
        } finally {
            run(List.of("runc", "--root", state.toString(), "delete", "-f", id));
            removeCgroups(cgroupParent, id);
        }
    }

    @Test
    void runcRunsASandboxAndAContainerJoiningItsNamespaces() throws Exception {
        String suffix = UUID.randomUUID().toString().substring(0, 8);
        String cgroupParent = "/bollard-oci-test-" + suffix;
        String sandboxId = "oci-sb-" + suffix;
        String containerId = "oci-ctr-" + suffix;
        Path state = dir.resolve("runc-state");
        Path sandboxBundle = dir.resolve("sandbox");
        Files.createDirectories(sandboxBundle.resolve("rootfs"));
        Files.copy(Path.of("/usr/bin/catatonit"), sandboxBundle.resolve("rootfs/catatonit"));
        Path bundle = dir.resolve("bundle");
        Path rootfs = bundle.resolve("rootfs");
        Files.createDirectories(rootfs.resolve("bin"));
        Files.copy(Path.of("/bin/busybox").toRealPath(), rootfs.resolve("bin/busybox"));
        Files.createSymbolicLink(rootfs.resolve("bin/sh"), Path.of("busybox"));
        Files.createSymbolicLink(rootfs.resolve("bin/cat"), Path.of("busybox"));
        Path shm = Files.createDirectories(dir.resolve("shm"));
        Path hostname = Files.writeString(dir.resolve("hostname"), "pod\n");
        Path hosts = Files.writeString(dir.resolve("hosts"), "127.0.0.1 localhost\n");
        Path resolv = Files.writeString(dir.resolve("resolv.conf"), "nameserver 127.0.0.1\n");
        // the node's network (no CNI here), the pod's own pid and ipc namespaces
        var podConfig = PodSandboxConfig.newBuilder()
                .setMetadata(PodSandboxMetadata.newBuilder().setName("pod").setNamespace("default").setUid("uid-2"))
                .setLinux(LinuxPodSandboxConfig.newBuilder().setCgroupParent(cgroupParent)
                        .setSecurityContext(dev.bollard.api.cri.v1.LinuxSandboxSecurityContext.newBuilder()
                                .setNamespaceOptions(NamespaceOption.newBuilder().setNetwork(NamespaceMode.NODE))))
                .build();
        var builder = new SpecBuilder(NodeProfile.detect());
        var creating = new PodContext(sandboxId, podConfig, Optional.empty(), 0, hostname, hosts, resolv,
                Optional.of(shm), cgroupParent, "runc", "pause");
        Files.writeString(sandboxBundle.resolve("config.json"),
                builder.sandboxSpec(creating, sandboxId, List.of("/catatonit", "-P"),
                        SpecInputsResolver.sandbox(creating)).toString());
        try {
            Path sandboxLog = dir.resolve("sandbox.log");
            Process p = new ProcessBuilder("runc", "--root", state.toString(), "run", "-d", "--pid-file",
                    dir.resolve("sandbox.pid").toString(), "-b", sandboxBundle.toString(), sandboxId)
                    .redirectErrorStream(true).redirectOutput(sandboxLog.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
            if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
                fail("runc run -d of the sandbox failed: " + Files.readString(sandboxLog));
            }
            int infraPid = Integer.parseInt(Files.readString(dir.resolve("sandbox.pid")).trim());
            var pod = new PodContext(sandboxId, podConfig, Optional.empty(), infraPid, hostname, hosts, resolv,
                    Optional.of(shm), cgroupParent, "runc", "pause");
            var config = ContainerConfig.newBuilder()
                    .setMetadata(ContainerMetadata.newBuilder().setName("app"))
                    .addAllCommand(List.of("/bin/sh", "-c", "cat /proc/1/cmdline; echo; echo joined"))
                    .build();
            var image = new ImageConfigs.Parsed(List.of(), ImageConfigs.User.NONE,
                    JsonParser.parseString("{}").getAsJsonObject());
            Files.writeString(bundle.resolve("config.json"),
                    builder.containerSpec(pod, containerId, config, image, SpecInputsResolver.container(pod, config,
                            RootfsFiles.NONE, 0, SpecInputs.Handler.DEFAULT)).toString());
            Result r = run(List.of("runc", "--root", state.toString(), "run", "-b", bundle.toString(), containerId));
            assertEquals(0, r.exitCode, r.output);
            // pid 1 of the shared pid namespace is the sandbox's catatonit
            assertTrue(r.output.contains("/catatonit"), r.output);
            assertTrue(r.output.contains("joined"), r.output);
        } finally {
            run(List.of("runc", "--root", state.toString(), "delete", "-f", containerId));
            run(List.of("runc", "--root", state.toString(), "delete", "-f", sandboxId));
            removeCgroups(cgroupParent, containerId, sandboxId);
        }
    }

    /** runc removes the container's own cgroups but leaves the parents it created, in every hierarchy. */
    private static void removeCgroups(String parent, String... ids) throws IOException {
        var leftovers = new ArrayList<Path>();
        try (var hierarchies = Files.list(Path.of("/sys/fs/cgroup"))) {
            for (Path h : hierarchies.toList()) {
                var dirs = new ArrayList<Path>();
                for (String id : ids) {
                    dirs.add(Path.of(h + parent + "/" + id));
                }
                dirs.add(Path.of(h + parent));
                for (Path p : dirs) {
                    if (Files.isDirectory(p)) {
                        try {
                            Files.delete(p);
                        } catch (IOException e) {
                            leftovers.add(p);
                        }
                    }
                }
            }
        }
        assertEquals(List.of(), leftovers, "cgroup directories left behind");
    }

    private record Result(int exitCode, String output) {
    }

    private static Result run(List<String> cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
        byte[] out = p.getInputStream().readAllBytes();
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IOException(String.join(" ", cmd) + " did not finish");
        }
        return new Result(p.exitValue(), new String(out, StandardCharsets.UTF_8));
    }
}
