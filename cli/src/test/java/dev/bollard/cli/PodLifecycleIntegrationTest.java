package dev.bollard.cli;

import dev.bollard.api.cri.v1.ContainerFilter;
import dev.bollard.api.cri.v1.ContainerState;
import dev.bollard.api.cri.v1.ContainerStateValue;
import dev.bollard.api.cri.v1.ContainerStatusRequest;
import dev.bollard.api.cri.v1.CreateContainerRequest;
import dev.bollard.api.cri.v1.ExecSyncRequest;
import dev.bollard.api.cri.v1.LinuxContainerResources;
import dev.bollard.api.cri.v1.LinuxContainerConfig;
import dev.bollard.api.cri.v1.ListContainersRequest;
import dev.bollard.api.cri.v1.ListPodSandboxRequest;
import dev.bollard.api.cri.v1.PodSandboxConfig;
import dev.bollard.api.cri.v1.PodSandboxFilter;
import dev.bollard.api.cri.v1.PodSandboxState;
import dev.bollard.api.cri.v1.PodSandboxStateValue;
import dev.bollard.api.cri.v1.PodSandboxStatusRequest;
import dev.bollard.api.cri.v1.RemoveContainerRequest;
import dev.bollard.api.cri.v1.RemovePodSandboxRequest;
import dev.bollard.api.cri.v1.ReopenContainerLogRequest;
import dev.bollard.api.cri.v1.RunPodSandboxRequest;
import dev.bollard.api.cri.v1.StartContainerRequest;
import dev.bollard.api.cri.v1.StopContainerRequest;
import dev.bollard.api.cri.v1.StopPodSandboxRequest;
import dev.bollard.api.cri.v1.UpdateContainerResourcesRequest;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Pods and containers end to end on a real node: the daemon process, containerd-shim-runc-v2, runc, CNI's
 * bridge/host-local/portmap/loopback in real network namespaces, through the generated CRI client.
 */
class PodLifecycleIntegrationTest extends PodNodeTest {

    private dev.bollard.api.cri.v1.ExecSyncResponse exec(String id, String... cmd) {
        return node.rt().execSync(ExecSyncRequest.newBuilder().setContainerId(id).addAllCmd(List.of(cmd))
                .setTimeout(20).build());
    }

