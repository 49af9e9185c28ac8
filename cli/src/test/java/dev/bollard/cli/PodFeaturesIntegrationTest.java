package dev.bollard.cli;

import dev.bollard.api.cri.v1.Capability;
import dev.bollard.api.cri.v1.ContainerConfig;
import dev.bollard.api.cri.v1.ContainerState;
import dev.bollard.api.cri.v1.ContainerStatusRequest;
import dev.bollard.api.cri.v1.CreateContainerRequest;
import dev.bollard.api.cri.v1.DNSConfig;
import dev.bollard.api.cri.v1.Int64Value;
import dev.bollard.api.cri.v1.LinuxContainerConfig;
import dev.bollard.api.cri.v1.LinuxContainerSecurityContext;
import dev.bollard.api.cri.v1.LinuxPodSandboxConfig;
import dev.bollard.api.cri.v1.LinuxSandboxSecurityContext;
import dev.bollard.api.cri.v1.ListPodSandboxRequest;
import dev.bollard.api.cri.v1.NamespaceMode;
import dev.bollard.api.cri.v1.NamespaceOption;
import dev.bollard.api.cri.v1.PodSandboxConfig;
import dev.bollard.api.cri.v1.PodSandboxFilter;
import dev.bollard.api.cri.v1.PodSandboxStatusRequest;
import dev.bollard.api.cri.v1.PortMapping;
import dev.bollard.api.cri.v1.Protocol;
import dev.bollard.api.cri.v1.RemovePodSandboxRequest;
import dev.bollard.api.cri.v1.ReopenContainerLogRequest;
import dev.bollard.api.cri.v1.RunPodSandboxRequest;
import dev.bollard.api.cri.v1.SecurityProfile;
import dev.bollard.api.cri.v1.StartContainerRequest;
import dev.bollard.api.cri.v1.StopPodSandboxRequest;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import org.junit.jupiter.api.Test;

import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** What a container sees: users and groups, capabilities, read-only root, host namespaces, DNS, ports, logs, scale. */
class PodFeaturesIntegrationTest extends PodNodeTest {

    private static ContainerConfig.Builder withSecurity(ContainerConfig.Builder c, LinuxContainerSecurityContext.Builder sc) {
        return c.setLinux(LinuxContainerConfig.newBuilder().setSecurityContext(sc));
    }

    @Test
    void usersGroupsCapabilitiesAndReadOnlyRoot() throws Exception {
        var podConfig = node.pod("security").build();
        String pod = node.runPod(podConfig);
        String byName = node.createAndStart(pod, podConfig, withSecurity(PodTestNode.container("byname", "sleep", "3600"),
                LinuxContainerSecurityContext.newBuilder().setRunAsUsername("www")).build());
        // The kernel keeps supplementary groups sorted.
        assertEquals("uid=1000(www) gid=1000(www) groups=50(staff),1000(www)\n", node.sh(byName, "id"));
        var st = node.rt().containerStatus(ContainerStatusRequest.newBuilder().setContainerId(byName).build()).getStatus();
        assertEquals(1000, st.getUser().getLinux().getUid());
        assertTrue(st.getUser().getLinux().getSupplementalGroupsList().contains(50L), st.getUser().toString());

        String byUid = node.createAndStart(pod, podConfig, withSecurity(PodTestNode.container("byuid", "sleep", "3600"),
                LinuxContainerSecurityContext.newBuilder().setRunAsUser(Int64Value.newBuilder().setValue(1000))
                        .setRunAsGroup(Int64Value.newBuilder().setValue(50)).addSupplementalGroups(4242)).build());
        String id = node.sh(byUid, "id");
        assertTrue(id.startsWith("uid=1000(www) gid=50(staff)"), id);
        assertTrue(id.contains("4242"), id);

        String readOnly = node.createAndStart(pod, podConfig, withSecurity(PodTestNode.container("ro", "sleep", "3600"),
                LinuxContainerSecurityContext.newBuilder().setReadonlyRootfs(true)).build());
        assertTrue(node.sh(readOnly, "touch /etc/x 2>&1; echo rc=$?").contains("Read-only file system"));
        assertTrue(node.sh(readOnly, "touch /dev/shm/x && echo shm-ok").contains("shm-ok"), "/dev/shm stays writable");

        String capped = node.createAndStart(pod, podConfig, withSecurity(PodTestNode.container("caps", "sleep", "3600"),
                LinuxContainerSecurityContext.newBuilder().setCapabilities(Capability.newBuilder()
                        .addDropCapabilities("ALL").addAddCapabilities("NET_ADMIN"))).build());
        // CAP_NET_ADMIN is bit 12 alone: 0x1000.
        assertTrue(node.sh(capped, "grep CapEff /proc/self/status").contains("0000000000001000"), node.sh(capped, "grep Cap /proc/self/status"));
        // The default set (containerd's and docker's 14 capabilities) for a container that asks for nothing.
        String plain = node.createAndStart(pod, podConfig, PodTestNode.container("plain", "sleep", "3600").build());
        assertTrue(node.sh(plain, "grep CapEff /proc/self/status").contains("00000000a80425fb"),
                node.sh(plain, "grep Cap /proc/self/status"));
        node.removePod(pod);
    }

