package dev.bollard.daemon.oci;

import dev.bollard.api.cri.v1.ContainerConfig;
import dev.bollard.api.cri.v1.ContainerMetadata;
import dev.bollard.api.cri.v1.Device;
import dev.bollard.api.cri.v1.LinuxContainerConfig;
import dev.bollard.api.cri.v1.LinuxContainerSecurityContext;
import dev.bollard.api.cri.v1.LinuxPodSandboxConfig;
import dev.bollard.api.cri.v1.LinuxSandboxSecurityContext;
import dev.bollard.api.cri.v1.Mount;
import dev.bollard.api.cri.v1.PodSandboxConfig;
import dev.bollard.api.cri.v1.PodSandboxMetadata;
import dev.bollard.api.cri.v1.SecurityProfile;
import dev.bollard.daemon.linux.Syscalls;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The IO half of spec building: what is read, what is refused, and that nothing a request names can block it. */
@Timeout(60) // a profile that blocks shows as a hang: fail instead
class SpecInputsResolverTest {

    @TempDir
    Path dir;

    private PodContext pod(PodSandboxConfig config) {
        return new PodContext("sb1", config, Optional.of(Path.of("/run/netns/x")), 4242, dir.resolve("hostname"),
                dir.resolve("hosts"), dir.resolve("resolv.conf"), Optional.of(dir.resolve("shm")), "/kubepods/p",
                "runc", "pause");
    }

    private PodContext pod() {
        return pod(podConfig("web-0", LinuxSandboxSecurityContext.getDefaultInstance()));
    }

    private static PodSandboxConfig podConfig(String hostname, LinuxSandboxSecurityContext sc) {
        return PodSandboxConfig.newBuilder()
                .setMetadata(PodSandboxMetadata.newBuilder().setName("web").setNamespace("prod").setUid("u"))
                .setHostname(hostname).setLinux(LinuxPodSandboxConfig.newBuilder().setSecurityContext(sc)).build();
    }

    private static ContainerConfig.Builder container(LinuxContainerSecurityContext.Builder sc) {
        return ContainerConfig.newBuilder().setMetadata(ContainerMetadata.newBuilder().setName("app"))
                .setLinux(LinuxContainerConfig.newBuilder().setSecurityContext(sc));
    }

    private static LinuxContainerSecurityContext.Builder localhost(Path profile) {
        return LinuxContainerSecurityContext.newBuilder().setSeccomp(SecurityProfile.newBuilder()
                .setProfileType(SecurityProfile.ProfileType.Localhost).setLocalhostRef(profile.toString()));
    }

    private SpecInputs.Container resolve(ContainerConfig.Builder config) throws IOException {
        return SpecInputsResolver.container(pod(), config.build(), RootfsFiles.NONE, 0, SpecInputs.Handler.DEFAULT);
    }

    private String refused(ContainerConfig.Builder config) {
        return assertThrows(IllegalArgumentException.class, () -> resolve(config)).getMessage();
    }

    // ---- seccomp profiles the request names

    @Test
    void aLocalhostProfileIsReadAsJson() throws IOException {
        Path profile = Files.writeString(dir.resolve("p.json"), "{\"defaultAction\":\"SCMP_ACT_LOG\"}");
        var inputs = resolve(container(localhost(profile)));
        assertEquals("SCMP_ACT_LOG", inputs.seccompProfile().orElseThrow().get("defaultAction").getAsString());
        assertTrue(resolve(container(LinuxContainerSecurityContext.newBuilder().setSeccomp(SecurityProfile
                .newBuilder().setProfileType(SecurityProfile.ProfileType.RuntimeDefault)))).seccompProfile().isEmpty(),
                "the default profile is no file");
    }

    @Test
    void devZeroAsLocalhostRefFailsFastNamingTheField() {
        String m = refused(container(localhost(Path.of("/dev/zero"))));
        assertTrue(m.startsWith("linux.security_context.seccomp.localhost_ref: /dev/zero is not a regular file"), m);
    }

    @Test
    void aFifoAsLocalhostRefFailsFastInsteadOfBlocking() throws IOException {
        Path fifo = dir.resolve("profile.fifo");
        Syscalls.mkfifo(fifo, 0600);
        String m = refused(container(localhost(fifo)));
        assertTrue(m.startsWith("linux.security_context.seccomp.localhost_ref: " + fifo + " is not a regular file "
                + "(a FIFO)"), m);
        String legacy = refused(container(LinuxContainerSecurityContext.newBuilder()
                .setSeccompProfilePath("localhost/" + fifo)));
        assertTrue(legacy.startsWith("linux.security_context.seccomp_profile_path: "), legacy);
        var sandbox = assertThrows(IllegalArgumentException.class, () -> SpecInputsResolver.sandbox(pod(podConfig(
                "web-0", LinuxSandboxSecurityContext.newBuilder().setSeccomp(SecurityProfile.newBuilder()
                        .setProfileType(SecurityProfile.ProfileType.Localhost).setLocalhostRef(fifo.toString()))
                        .build()))));
        assertTrue(sandbox.getMessage().contains("a FIFO"), sandbox.getMessage());
    }