    @Test
    void podWithTwoContainersSharesTheNetworkAndGetsAnIpOnTheBridge() throws Exception {
        var podConfig = node.pod("web").build();
        String pod = node.runPod(podConfig);
        var st = node.rt().podSandboxStatus(PodSandboxStatusRequest.newBuilder().setPodSandboxId(pod).setVerbose(true)
                .build());
        assertEquals(PodSandboxState.SANDBOX_READY, st.getStatus().getState());
        String ip = st.getStatus().getNetwork().getIp();
        assertTrue(ip.startsWith(node.subnetPrefix + "."), "pod IP " + ip + " in the test subnet");
        assertTrue(st.getInfoMap().get("info").contains("\"runtimeSpec\""), "verbose info carries the spec");

        String server = node.createAndStart(pod, podConfig, PodTestNode.container("httpd", "httpd", "-f", "-p", "8080",
                "-h", "/www").build());
        String client = node.createAndStart(pod, podConfig, PodTestNode.container("client", "sleep", "3600").build());
        assertEquals(ContainerState.CONTAINER_RUNNING, node.status(server).getState());

        // The second container reaches the first over the pod's shared loopback.
        String body = "";
        for (int i = 0; i < 50 && !body.contains("hello"); i++) {
            body = exec(client, "wget", "-qO-", "http://127.0.0.1:8080/index.html").getStdout().toStringUtf8();
            Thread.sleep(100);
        }
        assertEquals("hello from a bollard pod\n", body);
        // The host reaches the pod on its IP across the bridge.
        var ping = new ProcessBuilder("/bin/busybox", "ping", "-c", "1", "-W", "2", ip).redirectErrorStream(true).start();
        assertTrue(ping.waitFor(10, TimeUnit.SECONDS));
        assertEquals(0, ping.exitValue(), new String(ping.getInputStream().readAllBytes()));
        // Hostname and hosts file come from the pod.
        assertEquals("web\n", exec(client, "hostname").getStdout().toStringUtf8());
        assertTrue(exec(client, "cat", "/etc/hosts").getStdout().toStringUtf8().contains(ip + "\tweb"));

        var list = node.rt().listContainers(ListContainersRequest.newBuilder().setFilter(ContainerFilter.newBuilder()
                .setPodSandboxId(pod.substring(0, 12))).build()).getContainersList();
        assertEquals(2, list.size());
        // PodSandboxStatus reports the pod's containers (asked again: the status above predates them)
        var withContainers = node.rt().podSandboxStatus(PodSandboxStatusRequest.newBuilder().setPodSandboxId(pod)
                .build());
        assertEquals(java.util.Set.of(server, client), withContainers.getContainersStatusesList().stream()
                .map(dev.bollard.api.cri.v1.ContainerStatus::getId).collect(java.util.stream.Collectors.toSet()));
        // the pod's cgroup parent, in whichever hierarchies this host has (v1 controllers, or cgroup2 alone)
        String podCgroup = "/bollard/" + pod;
        var hierarchies = dev.bollard.daemon.linux.Cgroups.hierarchies();
        assertFalse(hierarchies.isEmpty(), "the host has cgroup hierarchies");
        assertTrue(dev.bollard.daemon.linux.Cgroups.exists(podCgroup), "pod cgroup " + podCgroup + " made");

        node.removePod(pod);
        assertThrows(StatusRuntimeException.class, () -> node.status(server));
        assertTrue(node.mountsUnderDir().isEmpty(), "no mount left: " + node.mountsUnderDir());
        assertTrue(node.shimProcesses().isEmpty(), "no shim left: " + node.shimProcesses());
        assertFalse(Files.exists(node.daemon.state.resolve("netns").resolve(pod)), "netns pin removed");
        for (Path h : hierarchies) {
            assertFalse(Files.exists(dev.bollard.daemon.linux.Cgroups.dir(h, podCgroup)), "pod cgroup removed from " + h);
        }
        // host-local released the address
        try (var files = Files.list(node.dir.resolve("ipam"))) {
            assertTrue(files.flatMap(d -> {
                try {
                    return Files.list(d);
                } catch (java.io.IOException e) {
                    return java.util.stream.Stream.empty();
                }
            }).noneMatch(f -> f.getFileName().toString().equals(ip)), "IP " + ip + " released");
        }
    }

    @Test
    void exitCodesReasonsAndLogs() throws Exception {
        var podConfig = node.pod("exits").build();
        String pod = node.runPod(podConfig);
        String ok = node.createAndStart(pod, podConfig, PodTestNode.container("ok", "sh", "-c",
                "echo out line; echo err line >&2; printf partial").build());
        String bad = node.createAndStart(pod, podConfig, PodTestNode.container("bad", "sh", "-c", "exit 3").build());
        var okStatus = node.awaitExit(ok);
        assertEquals(0, okStatus.getExitCode());
        assertEquals("Completed", okStatus.getReason());
        assertTrue(okStatus.getFinishedAt() >= okStatus.getStartedAt() && okStatus.getStartedAt() >= okStatus.getCreatedAt());
        var badStatus = node.awaitExit(bad);
        assertEquals(3, badStatus.getExitCode());
        assertEquals("Error", badStatus.getReason());

        var lines = Files.readAllLines(Path.of(okStatus.getLogPath()));
        assertEquals(3, lines.size(), lines.toString());
        assertTrue(lines.stream().anyMatch(l -> l.matches("\\S+Z stdout F out line")), lines.toString());
        assertTrue(lines.stream().anyMatch(l -> l.matches("\\S+Z stderr F err line")), lines.toString());
        assertTrue(lines.stream().anyMatch(l -> l.matches("\\S+Z stdout [FP] partial")), lines.toString());

        // An exited container cannot be started again, its log cannot be reopened.
        var again = assertThrows(StatusRuntimeException.class, () -> node.rt().startContainer(
                StartContainerRequest.newBuilder().setContainerId(ok).build()));
        assertEquals(Status.Code.FAILED_PRECONDITION, again.getStatus().getCode());
        var reopen = assertThrows(StatusRuntimeException.class, () -> node.rt().reopenContainerLog(
                ReopenContainerLogRequest.newBuilder().setContainerId(ok).build()));
        assertEquals(Status.Code.FAILED_PRECONDITION, reopen.getStatus().getCode());

        var exited = node.rt().listContainers(ListContainersRequest.newBuilder().setFilter(ContainerFilter.newBuilder()
                .setPodSandboxId(pod).setState(ContainerStateValue.newBuilder().setState(ContainerState.CONTAINER_EXITED)))
                .build()).getContainersList();
        assertEquals(2, exited.size());
        node.rt().removeContainer(RemoveContainerRequest.newBuilder().setContainerId(bad).build());
        node.rt().removeContainer(RemoveContainerRequest.newBuilder().setContainerId(bad).build()); // idempotent
        node.removePod(pod);
    }

