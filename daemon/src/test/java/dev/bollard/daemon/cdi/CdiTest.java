package dev.bollard.daemon.cdi;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.bollard.api.cri.v1.CDIDevice;
import dev.bollard.api.cri.v1.ContainerConfig;
import dev.bollard.daemon.config.BollardConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.NoSuchElementException;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CdiTest {

    @TempDir
    Path dir;

    private static final String JSON_SPEC = """
            {"cdiVersion": "0.6.0", "kind": "example.com/test",
             "containerEdits": {"env": ["SPEC_LEVEL=1"]},
             "devices": [
               {"name": "null", "containerEdits": {
                  "deviceNodes": [{"path": "/dev/bollard-test", "hostPath": "/dev/null", "permissions": "rw"}],
                  "env": ["BOLLARD_TEST_DEVICE=null", "PATH=/cdi/bin"],
                  "mounts": [{"hostPath": "/etc/hostname", "containerPath": "/etc/cdi-hostname", "options": ["ro"]}],
                  "hooks": [{"hookName": "createContainer", "path": "/bin/true", "args": ["true", "x"]}],
                  "additionalGIDs": [44, 0]}},
               {"name": "zero", "containerEdits": {"deviceNodes": [{"path": "/dev/zero"}]}}]}
            """;

    private static final String YAML_SPEC = """
            cdiVersion: 0.5.0
            kind: example.com/yaml
            devices:
              - name: gpu0
                containerEdits:
                  env:
                    - FROM_YAML=yes
                  deviceNodes:
                    - path: /dev/fake-gpu0
                      type: c
                      major: 195
                      minor: 0
            """;

    private CdiRegistry registry(Path... dirs) {
        return new CdiRegistry(new BollardConfig.Cdi(true, List.of(dirs)));
    }

    private static JsonObject baseSpec() {
        return JsonParser.parseString("""
                {"process": {"user": {"uid": 1000, "gid": 1000}, "env": ["PATH=/usr/bin", "HOME=/"]},
                 "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"},
                            {"destination": "/etc/cdi-hostname", "type": "bind", "source": "/old"}],
                 "linux": {"resources": {"devices": [{"allow": false, "access": "rwm"}]}}}
                """).getAsJsonObject();
    }

    @Test
    void jsonDeviceEditsReachTheSpec() throws IOException {
        Files.writeString(dir.resolve("test.json"), JSON_SPEC);
        var spec = baseSpec();
        CdiEdits.apply(spec, registry(dir).resolve(List.of("example.com/test=null")));

        var env = spec.getAsJsonObject("process").getAsJsonArray("env").toString();
        assertEquals("[\"PATH=/cdi/bin\",\"HOME=/\",\"SPEC_LEVEL=1\",\"BOLLARD_TEST_DEVICE=null\"]", env,
                "the spec's edits first, a device's PATH replacing the config's");
        var device = spec.getAsJsonObject("linux").getAsJsonArray("devices").get(0).getAsJsonObject();
        assertEquals("/dev/bollard-test", device.get("path").getAsString());
        assertEquals("c", device.get("type").getAsString(), "completed from /dev/null");
        assertEquals(1, device.get("major").getAsLong());
        assertEquals(3, device.get("minor").getAsLong());
        assertEquals(1000, device.get("uid").getAsLong(), "owned by the container's user");
        var rules = spec.getAsJsonObject("linux").getAsJsonObject("resources").getAsJsonArray("devices");
        assertEquals("{\"allow\":true,\"type\":\"c\",\"major\":1,\"minor\":3,\"access\":\"rw\"}", rules.get(1).toString());
        var mounts = spec.getAsJsonArray("mounts");
        assertEquals(2, mounts.size(), "the mount at the same destination is replaced");
        assertEquals("{\"destination\":\"/etc/cdi-hostname\",\"source\":\"/etc/hostname\",\"type\":\"bind\","
                + "\"options\":[\"ro\",\"rbind\"]}", mounts.get(1).toString());
        assertEquals("[{\"path\":\"/bin/true\",\"args\":[\"true\",\"x\"]}]",
                spec.getAsJsonObject("hooks").getAsJsonArray("createContainer").toString());
        assertEquals("[44]", spec.getAsJsonObject("process").getAsJsonObject("user").getAsJsonArray("additionalGids").toString(),
                "gid 0 is never added");
    }

    @Test
    void yamlSpecsAndSpecLevelEditsOncePerSpec() throws IOException {
        Files.writeString(dir.resolve("test.json"), JSON_SPEC);
        Files.writeString(dir.resolve("gpu.yaml"), YAML_SPEC);
        var edits = registry(dir).resolve(List.of("example.com/test=null", "example.com/yaml=gpu0", "example.com/test=zero",
                "example.com/test=null"));
        assertEquals(4, edits.size(), "test's spec edits once, null, gpu0, zero; the duplicate dropped");
        var spec = baseSpec();
        CdiEdits.apply(spec, edits);
        var devices = spec.getAsJsonObject("linux").getAsJsonArray("devices");
        assertEquals(3, devices.size());
        assertEquals("{\"path\":\"/dev/fake-gpu0\",\"type\":\"c\",\"major\":195,\"minor\":0,\"uid\":1000,\"gid\":1000}",
                devices.get(1).toString(), "given numbers are kept, no host lookup");
        assertTrue(spec.getAsJsonObject("process").getAsJsonArray("env").toString().contains("FROM_YAML=yes"));
    }

    @Test
    void aLaterDirectoryOverridesAnEarlierOne() throws IOException {
        Path etc = Files.createDirectories(dir.resolve("etc"));
        Path run = Files.createDirectories(dir.resolve("run"));
        Files.writeString(etc.resolve("a.json"), """
                {"cdiVersion": "0.6.0", "kind": "example.com/x", "devices": [{"name": "d", "containerEdits": {"env": ["WHO=etc"]}}]}
                """);
        Files.writeString(run.resolve("b.json"), """
                {"cdiVersion": "0.6.0", "kind": "example.com/x", "devices": [{"name": "d", "containerEdits": {"env": ["WHO=run"]}}]}
                """);
        var spec = baseSpec();
        CdiEdits.apply(spec, registry(etc, run).resolve(List.of("example.com/x=d")));
        assertTrue(spec.toString().contains("WHO=run"), spec.toString());
        assertTrue(!spec.toString().contains("WHO=etc"));
    }

    @Test
    void unknownAmbiguousAndMalformedDevicesAreNamed() throws IOException {
        Files.writeString(dir.resolve("test.json"), JSON_SPEC);
        Files.writeString(dir.resolve("again.yaml"), """
                cdiVersion: 0.6.0
                kind: example.com/test
                devices: [{name: zero, containerEdits: {env: [A=1]}}]
                """);
        Files.writeString(dir.resolve("broken.json"), "{\"cdiVersion\": \"9.9.9\", \"kind\": \"example.com/b\", \"devices\": []}");
        var registry = registry(dir);
        var unknown = assertThrows(NoSuchElementException.class, () -> registry.resolve(List.of("example.com/test=nope")));
        assertTrue(unknown.getMessage().contains("example.com/test=nope"), unknown.getMessage());
        assertTrue(unknown.getMessage().contains("broken.json") && unknown.getMessage().contains("9.9.9"),
                "the ignored spec file is named: " + unknown.getMessage());
        var ambiguous = assertThrows(IllegalArgumentException.class, () -> registry.resolve(List.of("example.com/test=zero")));
        assertTrue(ambiguous.getMessage().contains("ambiguous") && ambiguous.getMessage().contains("again.yaml")
                && ambiguous.getMessage().contains("test.json"), ambiguous.getMessage());
        for (String bad : List.of("null", "example.com=null", "example.com/test=", "-bad.com/x=y", "example.com/test=a b")) {
            var e = assertThrows(IllegalArgumentException.class, () -> registry.resolve(List.of(bad)), bad);
            assertTrue(e.getMessage().contains(bad), e.getMessage());
        }
        // the unambiguous device of the same file still resolves
        assertEquals(2, registry.resolve(List.of("example.com/test=null")).size(), "its spec's edits and its own");
    }

    @Test
    void invalidSpecFilesAreRejectedWithTheirReason() {
        Path f = dir.resolve("x.json");
        assertThrows(IllegalArgumentException.class, () -> CdiSpec.parse(f, "{\"cdiVersion\": \"0.6.0\", \"kind\": \"bad\", "
                + "\"devices\": [{\"name\": \"d\", \"containerEdits\": {\"env\": [\"A=1\"]}}]}"));
        var hook = assertThrows(IllegalArgumentException.class, () -> CdiSpec.parse(f, "{\"cdiVersion\": \"0.6.0\", "
                + "\"kind\": \"a.com/b\", \"devices\": [{\"name\": \"d\", \"containerEdits\": {\"hooks\": "
                + "[{\"hookName\": \"sometime\", \"path\": \"/bin/true\"}]}}]}"));
        assertTrue(hook.getMessage().contains("sometime"), hook.getMessage());
        var field = assertThrows(IllegalArgumentException.class, () -> CdiSpec.parse(f, "{\"cdiVersion\": \"0.6.0\", "
                + "\"kind\": \"a.com/b\", \"devices\": [{\"name\": \"d\", \"containerEdits\": {\"envs\": [\"A=1\"]}}]}"));
        assertTrue(field.getMessage().contains("envs"), field.getMessage());
        var empty = assertThrows(IllegalArgumentException.class, () -> CdiSpec.parse(f, "{\"cdiVersion\": \"0.6.0\", "
                + "\"kind\": \"a.com/b\", \"devices\": [{\"name\": \"d\"}]}"));
        assertTrue(empty.getMessage().contains("no containerEdits"), empty.getMessage());
    }

    @Test
    void requestedDevicesComeFromTheFieldAndTheAnnotations() {
        var config = ContainerConfig.newBuilder()
                .addCDIDevices(CDIDevice.newBuilder().setName("example.com/test=null"))
                .putAnnotations("cdi.k8s.io/b-plugin", "example.com/yaml=gpu0, example.com/test=zero")
                .putAnnotations("cdi.k8s.io/a-plugin", "example.com/x=d")
                .putAnnotations("other.io/key", "example.com/ignored=1")
                .build();
        assertEquals(List.of("example.com/test=null", "example.com/x=d", "example.com/yaml=gpu0", "example.com/test=zero"),
                CdiDevices.requested(config));
    }

    @Test
    void disabledIgnoresRequestsAndNoRequestReadsNothing() throws IOException {
        var off = new CdiRegistry(new BollardConfig.Cdi(false, List.of(dir)));
        assertEquals(List.of(), off.resolve(List.of("example.com/test=nope")));
        var on = registry(dir.resolve("missing-dir"));
        assertEquals(List.of(), on.resolve(List.of()));
        assertThrows(NoSuchElementException.class, () -> on.resolve(List.of("example.com/test=null")),
                "a missing directory holds no devices");
    }
}
