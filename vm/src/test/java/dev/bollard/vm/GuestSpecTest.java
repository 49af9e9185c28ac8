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
    }

    @Test
    void theHostSpecIsNotChanged() {
        JsonObject host = JsonParser.parseString(HOST_SPEC).getAsJsonObject();
        String before = host.toString();
        GuestSpec.rewrite(host, "abc", "/run/bollard/shared/abc");
        assertEquals(before, host.toString());
    }
}