    @Test
    void stopEscalatesToSigkillAfterTheTimeout() throws Exception {
        var podConfig = node.pod("stubborn").build();
        String pod = node.runPod(podConfig);
        String c = node.createAndStart(pod, podConfig, PodTestNode.container("stubborn", "sh", "-c",
                "trap '' TERM; while true; do sleep 1; done").build());
        String polite = node.createAndStart(pod, podConfig, PodTestNode.container("polite", "sleep", "1000").build());
        long t0 = System.nanoTime();
        node.rt().stopContainer(StopContainerRequest.newBuilder().setContainerId(c).setTimeout(1).build());
        assertTrue(System.nanoTime() - t0 >= TimeUnit.MILLISECONDS.toNanos(900), "waited for the timeout first");
        assertEquals(137, node.status(c).getExitCode());
        node.rt().stopContainer(StopContainerRequest.newBuilder().setContainerId(polite).setTimeout(10).build());
        assertEquals(143, node.status(polite).getExitCode(), "SIGTERM ended it");
        // Stopping again, or stopping what does not exist, succeeds.
        node.rt().stopContainer(StopContainerRequest.newBuilder().setContainerId(c).setTimeout(1).build());
        node.rt().stopContainer(StopContainerRequest.newBuilder().setContainerId("0123456789abcdef").build());
        node.removePod(pod);
    }