    @Test
    void dnsHostnameAndPortMapping() throws Exception {
        int hostPort;
        try (var s = new ServerSocket(0)) {
            hostPort = s.getLocalPort();
        }
        var podConfig = node.pod("dns")
                .setDnsConfig(DNSConfig.newBuilder().addServers("10.96.0.10").addSearches("test.svc.cluster.local")
                        .addOptions("ndots:5"))
                .addPortMappings(PortMapping.newBuilder().setProtocol(Protocol.TCP).setContainerPort(8080)
                        .setHostPort(hostPort))
                .build();
        String pod = node.runPod(podConfig);
        String c = node.createAndStart(pod, podConfig, PodTestNode.container("web", "httpd", "-f", "-p", "8080", "-h", "/www")
                .build());
        assertEquals("search test.svc.cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n", node.sh(c, "cat /etc/resolv.conf"));
        assertEquals("dns\n", node.sh(c, "hostname"));
        // hostPort on the node's loopback reaches the pod through portmap.
        String page = null;
        for (int i = 0; i < 50 && page == null; i++) {
            try (var s = new Socket()) {
                s.connect(new InetSocketAddress("127.0.0.1", hostPort), 1000);
                s.getOutputStream().write("GET /index.html HTTP/1.0\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
                page = new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            } catch (java.io.IOException e) {
                Thread.sleep(100);
            }
        }
        assertTrue(page != null && page.contains("hello from a bollard pod"), String.valueOf(page));
        node.removePod(pod);
    }

    /**
     * Files and paths a request names cannot hang, crash or escape: a seccomp profile that is /dev/zero or a FIFO
     * fails at once with INVALID_ARGUMENT (before: out of memory, or a call blocked for ever holding the name), and
     * the container name is free again; a log path out of the log directory and an over-long hostname are refused.
     */
    @Test
    void requestedFilesAndPathsOutOfBoundsAreRefused() throws Exception {
        var podConfig = node.pod("bounds").build();
        String pod = node.runPod(podConfig);
        Path fifo = node.dir.resolve("profile.fifo");
        var mkfifo = new ProcessBuilder("mkfifo", fifo.toString()).inheritIO().start();
        assertEquals(0, mkfifo.waitFor());
        var rt = node.rt().withDeadlineAfter(60, TimeUnit.SECONDS);
        for (String profile : List.of("/dev/zero", fifo.toString())) {
            var config = withSecurity(PodTestNode.container("confined", "sleep", "3600"),
                    LinuxContainerSecurityContext.newBuilder().setSeccomp(SecurityProfile.newBuilder()
                            .setProfileType(SecurityProfile.ProfileType.Localhost).setLocalhostRef(profile))).build();
            var e = assertThrows(StatusRuntimeException.class, () -> rt.createContainer(CreateContainerRequest
                    .newBuilder().setPodSandboxId(pod).setConfig(config).setSandboxConfig(podConfig).build()));
            String why = e.getStatus().getDescription();
            assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), why);
            assertTrue(why.contains("seccomp.localhost_ref") && why.contains(profile + " is not a regular file"), why);
        }
        String c = node.createAndStart(pod, podConfig, PodTestNode.container("confined", "sleep", "3600").build());
        assertEquals(ContainerState.CONTAINER_RUNNING, node.status(c).getState(), "the name was not left reserved");

