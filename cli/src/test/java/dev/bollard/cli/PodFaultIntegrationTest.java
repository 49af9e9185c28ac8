package dev.bollard.cli;

import dev.bollard.api.cri.v1.ContainerState;
import dev.bollard.api.cri.v1.CreateContainerRequest;
import dev.bollard.api.cri.v1.PodSandboxStateValue;
import dev.bollard.api.cri.v1.StartContainerRequest;
import dev.bollard.api.cri.v1.PodSandboxFilter;
import dev.bollard.api.cri.v1.ListPodSandboxRequest;
import dev.bollard.api.cri.v1.PodSandboxState;
import dev.bollard.api.cri.v1.PodSandboxStatusRequest;
import dev.bollard.api.cri.v1.RemovePodSandboxRequest;
import dev.bollard.api.cri.v1.StopPodSandboxRequest;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Faults under a real node. CNI plugins that fail: at ADD (a chained plugin refusing the pod), at exec (a pod name
 * too long for the environment) and at DEL (a wrapper that fails while a flag file exists); something else than a
 * file at a container's log path. Every failure ends in a clear status and, once the pod is gone, nothing of it is
 * left on the node.
 */
class PodFaultIntegrationTest extends PodNodeTest {

    private static final Pattern ROLLED_BACK = Pattern.compile(
            "pod sandbox failed to start; rolling back.*?\\b([0-9a-f]{64})\\b");

    private Path conflist;
    private String original;

    @BeforeEach
    void keepConflist() throws Exception {
        conflist = node.dir.resolve("cni/10-test.conflist");
        original = Files.readString(conflist);
    }

    @AfterEach
    void restoreConflist() throws Exception {
        Files.writeString(conflist, original);
    }

    /** The node's network with {@code plugin} inserted after the bridge (the daemon reloads a changed conflist). */
    private void chainAfterBridge(String plugin) throws Exception {
        Files.writeString(conflist, original.replace("{\"type\": \"portmap\"", plugin + ",\n  {\"type\": \"portmap\""));
    }

    /** IDs of the pods whose RunPodSandbox the daemon rolled back (the caller never learns them). */
    private Set<String> rolledBackIds() throws Exception {
        var ids = new TreeSet<String>();
        var m = ROLLED_BACK.matcher(node.daemon.logText());
        while (m.find()) {
            ids.add(m.group(1));
        }
        return ids;
    }

    /** What the node holds of these pods: {@link LeftoverScan} on the test directory, less the daemon itself. */
    private Set<String> leftovers(Set<String> ids) {
        String daemon = "process " + node.daemon.process.pid() + ":";
        var found = new TreeSet<>(LeftoverScan.scan(List.of(node.dir), ids));
        found.removeIf(s -> s.startsWith(daemon));
        return found;
    }

    @Test
    void aChainedPluginFailingAddLeavesNothingBehindAfterEachRetry() throws Exception {
        chainAfterBridge("{\"type\": \"tuning\", \"sysctl\": {\"net.ipv4.conf.eth0.no_such_sysctl_bollard\": \"1\"}}");
        Set<String> before = rolledBackIds();
        var config = node.pod("tuned").build();
        for (int attempt = 0; attempt < 3; attempt++) { // kubelet retries the same pod
            var e = assertThrows(StatusRuntimeException.class, () -> node.runPod(config));
            assertEquals(Status.Code.INTERNAL, e.getStatus().getCode(), e.getStatus().toString());
            assertTrue(e.getStatus().getDescription().contains("CNI plugin tuning ADD failed"), e.getStatus().toString());
            assertTrue(e.getStatus().getDescription().contains("no_such_sysctl_bollard"), e.getStatus().toString());
        }
        var ids = new TreeSet<>(rolledBackIds());
        ids.removeAll(before);
        assertEquals(3, ids.size(), "three attempts rolled back: " + ids);
        assertEquals(Set.of(), leftovers(ids), "left behind by the failed attempts");
        for (Path d : List.of(node.daemon.state.resolve("netns"), node.daemon.state.resolve("pods"),
                node.daemon.root.resolve("pods"), node.daemon.root.resolve("store/sandboxes"))) {
            try (var left = Files.list(d)) {
                assertEquals(List.of(), left.toList(), "nothing left in " + d);
            }
        }
        assertEquals(0, node.rt().listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsCount());

        Files.writeString(conflist, original); // the network healed: the same pod now runs
        String pod = node.runPod(config);
        node.removePod(pod);
        assertEquals(Set.of(), leftovers(Set.of(pod)), "left behind by the healed pod");
    }