    @Test
    void execSyncReportsOutputExitCodeAndTimeout() throws Exception {
        var podConfig = node.pod("exec").build();
        String pod = node.runPod(podConfig);
        String c = node.createAndStart(pod, podConfig, PodTestNode.container("sleeper", "sleep", "3600").build());
        var r = exec(c, "sh", "-c", "echo to-out; echo to-err >&2; exit 7");
        assertEquals("to-out\n", r.getStdout().toStringUtf8());
        assertEquals("to-err\n", r.getStderr().toStringUtf8());
        assertEquals(7, r.getExitCode());
        var timeout = assertThrows(StatusRuntimeException.class, () -> node.rt().execSync(ExecSyncRequest.newBuilder()
                .setContainerId(c).addAllCmd(List.of("sleep", "30")).setTimeout(1).build()));
        assertEquals(Status.Code.DEADLINE_EXCEEDED, timeout.getStatus().getCode());
        // The timed-out command is gone when the call returns (what critest checks next).
        assertEquals("", exec(c, "sh", "-c", "ps | grep 'sleep 30' | grep -v grep; true").getStdout().toStringUtf8());
        var empty = assertThrows(StatusRuntimeException.class, () -> node.rt().execSync(ExecSyncRequest.newBuilder()
                .setContainerId(c).build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, empty.getStatus().getCode());
        // Resources updated while running are what the status reports.
        node.rt().updateContainerResources(UpdateContainerResourcesRequest.newBuilder().setContainerId(c)
                .setLinux(LinuxContainerResources.newBuilder().setCpuShares(512).setMemoryLimitInBytes(64L << 20)).build());
        assertEquals(64L << 20, node.status(c).getResources().getLinux().getMemoryLimitInBytes());
        String limit = exec(c, "cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes").getStdout().toStringUtf8().trim();
        assertEquals(Long.toString(64L << 20), limit);
        node.removePod(pod);
    }

    @Test
    void memoryLimitKillIsReportedAsOomKilled() throws Exception {
        var podConfig = node.pod("oom").build();
        String pod = node.runPod(podConfig);
        String c = node.createAndStart(pod, podConfig, PodTestNode.container("hog", "sh", "-c",
                "a=$(head -c 100000000 /dev/zero | tr '\\0' x); echo survived")
                .setLinux(LinuxContainerConfig.newBuilder().setResources(LinuxContainerResources.newBuilder()
                        .setMemoryLimitInBytes(16L << 20))).build());
        var s = node.awaitExit(c);
        assertEquals(137, s.getExitCode(), s.toString());
        assertEquals("OOMKilled", s.getReason());
        node.removePod(pod);
    }

    @Test
    void badInputGetsClearStatuses() throws Exception {
        var missingPod = assertThrows(StatusRuntimeException.class, () -> node.rt().podSandboxStatus(
                PodSandboxStatusRequest.newBuilder().setPodSandboxId("feedface").build()));
        assertEquals(Status.Code.NOT_FOUND, missingPod.getStatus().getCode());
        // Stop and remove of what does not exist succeed (the CRI asks them to be idempotent).
        node.rt().stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId("feedface").build());
        node.rt().removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId("feedface").build());
        node.rt().removeContainer(RemoveContainerRequest.newBuilder().setContainerId("feedface").build());

