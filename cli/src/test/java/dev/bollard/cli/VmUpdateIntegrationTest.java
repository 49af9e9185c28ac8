package dev.bollard.cli;

import dev.bollard.api.cri.v1.ContainerState;
import dev.bollard.api.cri.v1.CreateContainerRequest;
import dev.bollard.api.cri.v1.ExecSyncRequest;
import dev.bollard.api.cri.v1.ExecSyncResponse;
import dev.bollard.api.cri.v1.LinuxContainerConfig;
import dev.bollard.api.cri.v1.LinuxContainerResources;
import dev.bollard.api.cri.v1.LinuxContainerSecurityContext;
import dev.bollard.api.cri.v1.Mount;
import dev.bollard.api.cri.v1.NamespaceMode;
import dev.bollard.api.cri.v1.NamespaceOption;
import dev.bollard.api.cri.v1.PodSandboxConfig;
import dev.bollard.api.cri.v1.PodSandboxStatusRequest;
import dev.bollard.api.cri.v1.RemovePodSandboxRequest;
import dev.bollard.api.cri.v1.RunPodSandboxRequest;
import dev.bollard.api.cri.v1.StartContainerRequest;
import dev.bollard.api.cri.v1.StopPodSandboxRequest;
import dev.bollard.api.cri.v1.UpdateContainerResourcesRequest;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * One VM pod on the {@code vm} handler through Bollard's CRI, booted once (TCG boots are slow) and shared by every
 * case: UpdateContainerResources applies inside the guest (the container's guest cgroup) and ContainerStatus says
 * so, the guest kernel's refusals are answered as a runc pod's are; and issue 17's item 8 list that
 * {@link VmHandlerIntegrationTest} does not cover: no host process is visible in the VM, two containers of the pod
 * talk over localhost, a read-only volume stays read-only and a writable one's writes reach the host, ExecSync exit
 * codes and both log streams; the last case stops and removes the pod and finds no qemu, virtiofsd, tap, mount,
 * network namespace or shim left.
 */
@LeakChecked
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class VmUpdateIntegrationTest {

    private static final long MIB = 1L << 20;

    private PodTestNode node;
    private Path guest;
    private PodSandboxConfig podConfig;
    private String pod;
    /** busybox httpd on the pod's address (port 8080), with both volumes; it also logs to stdout and stderr. */
    private String app;
    /** busybox httpd on the guest's 127.0.0.1:9090 only. */
    private String local;
    private Path readOnlyVolume;
    private Path writableVolume;
    private String netns;

    @BeforeAll
    void start() throws Exception {
        guest = VmTestNodes.buildGuest();
        node = PodTestNode.start(dir -> {
            try {
                return VmTestNodes.vmRuntimeToml(dir, guest, "memory_mb = 224\n");
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        readOnlyVolume = Files.createDirectories(node.dir.resolve("volumes/ro"));
        Files.writeString(readOnlyVolume.resolve("motd"), "from the host\n");
        writableVolume = Files.createDirectories(node.dir.resolve("volumes/rw"));

        podConfig = node.pod("vm-update").build();
        pod = node.rt().runPodSandbox(RunPodSandboxRequest.newBuilder().setConfig(podConfig)
                .setRuntimeHandler("vm").build()).getPodSandboxId();
        String info = node.rt().podSandboxStatus(PodSandboxStatusRequest.newBuilder().setPodSandboxId(pod)
                .setVerbose(true).build()).getInfoMap().get("info");
        netns = com.google.gson.JsonParser.parseString(info).getAsJsonObject().get("netNamespacePath").getAsString();
        app = node.createAndStart(pod, podConfig, PodTestNode.container("app", "sh", "-c",
                        "echo kernel $(uname -r); echo to stderr >&2; exec httpd -f -p 8080 -h /www")
                .addMounts(Mount.newBuilder().setHostPath(readOnlyVolume.toString()).setContainerPath("/ro")
                        .setReadonly(true))
                .addMounts(Mount.newBuilder().setHostPath(writableVolume.toString()).setContainerPath("/rw"))
                .build());
        local = node.createAndStart(pod, podConfig, PodTestNode.container("local", "httpd", "-f", "-p",
                "127.0.0.1:9090", "-h", "/www").build());
    }

    @AfterAll
    void stop() throws Exception {
        if (node != null) {
            Path dir = node.dir;
            node.close();
            assertEquals(List.of(), VmTestNodes.vmProcesses(dir), "shim, qemu or virtiofsd left");
        }
    }

    @Test
    @Order(1)
    void theContainersSeeTheGuestKernelAndNoHostProcess() throws Exception {
        String guestKernel = Files.readString(guest.resolve("kernel-release")).strip();
        String hostKernel = Files.readString(Path.of("/proc/sys/kernel/osrelease")).strip();
        assertNotEquals(hostKernel, guestKernel);
        assertEquals(guestKernel + "\n", run(app, "uname -r"));

        // Every process a container can see is the guest's: the pod's (pid POD) and, with the node's PID namespace
        // (which on a runc pod is the host's), the guest's own; never the host's daemon, shim or qemu.
        String hostPid = Long.toString(node.daemon.process.pid());
        for (String c : new String[]{app, hostPidContainer()}) {
            String procs = run(c, "for p in /proc/[0-9]*; do echo \"${p#/proc/} $(tr '\\0' ' ' < $p/cmdline)\"; done");
            List<String> lines = procs.lines().toList();
            assertFalse(lines.isEmpty(), procs);
            for (String line : lines) {
                assertFalse(line.contains("java") || line.contains("qemu") || line.contains("virtiofsd")
                        || line.contains("containerd-shim"), "a host process in the VM: " + line + "\n" + procs);
            }
            assertTrue(lines.stream().noneMatch(l -> l.startsWith(hostPid + " ") && l.contains("bollard")),
                    "the daemon's pid " + hostPid + ": " + procs);
        }
    }

    /** A container that asks for the node's PID namespace: in the VM that is the guest's, not the host's. */
    private String hostPidContainer() {
        return node.createAndStart(pod, podConfig, PodTestNode.container("hostpid", "sleep", "3600")
                .setLinux(LinuxContainerConfig.newBuilder().setSecurityContext(LinuxContainerSecurityContext
                        .newBuilder().setNamespaceOptions(NamespaceOption.newBuilder().setPid(NamespaceMode.NODE))))
                .build());
    }

    @Test
    @Order(2)
    void execSyncExitCodesAndBothLogStreams() throws Exception {
        for (int code : new int[]{0, 1, 42, 255}) {
            ExecSyncResponse r = exec(app, "echo out " + code + "; echo err " + code + " >&2; exit " + code);
            assertEquals(code, r.getExitCode());
            assertEquals("out " + code + "\n", r.getStdout().toStringUtf8());
            assertEquals("err " + code + "\n", r.getStderr().toStringUtf8());
        }
        assertEquals(137, exec(app, "kill -9 $$").getExitCode(), "killed by a signal: 128 + 9");

        String guestKernel = Files.readString(guest.resolve("kernel-release")).strip();
        Path log = Path.of(podConfig.getLogDirectory(), "app.log");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (!(Files.exists(log) && Files.readString(log).contains("stderr F to stderr"))
                && System.nanoTime() < deadline) {
            Thread.sleep(200);
        }
        String text = Files.readString(log);
        assertTrue(text.contains(" stdout F kernel " + guestKernel + "\n"), "CRI log: " + text);
        assertTrue(text.contains(" stderr F to stderr\n"), "CRI log: " + text);
    }

    @Test
    @Order(2)
    void streamingExecExitCodes() throws Exception {
        // `bollard exec` without -s: Exec through the daemon's streaming server, as kubectl exec reaches a pod
        for (int code : new int[]{0, 3}) {
            var exec = DaemonProcess.run(node.dir, "-r", node.daemon.endpoint(), "exec", app, "sh", "-c",
                    "uname -r; echo err >&2; exit " + code);
            assertEquals(code, exec.exit(), exec.err());
            assertEquals(Files.readString(guest.resolve("kernel-release")).strip() + "\n", exec.out());
            assertEquals("err\n", exec.err());
        }
    }

    @Test
    @Order(3)
    void theHostReachesThePodIpAndThePodsContainersTalkOverLocalhost() throws Exception {
        String ip = node.rt().podSandboxStatus(PodSandboxStatusRequest.newBuilder().setPodSandboxId(pod).build())
                .getStatus().getNetwork().getIp();
        String page = VmTestNodes.fetch(ip, 8080);
        assertTrue(page.contains("hello from a bollard pod"), "the pod at " + ip + ":8080 answered: " + page);
        // local's httpd listens on the guest's 127.0.0.1 only: app reaches it, as containers of one pod do
        String viaLoopback = "";
        for (int i = 0; i < 50 && !viaLoopback.contains("hello"); i++) {
            viaLoopback = exec(app, "wget -q -O - http://127.0.0.1:9090/index.html").getStdout().toStringUtf8();
            if (!viaLoopback.contains("hello")) {
                Thread.sleep(200);
            }
        }
        assertEquals("hello from a bollard pod\n", viaLoopback);
    }

    @Test
    @Order(4)
    void aReadOnlyVolumeStaysReadOnlyAndWritesToAWritableOneReachTheHost() throws Exception {
        assertEquals("from the host\n", run(app, "cat /ro/motd"));
        ExecSyncResponse refused = exec(app, "echo changed > /ro/motd");
        assertNotEquals(0, refused.getExitCode());
        assertTrue(refused.getStderr().toStringUtf8().contains("Read-only file system"),
                refused.getStderr().toStringUtf8());
        assertNotEquals(0, exec(app, "touch /ro/new").getExitCode());
        assertEquals("from the host\n", Files.readString(readOnlyVolume.resolve("motd")));
        assertFalse(Files.exists(readOnlyVolume.resolve("new")));

        run(app, "echo written in the guest > /rw/out.txt && mkdir /rw/dir && echo deeper > /rw/dir/f");
        assertEquals("written in the guest\n", Files.readString(writableVolume.resolve("out.txt")));
        assertEquals("deeper\n", Files.readString(writableVolume.resolve("dir/f")));
    }

    @Test
    @Order(5)
    void updateContainerResourcesAppliesInTheGuest() throws Exception {
        String before = cgroup(local, "cpu.weight");
        update(local, LinuxContainerResources.newBuilder().setMemoryLimitInBytes(96 * MIB).setCpuPeriod(100_000)
                .setCpuQuota(50_000).setCpuShares(512).build());
        assertEquals(Long.toString(96 * MIB), cgroup(local, "memory.max"));
        assertEquals("50000 100000", cgroup(local, "cpu.max"));
        String weight = cgroup(local, "cpu.weight");
        assertNotEquals(before, weight, "cpu shares 512 (of the default 1024) lower the weight");
        assertTrue(Integer.parseInt(weight) < Integer.parseInt(before), before + " -> " + weight);
        var status = node.status(local).getResources().getLinux();
        assertEquals(96 * MIB, status.getMemoryLimitInBytes(), status.toString());
        assertEquals(50_000, status.getCpuQuota(), status.toString());
        assertEquals(100_000, status.getCpuPeriod(), status.toString());
        assertEquals(512, status.getCpuShares(), status.toString());

        // a second update changes them again
        update(local, LinuxContainerResources.newBuilder().setMemoryLimitInBytes(64 * MIB).setCpuPeriod(50_000)
                .setCpuQuota(100_000).build());
        assertEquals(Long.toString(64 * MIB), cgroup(local, "memory.max"));
        assertEquals("100000 50000", cgroup(local, "cpu.max"));
        assertEquals(64 * MIB, node.status(local).getResources().getLinux().getMemoryLimitInBytes());
        assertEquals(ContainerState.CONTAINER_RUNNING, node.status(local).getState());

        // two updates in a row, well within virtiofs' one-second name cache: the guest has the second's values
        // (one resources file name for both had the guest apply the first's again)
        update(local, LinuxContainerResources.newBuilder().setMemoryLimitInBytes(72 * MIB).setCpuPeriod(100_000)
                .setCpuQuota(40_000).build());
        update(local, LinuxContainerResources.newBuilder().setMemoryLimitInBytes(80 * MIB).setCpuPeriod(100_000)
                .setCpuQuota(30_000).build());
        assertEquals(Long.toString(80 * MIB), cgroup(local, "memory.max"));
        assertEquals("30000 100000", cgroup(local, "cpu.max"));
    }

    @Test
    @Order(6)
    void theGuestKernelsRefusalsAreAnsweredAsARuncPodsAre() throws Exception {
        update(local, LinuxContainerResources.newBuilder().setMemoryLimitInBytes(64 * MIB).setCpuPeriod(100_000)
                .setCpuQuota(50_000).build());
        // a CFS quota below 1 ms: the guest kernel refuses cpu.max (EINVAL), as the host's refuses cfs_quota_us
        var quota = assertThrows(StatusRuntimeException.class, () -> update(local, LinuxContainerResources
                .newBuilder().setCpuPeriod(100_000).setCpuQuota(500).build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, quota.getStatus().getCode(), quota.getStatus().toString());
        assertTrue(quota.getStatus().getDescription().contains("refused a value"), quota.getStatus().getDescription());
        // a memory limit below what the container uses: cgroup v1 refuses it (EBUSY), v2's memory.max would take it
        // and OOM-kill the container; the VM pod refuses it too and the container runs on
        var memory = assertThrows(StatusRuntimeException.class, () -> update(local, LinuxContainerResources
                .newBuilder().setMemoryLimitInBytes(4096).build()));
        assertEquals(Status.Code.FAILED_PRECONDITION, memory.getStatus().getCode(), memory.getStatus().toString());
        assertTrue(memory.getStatus().getDescription().contains("below what the container already uses"),
                memory.getStatus().getDescription());
        assertEquals(ContainerState.CONTAINER_RUNNING, node.status(local).getState(), "still running as it was");
        assertEquals(Long.toString(64 * MIB), cgroup(local, "memory.max"));
        assertEquals("50000 100000", cgroup(local, "cpu.max"));
        var status = node.status(local).getResources().getLinux();
        assertEquals(64 * MIB, status.getMemoryLimitInBytes(), "the refused update is not reported: " + status);
        assertEquals(50_000, status.getCpuQuota(), "the refused update is not reported: " + status);
        assertTrue(exec(app, "wget -q -O - http://127.0.0.1:9090/index.html").getStdout().toStringUtf8()
                .contains("hello"), "local still serves");
    }

    @Test
    @Order(7)
    void anUpdateBeforeStartIsWhatTheContainerStartsWith() throws Exception {
        String id = node.rt().createContainer(CreateContainerRequest.newBuilder().setPodSandboxId(pod)
                .setSandboxConfig(podConfig).setConfig(PodTestNode.container("later", "sleep", "3600")).build())
                .getContainerId();
        update(id, LinuxContainerResources.newBuilder().setMemoryLimitInBytes(48 * MIB).setCpuPeriod(100_000)
                .setCpuQuota(20_000).build());
        node.rt().startContainer(StartContainerRequest.newBuilder().setContainerId(id).build());
        assertEquals(Long.toString(48 * MIB), cgroup(id, "memory.max"));
        assertEquals("20000 100000", cgroup(id, "cpu.max"));
        assertEquals(48 * MIB, node.status(id).getResources().getLinux().getMemoryLimitInBytes());
    }

    @Test
    @Order(100)
    void stopAndRemoveLeaveNoVmTapNetnsMountOrShim() throws Exception {
        assertTrue(VmTestNodes.vmProcesses(node.dir).stream().anyMatch(p -> p.contains("qemu-system")), VmTestNodes.vmProcesses(node.dir).toString());
        assertTrue(links(netns).contains("tap0"), "the VM's tap in the pod's netns " + netns + ": " + links(netns));

        node.rt().stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(pod).build());
        // stopped: the VM is down (qemu, virtiofsd) and the pod's network with its tap is gone
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (VmTestNodes.vmProcesses(node.dir).stream().anyMatch(p -> p.contains("qemu-system") || p.contains("virtiofsd"))
                && System.nanoTime() < deadline) {
            Thread.sleep(200);
        }
        assertEquals(List.of(), VmTestNodes.vmProcesses(node.dir).stream()
                .filter(p -> p.contains("qemu-system") || p.contains("virtiofsd")).toList(), "the VM after stop");
        assertFalse(links(netns).contains("tap0"), "tap after stop: " + links(netns));

        node.rt().removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(pod).build());
        assertFalse(Files.exists(Path.of(netns)), "the pod's netns " + netns);
        assertEquals(List.of(), node.mountsUnderDir());
        assertEquals(List.of(), node.shimProcesses());
        assertEquals(List.of(), VmTestNodes.vmProcesses(node.dir), "shim, qemu or virtiofsd left after removing the pod");
        try (var left = Files.list(Files.createDirectories(node.dir.resolve("vmstate")))) {
            assertEquals(List.of(), left.toList(), "VM state left");
        }
        // the VM's host-side data left the volumes as the guest wrote them
        assertEquals("written in the guest\n", Files.readString(writableVolume.resolve("out.txt")));
    }

    private void update(String id, LinuxContainerResources resources) {
        node.rt().updateContainerResources(UpdateContainerResourcesRequest.newBuilder().setContainerId(id)
                .setLinux(resources).build());
    }

    /**
     * A file of the container's own cgroup in the guest. The container sees the guest's whole cgroup2 tree (no
     * cgroup namespace: the host is cgroup v1, so Bollard's spec asks for none), so the path is /proc/self/cgroup's.
     */
    private String cgroup(String container, String file) {
        return run(container, "cat /sys/fs/cgroup$(cut -d: -f3 /proc/self/cgroup)/" + file).strip();
    }

    /** The link names of a network namespace (empty when it is gone or has none). */
    private static List<String> links(String netns) throws Exception {
        if (!Files.exists(Path.of(netns))) {
            return List.of();
        }
        var p = new ProcessBuilder("nsenter", "--net=" + netns, "ip", "-o", "link", "show").redirectErrorStream(true)
                .start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        p.waitFor();
        var names = new ArrayList<String>();
        for (String line : out.lines().toList()) {
            String[] f = line.split(":\\s*");
            if (f.length > 1) {
                names.add(f[1].split("@")[0]);
            }
        }
        return names;
    }

    private ExecSyncResponse exec(String container, String script) {
        return node.rt().execSync(ExecSyncRequest.newBuilder().setContainerId(container).addCmd("sh").addCmd("-c")
                .addCmd(script).setTimeout(60).build());
    }

    /** stdout of {@code sh -c script} in the container, which must exit 0. */
    private String run(String container, String script) {
        ExecSyncResponse r = exec(container, script);
        assertEquals(0, r.getExitCode(), script + ": " + r.getStderr().toStringUtf8());
        return r.getStdout().toStringUtf8();
    }

}
