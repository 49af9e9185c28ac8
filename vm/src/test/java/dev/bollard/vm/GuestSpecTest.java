package dev.bollard.vm;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class GuestSpecTest {

    private static final String HOST_SPEC = """
            {"ociVersion":"1.0.2",
             "process":{"args":["sh"],"apparmorProfile":"cri-containerd.apparmor.d","selinuxLabel":"x"},
             "root":{"path":"/var/lib/bollard/rootfs/abc","readonly":true},
             "hooks":{"createRuntime":[{"path":"/usr/bin/hook"}]},
             "mounts":[
               {"destination":"/proc","type":"proc","source":"proc"},
               {"destination":"/etc/hosts","type":"bind","source":"/var/lib/bollard/pods/p/hosts","options":["rbind","ro"]},
               {"destination":"/data","source":"/srv/data","options":["rbind","rw"]},
               {"destination":"/dev/shm","type":"tmpfs","source":"shm","options":["nosuid"]}],
             "linux":{"cgroupsPath":"/kubepods/besteffort/podx/abc",
               "namespaces":[{"type":"pid"},{"type":"ipc","path":"/proc/42/ns/ipc"},{"type":"network","path":"/var/run/netns/cni-1"},{"type":"mount"}],
               "sysctl":{"net.ipv4.ip_forward":"1","kernel.shm_rmid_forced":"1"},
               "mountLabel":"y"}}
            """;

    @Test
    void hostReferencesAreRewrittenForTheGuest() {
        JsonObject host = JsonParser.parseString(HOST_SPEC).getAsJsonObject();
        var result = GuestSpec.rewrite(host, "abc", "/run/bollard/shared/abc");
        JsonObject spec = result.spec();

        assertEquals("rootfs", spec.getAsJsonObject("root").get("path").getAsString());
        assertTrue(spec.getAsJsonObject("root").get("readonly").getAsBoolean(), "readonly rootfs kept");
        assertFalse(spec.has("hooks"));
        assertFalse(spec.getAsJsonObject("process").has("apparmorProfile"));
        assertFalse(spec.getAsJsonObject("process").has("selinuxLabel"));

        assertEquals(List.of(new GuestSpec.HostBind("/var/lib/bollard/pods/p/hosts", "0", true),
                new GuestSpec.HostBind("/srv/data", "1", false)), result.binds());
        var sources = new ArrayList<String>();
        spec.getAsJsonArray("mounts").forEach(m -> sources.add(m.getAsJsonObject().get("source").getAsString()));
        assertEquals(List.of("proc", "/run/bollard/shared/abc/mounts/0", "/run/bollard/shared/abc/mounts/1", "shm"),
                sources);

        JsonObject linux = spec.getAsJsonObject("linux");
        assertEquals("/bollard/abc", linux.get("cgroupsPath").getAsString());
        assertEquals("[{\"type\":\"pid\"},{\"type\":\"ipc\"},{\"type\":\"mount\"}]",
                linux.getAsJsonArray("namespaces").toString());
        assertEquals("{\"kernel.shm_rmid_forced\":\"1\"}", linux.getAsJsonObject("sysctl").toString());
        assertFalse(linux.has("mountLabel"));
        assertEquals(java.util.Optional.of("/var/run/netns/cni-1"), result.networkNamespace());
        assertEquals(java.util.Optional.empty(), result.shmSource(), "a tmpfs /dev/shm is no pod's shm");
    }

    @Test
    void thePodsShmBindBecomesTheGuestsPodTmpfs() {
        JsonObject host = JsonParser.parseString("""
                {"root":{"path":"/x/rootfs"},"mounts":[
                   {"destination":"/etc/hosts","type":"bind","source":"/pods/p/hosts","options":["rbind","ro"]},
                   {"destination":"/dev/shm","type":"bind","source":"/pods/p/shm","options":["rbind","ro","nosuid"]}],
                 "linux":{}}
                """).getAsJsonObject();
        var result = GuestSpec.rewrite(host, "c1", "/run/bollard/shared/c1");
        assertEquals(java.util.Optional.of("/pods/p/shm"), result.shmSource());
        assertEquals(List.of(new GuestSpec.HostBind("/pods/p/hosts", "0", true)), result.binds(),
                "the host's shm tmpfs is not shared into the guest");
        JsonObject shm = result.spec().getAsJsonArray("mounts").get(1).getAsJsonObject();
        assertEquals(GuestSpec.GUEST_SHM, shm.get("source").getAsString());
        assertEquals("[\"rbind\",\"ro\",\"nosuid\"]", shm.getAsJsonArray("options").toString());
    }

    @Test
    void theHostSpecIsNotChanged() {
        JsonObject host = JsonParser.parseString(HOST_SPEC).getAsJsonObject();
        String before = host.toString();
        GuestSpec.rewrite(host, "abc", "/run/bollard/shared/abc");
        assertEquals(before, host.toString());
    }

    private static String namespaces(String hostNamespaces, java.util.function.IntPredicate guestPid,
                                     java.util.OptionalInt sandboxPid) {
        JsonObject host = JsonParser.parseString("{\"linux\":{\"namespaces\":" + hostNamespaces + "}}").getAsJsonObject();
        return GuestSpec.rewrite(host, "c1", "/run/bollard/shared/c1", guestPid, sandboxPid).spec()
                .getAsJsonObject("linux").getAsJsonArray("namespaces").toString();
    }

    @Test
    void aContainerJoinsItsPodsIpcUtsAndPidNamespacesInTheGuest() {
        // Bollard's container spec for a pod sandbox whose init is guest pid 7 (the pid the shim reported)
        String joined = "[{\"type\":\"pid\",\"path\":\"/proc/7/ns/pid\"},{\"type\":\"network\",\"path\":\"/var/run/netns/x\"},"
                + "{\"type\":\"ipc\",\"path\":\"/proc/7/ns/ipc\"},{\"type\":\"uts\",\"path\":\"/proc/7/ns/uts\"},{\"type\":\"mount\"}]";
        assertEquals("[{\"type\":\"pid\",\"path\":\"/proc/7/ns/pid\"},{\"type\":\"ipc\",\"path\":\"/proc/7/ns/ipc\"},"
                + "{\"type\":\"uts\",\"path\":\"/proc/7/ns/uts\"},{\"type\":\"mount\"}]",
                namespaces(joined, pid -> pid == 7, java.util.OptionalInt.of(7)), "guest pids stay as they are");
        // a path that is no guest pid of this pod (a host file, or a stale pid) becomes the sandbox's
        String hostPaths = "[{\"type\":\"ipc\",\"path\":\"/run/bollard/ns/ipc-1\"},{\"type\":\"uts\",\"path\":\"/proc/99/ns/uts\"}]";
        assertEquals("[{\"type\":\"ipc\",\"path\":\"/proc/7/ns/ipc\"},{\"type\":\"uts\",\"path\":\"/proc/7/ns/uts\"}]",
                namespaces(hostPaths, pid -> pid == 7, java.util.OptionalInt.of(7)));
        // a PID namespace of the container's own (no path) stays its own; a target container's is kept
        assertEquals("[{\"type\":\"pid\"}]", namespaces("[{\"type\":\"pid\"}]", pid -> true, java.util.OptionalInt.of(7)));
        assertEquals("[{\"type\":\"pid\",\"path\":\"/proc/12/ns/pid\"}]",
                namespaces("[{\"type\":\"pid\",\"path\":\"/proc/12/ns/pid\"}]", pid -> pid == 12 || pid == 7,
                        java.util.OptionalInt.of(7)));
        // the sandbox itself (no sandbox running yet): new namespaces
        assertEquals("[{\"type\":\"ipc\"},{\"type\":\"uts\"}]", namespaces(hostPaths, pid -> false, java.util.OptionalInt.empty()));
        // a mismatched type is not trusted
        assertEquals("[{\"type\":\"ipc\",\"path\":\"/proc/7/ns/ipc\"}]",
                namespaces("[{\"type\":\"ipc\",\"path\":\"/proc/12/ns/uts\"}]", pid -> pid == 12,
                        java.util.OptionalInt.of(7)));
    }
}