        var noMeta = assertThrows(StatusRuntimeException.class, () -> node.runPod(PodSandboxConfig.getDefaultInstance()));
        assertEquals(Status.Code.INVALID_ARGUMENT, noMeta.getStatus().getCode());
        var unknownHandler = assertThrows(StatusRuntimeException.class, () -> node.rt().runPodSandbox(
                RunPodSandboxRequest.newBuilder().setConfig(node.pod("h").build()).setRuntimeHandler("kata").build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, unknownHandler.getStatus().getCode());
        assertTrue(unknownHandler.getStatus().getDescription().contains("runc"), "names the known handlers");

        var podConfig = node.pod("bad").build();
        String pod = node.runPod(podConfig);
        var noImage = assertThrows(StatusRuntimeException.class, () -> node.rt().createContainer(
                CreateContainerRequest.newBuilder().setPodSandboxId(pod).setSandboxConfig(podConfig)
                        .setConfig(PodTestNode.container("x", "true").setImage(
                                dev.bollard.api.cri.v1.ImageSpec.newBuilder().setImage("nosuch/image:1"))).build()));
        assertEquals(Status.Code.NOT_FOUND, noImage.getStatus().getCode());
        var noPod = assertThrows(StatusRuntimeException.class, () -> node.rt().createContainer(
                CreateContainerRequest.newBuilder().setPodSandboxId("feedface").setSandboxConfig(podConfig)
                        .setConfig(PodTestNode.container("x", "true")).build()));
        assertEquals(Status.Code.NOT_FOUND, noPod.getStatus().getCode());
        node.rt().createContainer(CreateContainerRequest.newBuilder().setPodSandboxId(pod).setSandboxConfig(podConfig)
                .setConfig(PodTestNode.container("dup", "true")).build());
        var dup = assertThrows(StatusRuntimeException.class, () -> node.rt().createContainer(
                CreateContainerRequest.newBuilder().setPodSandboxId(pod).setSandboxConfig(podConfig)
                        .setConfig(PodTestNode.container("dup", "true")).build()));
        assertEquals(Status.Code.ALREADY_EXISTS, dup.getStatus().getCode());

        node.rt().stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(pod).build());
        var notReady = node.rt().listPodSandbox(ListPodSandboxRequest.newBuilder().setFilter(PodSandboxFilter.newBuilder()
                .setState(PodSandboxStateValue.newBuilder().setState(PodSandboxState.SANDBOX_NOTREADY))).build());
        assertTrue(notReady.getItemsList().stream().anyMatch(p -> p.getId().equals(pod)));
        var inStopped = assertThrows(StatusRuntimeException.class, () -> node.rt().createContainer(
                CreateContainerRequest.newBuilder().setPodSandboxId(pod).setSandboxConfig(podConfig)
                        .setConfig(PodTestNode.container("late", "true")).build()));
        assertEquals(Status.Code.FAILED_PRECONDITION, inStopped.getStatus().getCode());
        node.rt().stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(pod).build()); // idempotent
        node.removePod(pod);
    }

    @Test
    void concurrentRunsOfOnePodNameGiveExactlyOneSandbox() throws Exception {
        var config = node.pod("twin").build();
        try (var pool = Executors.newVirtualThreadPerTaskExecutor()) {
            var tasks = new ArrayList<Callable<String>>();
            for (int i = 0; i < 2; i++) {
                tasks.add(() -> node.runPod(config));
            }
            int ok = 0;
            int exists = 0;
            String id = null;
            for (Future<String> f : pool.invokeAll(tasks)) {
                try {
                    id = f.get();
                    ok++;
                } catch (java.util.concurrent.ExecutionException e) {
                    assertEquals(Status.Code.ALREADY_EXISTS, ((StatusRuntimeException) e.getCause()).getStatus().getCode());
                    exists++;
                }
            }
            assertEquals(1, ok);
            assertEquals(1, exists);
            var labelled = node.rt().listPodSandbox(ListPodSandboxRequest.newBuilder().setFilter(PodSandboxFilter
                    .newBuilder().setId(id)).build()).getItemsList();
            assertEquals(1, labelled.size());
            node.removePod(id);
        }
    }

    @Test
    void aPodThatFailsToStartLeavesNothingBehind() throws Exception {
        // runc refuses a sysctl the kernel does not have: the infra task fails while CNI ADD runs beside it.
        var config = node.pod("broken").setLinux(dev.bollard.api.cri.v1.LinuxPodSandboxConfig.newBuilder()
                .putSysctls("net.ipv4.no_such_sysctl", "1")).build();
        var e = assertThrows(StatusRuntimeException.class, () -> node.runPod(config));
        assertTrue(e.getStatus().getDescription() != null && !e.getStatus().getDescription().isEmpty(), e.toString());
        assertEquals(0, node.rt().listPodSandbox(ListPodSandboxRequest.newBuilder().setFilter(PodSandboxFilter
                .newBuilder().putLabelSelector("test", "pod-lifecycle")).build()).getItemsList().stream()
                .filter(p -> p.getMetadata().getName().equals("broken")).count());
        assertTrue(node.mountsUnderDir().isEmpty(), "no mount left: " + node.mountsUnderDir());
        assertTrue(node.shimProcesses().isEmpty(), "no shim left: " + node.shimProcesses());
        try (var pods = Files.list(node.daemon.state.resolve("pods"));
             var netns = Files.list(node.daemon.state.resolve("netns"))) {
            assertEquals(0, pods.count(), "no bundle left");
            assertEquals(0, netns.count(), "no netns pin left");
        }
        // host-local holds no address for it: only its bookkeeping files remain.
        try (var files = Files.walk(node.dir.resolve("ipam"))) {
            var reserved = files.filter(Files::isRegularFile).map(f -> f.getFileName().toString())
                    .filter(n -> n.matches("\\d+\\.\\d+\\.\\d+\\.\\d+")).toList();
            assertEquals(List.of(), reserved);
        }
        // The name was released: the same pod, fixed, runs.
        String pod = node.runPod(node.pod("broken").setMetadata(config.getMetadata()).build());
        node.removePod(pod);
    }

    @Test
    void aShimKilledUnderARunningPodIsCleanedUp() throws Exception {
        var podConfig = node.pod("orphaned").build();
        String pod = node.runPod(podConfig);
        String c = node.createAndStart(pod, podConfig, PodTestNode.container("sleeper", "sleep", "4242").build());
        String shim = node.shimProcesses().stream().filter(p -> p.contains(pod)).findFirst().orElseThrow();
        long shimPid = Long.parseLong(shim.substring(0, shim.indexOf(':')));
        ProcessHandle.of(shimPid).orElseThrow().destroyForcibly();
        var s = node.awaitExit(c);
        assertEquals(255, s.getExitCode(), s.toString());
        // as containerd reports its dead shim's TaskExit: an ordinary failed exit ("Unknown" is for a task found
        // gone at a restart, aShimThatDiedWhileTheDaemonWasDownIsCleanedUp)
        assertEquals("Error", s.getReason(), s.toString());
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (System.nanoTime() < deadline && node.rt().podSandboxStatus(PodSandboxStatusRequest.newBuilder()
                .setPodSandboxId(pod).build()).getStatus().getState() != PodSandboxState.SANDBOX_NOTREADY) {
            Thread.sleep(50);
        }
        assertEquals(PodSandboxState.SANDBOX_NOTREADY, node.rt().podSandboxStatus(PodSandboxStatusRequest.newBuilder()
                .setPodSandboxId(pod).build()).getStatus().getState());
        // The container's own process did not outlive its shim.
        assertTrue(ProcessHandle.allProcesses().noneMatch(p -> p.info().commandLine().orElse("").contains("sleep 4242")),
                "the orphaned container process was killed");
        node.removePod(pod);
        assertTrue(node.mountsUnderDir().isEmpty(), "no mount left: " + node.mountsUnderDir());
        assertTrue(node.shimProcesses().isEmpty(), "no shim left: " + node.shimProcesses());
    }

    @Test
    void podSysctlsReachItsContainers() throws Exception {
        // kubelet's safe sysctls: an IPC one and a network one, namespaced with the pod.
        var podConfig = node.pod("sysctls").setLinux(dev.bollard.api.cri.v1.LinuxPodSandboxConfig.newBuilder()
                .putSysctls("kernel.shm_rmid_forced", "1")
                .putSysctls("net.ipv4.ip_local_port_range", "20000 30000")).build();
        String pod = node.runPod(podConfig);
        String c = node.createAndStart(pod, podConfig, PodTestNode.container("reader", "sleep", "3600").build());
        assertEquals("1\n", exec(c, "cat", "/proc/sys/kernel/shm_rmid_forced").getStdout().toStringUtf8());
        assertEquals("20000\t30000\n", exec(c, "cat", "/proc/sys/net/ipv4/ip_local_port_range").getStdout()
                .toStringUtf8());
        node.removePod(pod);
    }

    @Test
    void hostPathVolumesIncludingSymlinksAndReadOnly() throws Exception {
        Path host = Files.createDirectories(node.dir.resolve("volumes/data"));
        Files.writeString(host.resolve("flag.txt"), "from the host\n");
        Path link = node.dir.resolve("volumes/data-link");
        Files.createSymbolicLink(link, host);
        var podConfig = node.pod("volumes").build();
        String pod = node.runPod(podConfig);
        String c = node.createAndStart(pod, podConfig, PodTestNode.container("v", "sleep", "3600")
                .addMounts(dev.bollard.api.cri.v1.Mount.newBuilder().setHostPath(host.toString()).setContainerPath("/data")
                        .setSelinuxRelabel(true))
                .addMounts(dev.bollard.api.cri.v1.Mount.newBuilder().setHostPath(link.toString()).setContainerPath("/linked"))
                .addMounts(dev.bollard.api.cri.v1.Mount.newBuilder().setHostPath(host.toString()).setContainerPath("/ro")
                        .setReadonly(true))
                .build());
        assertEquals("from the host\n", exec(c, "cat", "/data/flag.txt").getStdout().toStringUtf8());
        assertEquals("from the host\n", exec(c, "cat", "/linked/flag.txt").getStdout().toStringUtf8(),
                "a symlinked host path mounts its target");
        exec(c, "sh", "-c", "echo written > /data/new.txt");
        assertEquals("written\n", Files.readString(host.resolve("new.txt")), "a writable volume writes through");
        var ro = exec(c, "sh", "-c", "echo x > /ro/nope.txt");
        assertNotEquals(0, ro.getExitCode());
        assertTrue(ro.getStderr().toStringUtf8().contains("Read-only"), ro.getStderr().toStringUtf8());
        var missing = assertThrows(StatusRuntimeException.class, () -> node.rt().createContainer(
                CreateContainerRequest.newBuilder().setPodSandboxId(pod).setSandboxConfig(podConfig)
                        .setConfig(PodTestNode.container("m", "true").addMounts(dev.bollard.api.cri.v1.Mount.newBuilder()
                                .setHostPath(node.dir.resolve("volumes/absent").toString()).setContainerPath("/x"))).build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, missing.getStatus().getCode(), "a missing host path is refused");
        node.removePod(pod);
        assertTrue(Files.exists(host.resolve("flag.txt")), "removing the pod leaves the volume's content alone");
    }

    @Test
    void privilegedAndSeccompProfiles() throws Exception {
        var podConfig = node.pod("priv").setLinux(dev.bollard.api.cri.v1.LinuxPodSandboxConfig.newBuilder()
                .setSecurityContext(dev.bollard.api.cri.v1.LinuxSandboxSecurityContext.newBuilder().setPrivileged(true)))
                .build();
        String pod = node.runPod(podConfig);
        var sc = dev.bollard.api.cri.v1.LinuxContainerSecurityContext.newBuilder();
        String privileged = node.createAndStart(pod, podConfig, PodTestNode.container("p", "sleep", "3600")
                .setLinux(dev.bollard.api.cri.v1.LinuxContainerConfig.newBuilder().setSecurityContext(
                        sc.clone().setPrivileged(true))).build());
        var mounted = exec(privileged, "sh", "-c", "mkdir -p /mnt/t && mount -t tmpfs none /mnt/t && echo mounted");
        assertTrue(mounted.getStdout().toStringUtf8().contains("mounted"), mounted.getStderr().toStringUtf8());
        assertEquals("0\n", exec(privileged, "sh", "-c", "grep Seccomp: /proc/self/status | tr -dc 0-9; echo")
                .getStdout().toStringUtf8(), "privileged: no seccomp filter");

        String confined = node.createAndStart(pod, podConfig, PodTestNode.container("c", "sleep", "3600")
                .setLinux(dev.bollard.api.cri.v1.LinuxContainerConfig.newBuilder().setSecurityContext(sc.clone()
                        .setNoNewPrivs(true).setSeccomp(dev.bollard.api.cri.v1.SecurityProfile.newBuilder()
                                .setProfileType(dev.bollard.api.cri.v1.SecurityProfile.ProfileType.RuntimeDefault))))
                .build());
        var status = exec(confined, "cat", "/proc/self/status").getStdout().toStringUtf8();
        assertTrue(status.contains("Seccomp:\t2"), "RuntimeDefault installs a filter: " + status);
        assertTrue(status.contains("NoNewPrivs:\t1"), status);
        // Without the privileges, the same mount is refused; so is a new user namespace (the default profile).
        assertNotEquals(0, exec(confined, "sh", "-c", "mkdir -p /mnt/t && mount -t tmpfs none /mnt/t").getExitCode());
        assertNotEquals(0, exec(confined, "unshare", "-U", "true").getExitCode());
        node.removePod(pod);
    }
}