    /**
     * The pod's shim SIGKILLed while RunPodSandbox runs, its infra process already made, then the network failing:
     * the rollback cannot ask the dead shim to kill and delete the task, so it runs the shim binary's delete
     * (runc delete --force). Before, the infra process, its runc state and its cgroup stayed, tracked by nothing.
     */
    @Test
    void aShimKilledDuringAFailingRunPodSandboxLeavesNothingBehind() throws Exception {
        Path infraPid = node.dir.resolve("killed-shim-infra.pid");
        Path plugin = node.dir.resolve("cni-bin/shim-killer");
        Files.writeString(plugin, """
                #!/bin/sh
                # loopback, except that ADD SIGKILLs the pod's shim once the pod's infra process (a child of the
                # shim that is not runc itself) exists, then fails
                if [ "$CNI_COMMAND" = ADD ]; then
                  i=0
                  while [ $i -lt 400 ]; do
                    shim=$(pgrep -f -- "containerd-shim.* -id $CNI_CONTAINERID( |\\$)" | head -n 1)
                    if [ -n "$shim" ]; then
                      for c in $(pgrep -P "$shim"); do
                        if [ "$(cat /proc/$c/comm 2>/dev/null)" != runc ]; then
                          echo "$c" > %1$s
                          kill -9 "$shim"
                          echo '{"cniVersion": "1.0.0", "code": 11, "msg": "injected: the shim was killed"}'
                          exit 1
                        fi
                      done
                    fi
                    sleep 0.05
                    i=$((i + 1))
                  done
                  echo '{"cniVersion": "1.0.0", "code": 11, "msg": "no infra process appeared"}'
                  exit 1
                fi
                exec /usr/lib/cni/loopback
                """.formatted(infraPid));
        Files.setPosixFilePermissions(plugin, PosixFilePermissions.fromString("rwxr-xr-x"));
        chainAfterBridge("{\"type\": \"shim-killer\"}");
        Set<String> before = rolledBackIds();

        var e = assertThrows(StatusRuntimeException.class, () -> node.runPod(node.pod("shim-killed").build()));
        assertFalse(e.getStatus().getDescription().contains("no infra process appeared"), e.getStatus().toString());
        assertTrue(Files.exists(infraPid), "the plugin never found the infra process: " + e.getStatus());
        long pid = Long.parseLong(Files.readString(infraPid).strip());
        var ids = new TreeSet<>(rolledBackIds());
        ids.removeAll(before);
        assertEquals(1, ids.size(), "one attempt rolled back: " + ids);
        assertFalse(runsAfterAWhile(pid), "the infra process " + pid + " of the rolled-back pod still runs");
        assertEquals(Set.of(), leftovers(ids), "left behind by the rolled-back pod");
        assertEquals(0, node.rt().listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsCount());
    }

    /**
     * Whether the process still runs 10 s from now. Killed, it may stay a zombie a moment until init (its parent
     * once the shim died) reaps it: a zombie does not run.
     */
    private static boolean runsAfterAWhile(long pid) throws InterruptedException {
        for (int i = 0; i < 200; i++) {
            String stat;
            try {
                stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
            } catch (java.io.IOException gone) {
                return false;
            }
            if (stat.substring(stat.lastIndexOf(')') + 2).startsWith("Z")) {
                return false;
            }
            Thread.sleep(50);
        }
        return true;
    }

    @Test
    void aPodNameTooLongForThePluginsEnvironmentFailsCleanly() throws Exception {
        Set<String> before = rolledBackIds();
        // CNI_ARGS carries the name: over the kernel's 128 KiB for one environment string, exec fails (E2BIG)
        String name = "n".repeat(200 * 1024);
        var config = node.pod("long").setMetadata(node.pod("long").getMetadata().toBuilder().setName(name)).build();
        var e = assertThrows(StatusRuntimeException.class, () -> node.runPod(config));
        assertTrue(Set.of(Status.Code.INVALID_ARGUMENT, Status.Code.INTERNAL).contains(e.getStatus().getCode()),
                e.getStatus().toString());
        var ids = new TreeSet<>(rolledBackIds());
        ids.removeAll(before);
        assertEquals(Set.of(), leftovers(ids), "left behind by the refused pod");
        assertEquals(0, node.rt().listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsCount());
    }