        var escape = assertThrows(StatusRuntimeException.class, () -> rt.createContainer(CreateContainerRequest
                .newBuilder().setPodSandboxId(pod).setSandboxConfig(podConfig)
                .setConfig(PodTestNode.container("escape", "true").setLogPath("../../escape.log")).build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, escape.getStatus().getCode());
        assertTrue(escape.getStatus().getDescription().startsWith("log_path"), escape.getStatus().getDescription());
        node.removePod(pod);

        var longName = assertThrows(StatusRuntimeException.class, () -> rt.runPodSandbox(RunPodSandboxRequest
                .newBuilder().setConfig(node.pod("longname").setHostname("h".repeat(10_000))).build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, longName.getStatus().getCode());
        assertTrue(longName.getStatus().getDescription().startsWith("hostname"), longName.getStatus().getDescription());
    }

    @Test
    void hostNamespacesShareTheNodes() throws Exception {
        var podConfig = node.pod("hostns").setLinux(LinuxPodSandboxConfig.newBuilder().setSecurityContext(
                LinuxSandboxSecurityContext.newBuilder().setNamespaceOptions(NamespaceOption.newBuilder()
                        .setNetwork(NamespaceMode.NODE).setPid(NamespaceMode.NODE).setIpc(NamespaceMode.NODE)))).build();
        String pod = node.runPod(podConfig);
        var st = node.rt().podSandboxStatus(PodSandboxStatusRequest.newBuilder().setPodSandboxId(pod).build()).getStatus();
        assertEquals("", st.getNetwork().getIp(), "a host-network pod has no pod IP of its own");
        String c = node.createAndStart(pod, podConfig, PodTestNode.container("h", "sleep", "3600")
                .setLinux(LinuxContainerConfig.newBuilder().setSecurityContext(LinuxContainerSecurityContext.newBuilder()
                        .setNamespaceOptions(NamespaceOption.newBuilder().setNetwork(NamespaceMode.NODE)
                                .setPid(NamespaceMode.NODE).setIpc(NamespaceMode.NODE)))).build());
        String hostNetns = Files.readSymbolicLink(Path.of("/proc/self/ns/net")).toString();
        assertEquals(hostNetns + "\n", node.sh(c, "readlink /proc/self/ns/net"));
        assertTrue(node.sh(c, "cat /proc/1/cmdline | tr '\\0' ' '").length() > 0);
        String ownPid = String.valueOf(ProcessHandle.current().pid());
        assertTrue(node.sh(c, "ls /proc").contains(ownPid), "the host's processes are visible");
        node.removePod(pod);

        // Without host namespaces, the container's pid 1 is the pod's infra process (a shared PID namespace).
        var shared = node.pod("sharedpid").setLinux(LinuxPodSandboxConfig.newBuilder().setSecurityContext(
                LinuxSandboxSecurityContext.newBuilder().setNamespaceOptions(NamespaceOption.newBuilder()
                        .setPid(NamespaceMode.POD)))).build();
        String pod2 = node.runPod(shared);
        String c2 = node.createAndStart(pod2, shared, PodTestNode.container("p", "sleep", "3600")
                .setLinux(LinuxContainerConfig.newBuilder().setSecurityContext(LinuxContainerSecurityContext.newBuilder()
                        .setNamespaceOptions(NamespaceOption.newBuilder().setPid(NamespaceMode.POD)))).build());
        assertEquals("/catatonit -P ", node.sh(c2, "cat /proc/1/cmdline | tr '\\0' ' '"));
        assertNotEquals(Files.readSymbolicLink(Path.of("/proc/self/ns/net")).toString() + "\n",
                node.sh(c2, "readlink /proc/self/ns/net"));
        node.removePod(pod2);
    }

    @Test
    void reopenedLogLosesNoLine() throws Exception {
        var podConfig = node.pod("rotate").build();
        String pod = node.runPod(podConfig);
        String c = node.createAndStart(pod, podConfig, PodTestNode.container("printer", "sh", "-c",
                "i=0; while [ $i -lt 200 ]; do echo line $i; i=$((i+1)); sleep 0.01; done; sleep 3600").build());
        Path log = Path.of(node.rt().containerStatus(ContainerStatusRequest.newBuilder().setContainerId(c).build())
                .getStatus().getLogPath());
        Thread.sleep(500);
        Path rotated = log.resolveSibling(log.getFileName() + ".1");
        Files.move(log, rotated);
        node.rt().reopenContainerLog(ReopenContainerLogRequest.newBuilder().setContainerId(c).build());
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (System.nanoTime() < deadline && !(Files.exists(log) && Files.readString(log).contains("line 199"))) {
            Thread.sleep(100);
        }
        var numbers = new ArrayList<Integer>();
        for (Path p : List.of(rotated, log)) {
            for (String line : Files.readAllLines(p)) {
                numbers.add(Integer.parseInt(line.substring(line.lastIndexOf(' ') + 1)));
            }
        }
        var expected = new ArrayList<Integer>();
        for (int i = 0; i < 200; i++) {
            expected.add(i);
        }
        assertEquals(expected, numbers, "every line once, in order, across the rotation");
        assertTrue(Files.size(rotated) > 0 && Files.size(log) > 0, "both files got lines");
        node.removePod(pod);
    }

    @Test
    void twentyPodsStartConcurrently() throws Exception {
        var ids = new HashSet<String>();
        try (var pool = Executors.newFixedThreadPool(10)) {
            var tasks = new ArrayList<Callable<String>>();
            for (int i = 0; i < 20; i++) {
                int n = i;
                tasks.add(() -> {
                    var podConfig = node.pod("many-" + n).putLabels("batch", "many").build();
                    String pod = node.runPod(podConfig);
                    node.createAndStart(pod, podConfig, PodTestNode.container("c", "sleep", "3600").build());
                    return pod;
                });
            }
            for (Future<String> f : pool.invokeAll(tasks)) {
                ids.add(f.get());
            }
        }
        assertEquals(20, ids.size());
        var listed = node.rt().listPodSandbox(ListPodSandboxRequest.newBuilder().setFilter(PodSandboxFilter.newBuilder()
                .putLabelSelector("batch", "many")).build()).getItemsList();
        assertEquals(20, listed.size());
        var ips = new HashSet<String>();
        for (String pod : ids) {
            ips.add(node.rt().podSandboxStatus(PodSandboxStatusRequest.newBuilder().setPodSandboxId(pod).build())
                    .getStatus().getNetwork().getIp());
        }
        assertEquals(20, ips.size(), "every pod its own IP");
        var running = node.rt().listContainers(dev.bollard.api.cri.v1.ListContainersRequest.newBuilder()
                .setFilter(dev.bollard.api.cri.v1.ContainerFilter.newBuilder().setState(
                        dev.bollard.api.cri.v1.ContainerStateValue.newBuilder().setState(ContainerState.CONTAINER_RUNNING)))
                .build()).getContainersList();
        assertTrue(running.size() >= 20);
        try (var pool = Executors.newFixedThreadPool(10)) {
            var removals = new ArrayList<Callable<Void>>();
            for (String pod : ids) {
                removals.add(() -> {
                    node.removePod(pod);
                    return null;
                });
            }
            for (Future<Void> f : pool.invokeAll(removals)) {
                f.get();
            }
        }
        assertTrue(node.mountsUnderDir().isEmpty(), node.mountsUnderDir().toString());
        assertTrue(node.shimProcesses().isEmpty(), node.shimProcesses().toString());
    }

    @Test
    void theCliDrivesAPodLikeCrictl() throws Exception {
        Path logs = Files.createDirectories(node.dir.resolve("logs/cli"));
        Path pod = node.dir.resolve("cli-pod.yaml");
        Files.writeString(pod, """
                metadata:
                  name: cli-pod
                  namespace: default
                  uid: cli-pod-uid-1
                log_directory: %s
                labels:
                  app: cli
                """.formatted(logs));
        Path ctr = node.dir.resolve("cli-ctr.json");
        Files.writeString(ctr, """
                {"metadata": {"name": "talker"}, "image": {"image": "%s"},
                 "command": ["sh", "-c", "echo hello from the cli; sleep 3600"], "log_path": "talker.log"}
                """.formatted(PodTestNode.IMAGE));
        String ep = node.daemon.endpoint();
        var run = DaemonProcess.run(node.dir, "-r", ep, "run", ctr.toString(), pod.toString());
        assertEquals(0, run.exit(), run.err());
        String cid = run.out().trim();
        assertTrue(cid.matches("[0-9a-f]{64}"), run.out());

        var pods = DaemonProcess.run(node.dir, "-r", ep, "pods", "--label", "app=cli");
        assertEquals(0, pods.exit(), pods.err());
        assertTrue(pods.out().contains("cli-pod") && pods.out().contains("Ready"), pods.out());
        var ps = DaemonProcess.run(node.dir, "-r", ep, "ps", "-q");
        assertTrue(ps.out().contains(cid.substring(0, 13)), ps.out());
        var exec = DaemonProcess.run(node.dir, "-r", ep, "exec", cid, "sh", "-c", "echo out; echo err >&2; exit 3");
        assertEquals(3, exec.exit());
        assertEquals("out\n", exec.out());
        assertEquals("err\n", exec.err());
        String logged = "";
        for (int i = 0; i < 50 && !logged.contains("hello"); i++) {
            logged = DaemonProcess.run(node.dir, "-r", ep, "logs", cid).out();
            Thread.sleep(100);
        }
        assertEquals("hello from the cli\n", logged);
        var inspect = DaemonProcess.run(node.dir, "-r", ep, "inspect", cid);
        assertTrue(inspect.out().contains("\"state\": \"CONTAINER_RUNNING\""), inspect.out());
        String podId = DaemonProcess.run(node.dir, "-r", ep, "pods", "-q", "--label", "app=cli").out().trim();
        var rmp = DaemonProcess.run(node.dir, "-r", ep, "rmp", "-f", podId);
        assertEquals(0, rmp.exit(), rmp.err());
        assertEquals(0, node.rt().listPodSandbox(ListPodSandboxRequest.newBuilder().setFilter(PodSandboxFilter.newBuilder()
                .putLabelSelector("app", "cli")).build()).getItemsCount());
    }

    @Test
    void crunRunsPodsBesideRunc() throws Exception {
        var podConfig = node.pod("crun").build();
        String pod = node.rt().runPodSandbox(RunPodSandboxRequest.newBuilder().setConfig(podConfig)
                .setRuntimeHandler("crun").build()).getPodSandboxId();
        var status = node.rt().podSandboxStatus(PodSandboxStatusRequest.newBuilder().setPodSandboxId(pod)
                .setVerbose(true).build());
        assertEquals("crun", status.getStatus().getRuntimeHandler());
        String c = node.createAndStart(pod, podConfig, PodTestNode.container("c", "sleep", "3600").build());
        assertEquals("hello from crun\n", node.sh(c, "echo hello from crun"));
        // The container's memory limit lands in the v1 memory controller, as with runc.
        node.rt().updateContainerResources(dev.bollard.api.cri.v1.UpdateContainerResourcesRequest.newBuilder()
                .setContainerId(c).setLinux(dev.bollard.api.cri.v1.LinuxContainerResources.newBuilder()
                        .setMemoryLimitInBytes(48L << 20)).build());
        assertEquals(Long.toString(48L << 20) + "\n", node.sh(c, "cat /sys/fs/cgroup/memory/memory.limit_in_bytes"));
        node.removePod(pod);
        assertTrue(node.mountsUnderDir().isEmpty(), node.mountsUnderDir().toString());
        assertTrue(node.shimProcesses().isEmpty(), node.shimProcesses().toString());
    }
}