    @Test
    void aProfileOverOneMebibyteOrNotJsonIsRefused() throws IOException {
        Path big = Files.writeString(dir.resolve("big.json"), "{\"x\":\"" + "a".repeat(1 << 20) + "\"}");
        assertTrue(refused(container(localhost(big))).contains("larger than 1048576 bytes"));
        Path text = Files.writeString(dir.resolve("text.json"), "[1,2]");
        assertTrue(refused(container(localhost(text))).contains("is not a JSON object"));
        assertTrue(refused(container(localhost(dir.resolve("none.json")))).contains("does not exist"));
    }

    @Test
    void aPrivilegedContainerReadsNoProfile() throws IOException {
        Path fifo = dir.resolve("unused.fifo");
        Syscalls.mkfifo(fifo, 0600);
        assertTrue(resolve(container(localhost(fifo).setPrivileged(true))).seccompProfile().isEmpty());
        var privilegedPod = pod(podConfig("", LinuxSandboxSecurityContext.newBuilder().setPrivileged(true)
                .setSeccompProfilePath("localhost/" + fifo).build()));
        assertEquals(SpecInputs.Sandbox.NONE, SpecInputsResolver.sandbox(privilegedPod));
    }

    // ---- users, hostname, devices, host paths

    @Test
    void theImagesUsersAreRead() throws IOException {
        RootfsFiles rootfs = p -> switch (p) {
            case "/etc/passwd" -> Optional.of("app:x:1000:1001::/home/app:/bin/sh\n".getBytes(StandardCharsets.UTF_8));
            case "/etc/group" -> Optional.of("video:x:44:app\n".getBytes(StandardCharsets.UTF_8));
            default -> Optional.empty();
        };
        var users = SpecInputsResolver.container(pod(), container(LinuxContainerSecurityContext.newBuilder()).build(),
                rootfs, 0, SpecInputs.Handler.DEFAULT).users();
        assertEquals(List.of(new Users.PasswdEntry("app", 1000, 1001, "/home/app")), users.passwd());
        assertEquals(List.of(new Users.GroupEntry("video", 44, List.of("app"))), users.groups());
    }

    @Test
    void hostnameIsThePodsOrTheNodes() throws IOException {
        assertEquals("web-0", resolve(container(LinuxContainerSecurityContext.newBuilder())).hostname());
        var noName = SpecInputsResolver.container(pod(podConfig("", LinuxSandboxSecurityContext.getDefaultInstance())),
                container(LinuxContainerSecurityContext.newBuilder()).build(), RootfsFiles.NONE, 0,
                SpecInputs.Handler.DEFAULT);
        assertEquals(Files.readString(Path.of("/proc/sys/kernel/hostname")).trim(), noName.hostname());
        assertEquals(NodeHostname.current(), noName.hostname());
    }

    @Test
    void requestedDevicesAreStattedUnlessTheContainerGetsTheNodes() throws IOException {
        var config = container(LinuxContainerSecurityContext.newBuilder())
                .addDevices(Device.newBuilder().setContainerPath("/dev/n").setHostPath("/dev/null"));
        var inputs = resolve(config);
        Devices.Device n = inputs.devices().getFirst();
        assertEquals(List.of("c", 1L, 3L), List.of(n.type(), n.major(), n.minor()));
        assertTrue(inputs.hostDevices().isEmpty());

        var privileged = container(LinuxContainerSecurityContext.newBuilder().setPrivileged(true))
                .addDevices(Device.newBuilder().setContainerPath("/dev/x").setHostPath(dir + "/no-such-device"));
        var all = resolve(privileged);
        assertTrue(all.devices().isEmpty(), "the node's devices replace the requested ones");
        assertTrue(all.hostDevices().stream().anyMatch(d -> d.path().equals("/dev/null")), all.hostDevices().toString());
        // privileged_without_host_devices: the requested devices, statted
        var missing = assertThrows(IllegalArgumentException.class, () -> SpecInputsResolver.container(pod(),
                privileged.build(), RootfsFiles.NONE, 0, new SpecInputs.Handler(true, false)));
        assertTrue(missing.getMessage().startsWith("devices[0].host_path"), missing.getMessage());
    }

    @Test
    void hostPathsAreResolvedThroughSymlinksAndMissingOnesLeftToTheBuilder() throws IOException {
        Path data = Files.createDirectories(dir.resolve("data"));
        Path link = Files.createSymbolicLink(dir.resolve("link"), data);
        var inputs = resolve(container(LinuxContainerSecurityContext.newBuilder())
                .addMounts(Mount.newBuilder().setContainerPath("/a").setHostPath(link.toString()))
                .addMounts(Mount.newBuilder().setContainerPath("/b").setHostPath(dir + "/none"))
                .addMounts(Mount.newBuilder().setContainerPath("/c").setHostPath("relative")));
        assertEquals(Map.of(0, data.toRealPath().toString()), inputs.mountSources());
        assertFalse(inputs.mountSources().containsKey(1));
    }
}
