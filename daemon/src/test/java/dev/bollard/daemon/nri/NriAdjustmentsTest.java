package dev.bollard.daemon.nri;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.bollard.api.nri.v1alpha1.ContainerAdjustment;
import dev.bollard.api.nri.v1alpha1.Hook;
import dev.bollard.api.nri.v1alpha1.Hooks;
import dev.bollard.api.nri.v1alpha1.KeyValue;
import dev.bollard.api.nri.v1alpha1.LinuxContainerAdjustment;
import dev.bollard.api.nri.v1alpha1.LinuxDevice;
import dev.bollard.api.nri.v1alpha1.LinuxMemory;
import dev.bollard.api.nri.v1alpha1.LinuxResources;
import dev.bollard.api.nri.v1alpha1.Mount;
import dev.bollard.api.nri.v1alpha1.OptionalInt;
import dev.bollard.api.nri.v1alpha1.OptionalInt64;
import dev.bollard.api.nri.v1alpha1.POSIXRlimit;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class NriAdjustmentsTest {

    private static JsonObject spec() {
        return JsonParser.parseString("""
                {"process": {"args": ["sh"], "env": ["PATH=/bin", "A=1", "GONE=x"]},
                 "annotations": {"keep": "1", "drop": "2"},
                 "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"},
                            {"destination": "/old", "type": "bind", "source": "/tmp", "options": ["rbind"]},
                            {"destination": "/dev/pts", "type": "devpts", "source": "devpts"}],
                 "linux": {"resources": {"memory": {"limit": 100}, "cpu": {"shares": 2}}, "cgroupsPath": "/a/b"}}
                """).getAsJsonObject();
    }

    @Test
    void envAnnotationsAndMountsAreAddedReplacedAndRemoved() {
        var in = spec();
        var before = in.deepCopy();
        var out = NriAdjustments.apply(in, List.of(ContainerAdjustment.newBuilder()
                .putAnnotations("-drop", "").putAnnotations("added", "yes")
                .addEnv(KeyValue.newBuilder().setKey("A").setValue("2"))
                .addEnv(KeyValue.newBuilder().setKey("NEW").setValue("v"))
                .addEnv(KeyValue.newBuilder().setKey("-GONE"))
                .addMounts(Mount.newBuilder().setDestination("-/old"))
                .addMounts(Mount.newBuilder().setDestination("/data").setSource("/srv/data").setType("bind")
                        .addOptions("rbind").addOptions("ro"))
                .build()));
        assertEquals(before, in, "the input spec is left alone");
        assertEquals("[\"sh\"]", out.getAsJsonObject("process").get("args").toString());
        assertEquals("[\"PATH=/bin\",\"A=2\",\"NEW=v\"]", out.getAsJsonObject("process").get("env").toString());
        var annotations = out.getAsJsonObject("annotations");
        assertEquals("yes", annotations.get("added").getAsString());
        assertFalse(annotations.has("drop"));
        assertEquals("1", annotations.get("keep").getAsString());
        var destinations = out.getAsJsonArray("mounts").asList().stream()
                .map(m -> m.getAsJsonObject().get("destination").getAsString()).toList();
        assertEquals(List.of("/proc", "/data", "/dev/pts"), destinations, "parents before children, /old gone");
        var data = out.getAsJsonArray("mounts").get(1).getAsJsonObject();
        assertEquals("/srv/data", data.get("source").getAsString());
        assertEquals("[\"rbind\",\"ro\"]", data.get("options").toString());
    }

    @Test
    void laterPluginsWinAndLinuxPartsApply() {
        var first = ContainerAdjustment.newBuilder().addEnv(KeyValue.newBuilder().setKey("X").setValue("first"))
                .setLinux(LinuxContainerAdjustment.newBuilder().setResources(LinuxResources.newBuilder()
                        .setMemory(LinuxMemory.newBuilder().setLimit(OptionalInt64.newBuilder().setValue(200)))))
                .build();
        var second = ContainerAdjustment.newBuilder().addEnv(KeyValue.newBuilder().setKey("X").setValue("second"))
                .addRlimits(POSIXRlimit.newBuilder().setType("RLIMIT_NOFILE").setHard(1024).setSoft(512))
                .setHooks(Hooks.newBuilder().addPrestart(Hook.newBuilder().setPath("/bin/true").addArgs("true")
                        .setTimeout(OptionalInt.newBuilder().setValue(5))))
                .setLinux(LinuxContainerAdjustment.newBuilder().setCgroupsPath("/nri/x")
                        .setOomScoreAdj(OptionalInt.newBuilder().setValue(500))
                        .addDevices(LinuxDevice.newBuilder().setPath("/dev/nri-null").setType("c").setMajor(1)
                                .setMinor(3)))
                .build();
        var out = NriAdjustments.apply(spec(), List.of(first, second));
        assertTrue(out.getAsJsonObject("process").get("env").toString().contains("\"X=second\""));
        assertFalse(out.getAsJsonObject("process").get("env").toString().contains("X=first"));
        var linux = out.getAsJsonObject("linux");
        assertEquals(200, linux.getAsJsonObject("resources").getAsJsonObject("memory").get("limit").getAsLong());
        assertEquals(2, linux.getAsJsonObject("resources").getAsJsonObject("cpu").get("shares").getAsLong(),
                "what no plugin touched stays");
        assertEquals("/nri/x", linux.get("cgroupsPath").getAsString());
        assertEquals(500, out.getAsJsonObject("process").get("oomScoreAdj").getAsLong());
        assertEquals("{\"type\":\"RLIMIT_NOFILE\",\"hard\":1024,\"soft\":512}",
                out.getAsJsonObject("process").getAsJsonArray("rlimits").get(0).toString());
        assertEquals("{\"path\":\"/bin/true\",\"args\":[\"true\"],\"timeout\":5}",
                out.getAsJsonObject("hooks").getAsJsonArray("prestart").get(0).toString());
        assertEquals("/dev/nri-null", linux.getAsJsonArray("devices").get(0).getAsJsonObject().get("path").getAsString());
        assertEquals("{\"allow\":true,\"type\":\"c\",\"major\":1,\"minor\":3,\"access\":\"rwm\"}",
                linux.getAsJsonObject("resources").getAsJsonArray("devices").get(0).toString());
    }

    @Test
    void badAdjustmentsAreRefusedNamingWhat() {
        var relative = ContainerAdjustment.newBuilder().addMounts(Mount.newBuilder().setDestination("data")).build();
        var e = assertThrows(IllegalArgumentException.class, () -> NriAdjustments.apply(spec(), List.of(relative)));
        assertTrue(e.getMessage().contains("\"data\""), e.getMessage());
        var device = ContainerAdjustment.newBuilder().setLinux(LinuxContainerAdjustment.newBuilder()
                .addDevices(LinuxDevice.newBuilder().setPath("/dev/x").setType("z"))).build();
        e = assertThrows(IllegalArgumentException.class, () -> NriAdjustments.apply(spec(), List.of(device)));
        assertTrue(e.getMessage().contains("/dev/x"), e.getMessage());
    }

    @Test
    void resourceUpdatesOverlayCriResources() {
        var current = dev.bollard.api.cri.v1.LinuxContainerResources.newBuilder().setCpuShares(2).setMemoryLimitInBytes(100)
                .build();
        var updated = NriMessages.overlay(current, LinuxResources.newBuilder()
                .setMemory(LinuxMemory.newBuilder().setLimit(OptionalInt64.newBuilder().setValue(300))).build());
        assertEquals(2, updated.getCpuShares());
        assertEquals(300, updated.getMemoryLimitInBytes());
    }
}
