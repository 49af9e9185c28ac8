package dev.bollard.cli;

import dev.bollard.api.cri.v1.ContainerState;
import dev.bollard.api.cri.v1.ExecSyncRequest;
import dev.bollard.api.cri.v1.ExecSyncResponse;
import dev.bollard.api.cri.v1.PodSandboxStatusRequest;
import dev.bollard.api.cri.v1.RunPodSandboxRequest;
import dev.bollard.api.cri.v1.StatusRequest;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A pod on the {@code vm} handler through Bollard's CRI: the pod's shim is containerd-shim-bollard-vm-v2 (run here
 * from the test class path), so the pod runs in a qemu VM with the guest kernel vm/guest/build.sh makes, named in
 * {@code [runtimes.vm]}. One VM boot: Status says the accelerator the node's KVM probe chose and why; the VM is
 * sized from the config, the pod's memory limit and its overhead; a container shows the guest kernel, ExecSync
 * returns exit codes, logs reach the host, stats come from the guest's cgroups, the pod's containers share its
 * hostname and IPC namespace (PID only when asked), a container over its memory limit ends OOMKilled, the pod IP
 * answers HTTP and the guest has the CNI interface's routes (an extra one included); removing the pod leaves no
 * shim, qemu, virtiofsd, mount or VM state.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class VmHandlerIntegrationTest {

    private PodTestNode node;
    private Path guest;

    @BeforeAll
    void start() throws Exception {
        guest = VmTestNodes.buildGuest();
        node = PodTestNode.start(dir -> {
            try {
                // An extra CNI route (beside the default) that the guest must get too: the node's conflist is
                // written before this function is asked for the TOML.
                Path conflist = dir.resolve("cni/10-test.conflist");
                String cni = Files.readString(conflist);
                String routes = "\"routes\": [{\"dst\": \"0.0.0.0/0\"}]";
                assertTrue(cni.contains(routes), cni);
                Files.writeString(conflist, cni.replace(routes,
                        "\"routes\": [{\"dst\": \"0.0.0.0/0\"}, {\"dst\": \"" + EXTRA_ROUTE + "\"}]"));
                // kernel, initrd and memory from [runtimes.vm]: the launcher below sets none of them
                return VmTestNodes.vmRuntimeToml(dir, guest, "memory_mb = " + BASE_MEMORY_MB + "\n");
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
    }

    static final int BASE_MEMORY_MB = 160;
    static final String EXTRA_ROUTE = "198.51.100.0/24";
    static final long POD_MEMORY_LIMIT = 128L << 20;
    static final long OVERHEAD_MEMORY = 64L << 20;

    @AfterAll
    void stop() throws Exception {
        if (node != null) {
            Path dir = node.dir;
            node.close();
            assertEquals(List.of(), VmTestNodes.vmProcesses(dir), "shim, qemu or virtiofsd left");
        }
    }

    @Test
    void aVmPodRunsItsContainersOnTheGuestKernel() throws Exception {
        // accelerator auto: the node's KVM probe (bounded; on these PVM nodes it fails) decides, then Status says
        // which accelerator and why
        String info = "";
        long probeDeadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
        while (System.nanoTime() < probeDeadline) {
            info = node.rt().status(StatusRequest.newBuilder().setVerbose(true).build()).getInfoMap().get("handlerChecks");
            if (!info.contains("probing /dev/kvm")) {
                break;
            }
            Thread.sleep(500);
        }
        assertTrue(info.contains("qemu microvm, accelerator "), "the vm handler says how it runs: " + info);
        boolean kvm = info.contains("accelerator kvm");
        assertTrue(kvm ? info.contains("accelerator kvm (/dev/kvm booted the guest kernel in ")
                : info.contains("accelerator tcg (") && info.contains("/dev/kvm"), "and why: " + info);

        var podConfig = node.pod("vm-pod").setLinux(dev.bollard.api.cri.v1.LinuxPodSandboxConfig.newBuilder()
                .setResources(dev.bollard.api.cri.v1.LinuxContainerResources.newBuilder()
                        .setMemoryLimitInBytes(POD_MEMORY_LIMIT))
                .setOverhead(dev.bollard.api.cri.v1.LinuxContainerResources.newBuilder()
                        .setMemoryLimitInBytes(OVERHEAD_MEMORY))).build();
        String pod = node.rt().runPodSandbox(RunPodSandboxRequest.newBuilder().setConfig(podConfig)
                .setRuntimeHandler("vm").build()).getPodSandboxId();
        assertEquals("vm", node.rt().podSandboxStatus(PodSandboxStatusRequest.newBuilder().setPodSandboxId(pod)
                .build()).getStatus().getRuntimeHandler());
        List<String> vm = VmTestNodes.vmProcesses(node.dir);
        assertTrue(vm.stream().anyMatch(p -> p.contains("qemu-system")), "the pod's VM: " + vm);

        String app = node.createAndStart(pod, podConfig, PodTestNode.container("app", "sh", "-c",
                "echo kernel $(uname -r); exec httpd -f -p 8080 -h /www").build());
        assertEquals(ContainerState.CONTAINER_RUNNING, node.status(app).getState());
        Path log = Path.of(podConfig.getLogDirectory(), "app.log");
        String guestKernel = Files.readString(guest.resolve("kernel-release")).strip();
        String hostKernel = Files.readString(Path.of("/proc/sys/kernel/osrelease")).strip();
        assertNotEquals(hostKernel, guestKernel);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!(Files.exists(log) && Files.readString(log).contains("kernel ")) && System.nanoTime() < deadline) {
            Thread.sleep(200);
        }
        assertTrue(Files.readString(log).contains("stdout F kernel " + guestKernel), "the container's log (CRI format) "
                + "names the guest kernel " + guestKernel + ": " + Files.readString(log));

        ExecSyncResponse exec = node.rt().execSync(ExecSyncRequest.newBuilder().setContainerId(app).addCmd("sh")
                .addCmd("-c").addCmd("uname -r; echo err >&2; exit 3").setTimeout(60).build());
        assertEquals(3, exec.getExitCode());
        assertEquals(guestKernel + "\n", exec.getStdout().toStringUtf8());
        assertEquals("err\n", exec.getStderr().toStringUtf8());

        // The VM's size: memory_mb of [runtimes.vm] + the pod's memory limit + the RuntimeClass overhead.
        long sizedKib = (BASE_MEMORY_MB + ((POD_MEMORY_LIMIT + OVERHEAD_MEMORY) >> 20)) * 1024;
        long memTotalKib = Long.parseLong(run(app, "awk '/MemTotal/ {print $2}' /proc/meminfo").strip());
        assertTrue(memTotalKib > (BASE_MEMORY_MB + 100) * 1024L && memTotalKib <= sizedKib,
                "guest MemTotal " + memTotalKib + " KiB for a VM of " + sizedKib + " KiB");

        // Stats come from the guest's cgroups through the shim, not from host cgroups (which would read 0).
        var stats = node.rt().containerStats(dev.bollard.api.cri.v1.ContainerStatsRequest.newBuilder()
                .setContainerId(app).build()).getStats();
        assertTrue(stats.getMemory().getWorkingSetBytes().getValue() > 0, "container memory: " + stats);
        assertTrue(stats.getCpu().getUsageCoreNanoSeconds().getValue() > 0, "container cpu: " + stats);
        // The pod's figures are the sum of its tasks. The pod and the container are sampled apart, and a working set
        // moves between two samples (CI saw the pod's read below the container's once): a few reads in turn, and
        // the sum must hold in one of them.
        var podStats = node.rt().podSandboxStats(dev.bollard.api.cri.v1.PodSandboxStatsRequest.newBuilder()
                .setPodSandboxId(pod).build()).getStats().getLinux();
        for (int i = 0; i < 5 && podStats.getMemory().getWorkingSetBytes().getValue()
                < stats.getMemory().getWorkingSetBytes().getValue(); i++) {
            Thread.sleep(1_000);
            stats = node.rt().containerStats(dev.bollard.api.cri.v1.ContainerStatsRequest.newBuilder()
                    .setContainerId(app).build()).getStats();
            podStats = node.rt().podSandboxStats(dev.bollard.api.cri.v1.PodSandboxStatsRequest.newBuilder()
                    .setPodSandboxId(pod).build()).getStats().getLinux();
        }
        assertTrue(podStats.getMemory().getWorkingSetBytes().getValue()
                >= stats.getMemory().getWorkingSetBytes().getValue(), "pod memory: " + podStats + " container: " + stats);
        assertTrue(podStats.getProcess().getProcessCount().getValue() >= 2, "the pause and httpd: " + podStats);

        // The pod's containers share its UTS and IPC namespaces in the guest; PID only when asked.
        String peer = node.createAndStart(pod, podConfig, PodTestNode.container("peer", "sleep", "3600")
                .setLinux(dev.bollard.api.cri.v1.LinuxContainerConfig.newBuilder().setSecurityContext(
                        dev.bollard.api.cri.v1.LinuxContainerSecurityContext.newBuilder().setNamespaceOptions(
                                dev.bollard.api.cri.v1.NamespaceOption.newBuilder()
                                        .setPid(dev.bollard.api.cri.v1.NamespaceMode.CONTAINER)))).build());
        String namespaces = "hostname; readlink /proc/self/ns/uts; readlink /proc/self/ns/ipc";
        String inApp = run(app, namespaces);
        assertTrue(inApp.startsWith("vm-pod\n"), "the pod's hostname: " + inApp);
        assertEquals(inApp, run(peer, namespaces), "one UTS and IPC namespace for the pod");
        assertNotEquals(run(app, "readlink /proc/self/ns/pid"), run(peer, "readlink /proc/self/ns/pid"));
        assertTrue(run(app, "cat /proc/1/cmdline").contains("catatonit"), "app (pid: POD) sees the pod's init");
        assertTrue(run(peer, "cat /proc/1/cmdline").startsWith("sleep"), "peer (pid: CONTAINER) is its own pid 1");

        // A container OOM-killed in the guest (its cgroup's memory.max) ends OOMKilled, as a runc pod's does: the
        // agent sees the kill in memory.events, the shim publishes TaskOOM before the exit.
        String hog = node.createAndStart(pod, podConfig, PodTestNode.container("hog", "sh", "-c",
                "a=$(head -c 100000000 /dev/zero | tr '\\0' x); echo survived")
                .setLinux(dev.bollard.api.cri.v1.LinuxContainerConfig.newBuilder().setResources(
                        dev.bollard.api.cri.v1.LinuxContainerResources.newBuilder()
                                .setMemoryLimitInBytes(16L << 20))).build());
        var hogStatus = node.awaitExit(hog);
        assertEquals(137, hogStatus.getExitCode(), hogStatus.toString());
        assertEquals("OOMKilled", hogStatus.getReason(), hogStatus.toString());

        // The pod's IP is the guest's: the VM's NIC is joined to the CNI interface (tap + tc mirred).
        String ip = node.rt().podSandboxStatus(PodSandboxStatusRequest.newBuilder().setPodSandboxId(pod).build())
                .getStatus().getNetwork().getIp();
        String page = VmTestNodes.fetch(ip, 8080);
        assertTrue(page.contains("hello from a bollard pod"), "the pod at " + ip + ":8080 answered: " + page);
        // Every IPv4 route of the CNI interface is the guest's too (the default and the conflist's extra one,
        // both via the bridge's gateway).
        String gateway = ip.substring(0, ip.lastIndexOf('.')) + ".1";
        String routes = run(app, "ip route");
        assertTrue(routes.contains("default via " + gateway + " dev eth0"), "the guest's routes: " + routes);
        assertTrue(routes.contains(EXTRA_ROUTE + " via " + gateway + " dev eth0"), "the guest's routes: " + routes);

        node.removePod(pod);
        assertTrue(node.mountsUnderDir().isEmpty(), node.mountsUnderDir().toString());
        assertEquals(List.of(), VmTestNodes.vmProcesses(node.dir), "shim, qemu or virtiofsd left after removing the pod");
        try (var left = Files.list(Files.createDirectories(node.dir.resolve("vmstate")))) {
            assertEquals(List.of(), left.toList(), "VM state left");
        }
    }

    /** stdout of {@code sh -c script} in the container, which must exit 0. */
    private String run(String container, String script) {
        ExecSyncResponse r = node.rt().execSync(ExecSyncRequest.newBuilder().setContainerId(container).addCmd("sh")
                .addCmd("-c").addCmd(script).setTimeout(60).build());
        assertEquals(0, r.getExitCode(), script + ": " + r.getStderr().toStringUtf8());
        return r.getStdout().toStringUtf8();
    }

}