    @Test
    void aPluginFailingDelKeepsTheNetworkUntilARetrySucceeds() throws Exception {
        Path flag = node.dir.resolve("fail-del");
        Path wrapper = node.dir.resolve("cni-bin/flaky-bridge");
        Files.writeString(wrapper, """
                #!/bin/sh
                # the bridge plugin, except that DEL fails while %1$s exists
                if [ "$CNI_COMMAND" = DEL ] && [ -e %1$s ]; then
                  echo '{"cniVersion": "1.0.0", "code": 11, "msg": "injected DEL failure"}'
                  exit 1
                fi
                exec /usr/lib/cni/bridge
                """.formatted(flag));
        Files.setPosixFilePermissions(wrapper, PosixFilePermissions.fromString("rwxr-xr-x"));
        Files.writeString(conflist, original.replace("{\"type\": \"bridge\"", "{\"type\": \"flaky-bridge\""));

        var config = node.pod("flaky").build();
        String pod = node.runPod(config);
        Path netns = node.daemon.state.resolve("netns").resolve(pod);
        Files.writeString(flag, "");
        for (int attempt = 0; attempt < 2; attempt++) { // kubelet retries a failed StopPodSandbox
            var e = assertThrows(StatusRuntimeException.class, () -> node.rt().stopPodSandbox(
                    StopPodSandboxRequest.newBuilder().setPodSandboxId(pod).build()));
            assertEquals(Status.Code.INTERNAL, e.getStatus().getCode(), e.getStatus().toString());
            assertTrue(e.getStatus().getDescription().contains("injected DEL failure"), e.getStatus().toString());
            // The pod is down (its infra process killed) but its network stays for DEL to retry on.
            assertEquals(PodSandboxState.SANDBOX_NOTREADY, node.rt().podSandboxStatus(PodSandboxStatusRequest
                    .newBuilder().setPodSandboxId(pod).build()).getStatus().getState());
            assertTrue(Files.exists(netns), "the netns is kept until DEL succeeds");
            assertTrue(leftovers(Set.of(pod)).stream().anyMatch(s -> s.startsWith("IP ")),
                    "the IP stays allocated until DEL succeeds");
            assertTrue(node.shimProcesses().isEmpty(), "the shim is gone: " + node.shimProcesses());
        }
        // RemovePodSandbox must not drop a pod whose network it could not tear down either.
        var e = assertThrows(StatusRuntimeException.class, () -> node.rt().removePodSandbox(
                RemovePodSandboxRequest.newBuilder().setPodSandboxId(pod).build()));
        assertTrue(e.getStatus().getDescription().contains("injected DEL failure"), e.getStatus().toString());
        assertEquals(1, node.rt().listPodSandbox(ListPodSandboxRequest.newBuilder().setFilter(PodSandboxFilter
                .newBuilder().setId(pod).setState(PodSandboxStateValue.newBuilder()
                        .setState(PodSandboxState.SANDBOX_NOTREADY))).build()).getItemsCount());

        Files.delete(flag); // the plugin recovers: the retry goes through and nothing is left
        node.rt().stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(pod).build());
        assertFalse(Files.exists(netns), "netns released once DEL succeeded");
        node.rt().removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(pod).build());
        assertEquals(Set.of(), leftovers(Set.of(pod)), "left behind by the pod");
    }

    @Test
    void aLinkOrFifoAtTheLogPathFailsStartContainerWithInvalidArgument() throws Exception {
        var podConfig = node.pod("logs-planted").build();
        String pod = node.runPod(podConfig);
        Path logDir = Path.of(podConfig.getLogDirectory());
        Path victim = Files.writeString(node.dir.resolve("victim"), "untouched\n");
        Files.createSymbolicLink(logDir.resolve("linked.log"), victim);
        assertEquals(0, new ProcessBuilder("mkfifo", logDir.resolve("fifo.log").toString()).start().waitFor());
        for (String name : List.of("linked", "fifo")) {
            String id = node.rt().createContainer(CreateContainerRequest.newBuilder().setPodSandboxId(pod)
                    .setConfig(PodTestNode.container(name, "echo", "written").build()).setSandboxConfig(podConfig)
                    .build()).getContainerId();
            var e = assertThrows(StatusRuntimeException.class, () -> node.rt().startContainer(
                    StartContainerRequest.newBuilder().setContainerId(id).build()));
            assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), e.getStatus().toString());
            assertTrue(e.getStatus().getDescription().contains("log_path"), e.getStatus().toString());
            assertEquals(ContainerState.CONTAINER_EXITED, node.status(id).getState());
        }
        assertEquals("untouched\n", Files.readString(victim));
        node.removePod(pod);
        assertEquals(Set.of(), leftovers(Set.of(pod)), "left behind by the pod");
    }
    /** A link at a directory between log_directory and the file (a volume can plant one): refused, not followed. */
    @Test
    void aLinkAtADirectoryOfTheLogPathFailsStartContainerWithInvalidArgument() throws Exception {
        var podConfig = node.pod("logs-dir-planted").build();
        String pod = node.runPod(podConfig);
        Path logDir = Path.of(podConfig.getLogDirectory());
        Path outside = Files.createDirectories(node.dir.resolve("outside-logs"));
        Files.createSymbolicLink(logDir.resolve("escape"), outside);
        String id = node.rt().createContainer(CreateContainerRequest.newBuilder().setPodSandboxId(pod)
                .setConfig(PodTestNode.container("escape", "echo", "written").setLogPath("escape/0.log"))
                .setSandboxConfig(podConfig).build()).getContainerId();
        var e = assertThrows(StatusRuntimeException.class, () -> node.rt().startContainer(
                StartContainerRequest.newBuilder().setContainerId(id).build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), e.getStatus().toString());
        assertTrue(e.getStatus().getDescription().contains("log_path"), e.getStatus().toString());
        assertEquals(ContainerState.CONTAINER_EXITED, node.status(id).getState());
        try (var left = Files.list(outside)) {
            assertEquals(List.of(), left.toList(), "written outside log_directory through the link");
        }
        node.removePod(pod);
        assertEquals(Set.of(), leftovers(Set.of(pod)), "left behind by the pod");
    }
}
