package dev.bollard.cli;

import dev.bollard.api.cri.v1.Protocol;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ConfigFilesTest {

    private Path dir;

    @BeforeEach
    void dir() throws Exception {
        dir = Files.createTempDirectory("bollard-config-");
    }

    @AfterEach
    void clean() throws Exception {
        TestFiles.deleteTree(dir);
    }

    private Path write(String name, String text) throws Exception {
        return Files.writeString(dir.resolve(name), text);
    }

    @Test
    void theExampleConfigsParse() {
        var pod = ConfigFiles.pod(Path.of("src/test/resources/pod.json"));
        assertEquals("busybox-sandbox", pod.getMetadata().getName());
        assertEquals("default", pod.getMetadata().getNamespace());
        assertEquals("/tmp", pod.getLogDirectory());
        assertTrue(pod.hasLinux());
        assertEquals(pod.getMetadata(), ConfigFiles.pod(Path.of("src/test/resources/pod.yaml")).getMetadata());

        var container = ConfigFiles.container(Path.of("src/test/resources/container.json"));
        assertEquals("bollard.local/busybox:demo", container.getImage().getImage());
        assertEquals(List.of("sleep", "3600"), container.getCommandList());

        var httpd = ConfigFiles.pod(Path.of("../scripts/demo/pod-httpd.json"));
        assertEquals(Protocol.TCP, httpd.getPortMappings(0).getProtocol());
        assertEquals(80, httpd.getPortMappings(0).getContainerPort());
        assertEquals(8080, httpd.getPortMappings(0).getHostPort());
        var httpdContainer = ConfigFiles.container(Path.of("../scripts/demo/container-httpd.json"));
        assertTrue(httpdContainer.getCommand(2).contains("httpd -f"), httpdContainer.getCommand(2));
    }

    @Test
    void protoNamesAndJsonNamesAreBothAccepted() throws Exception {
        var snake = ConfigFiles.container(write("c.yaml", """
                metadata: {name: app}
                image: {image: busybox}
                log_path: app/0.log
                working_dir: /srv
                linux:
                  resources: {memory_limit_in_bytes: 1048576}
                  security_context: {run_as_user: {value: 1000}}
                """));
        var camel = ConfigFiles.container(write("c.json", """
                {"metadata": {"name": "app"}, "image": {"image": "busybox"}, "logPath": "app/0.log", "workingDir": "/srv",
                 "linux": {"resources": {"memoryLimitInBytes": "1048576"}, "securityContext": {"runAsUser": {"value": 1000}}}}
                """));
        assertEquals(snake, camel);
        assertEquals(1048576, snake.getLinux().getResources().getMemoryLimitInBytes());
        assertEquals(1000, snake.getLinux().getSecurityContext().getRunAsUser().getValue());
    }

    @Test
    void aMissingUidIsGeneratedAndMissingNamesAreRefused() throws Exception {
        var pod = ConfigFiles.pod(write("p.yaml", "metadata: {name: a, namespace: b}\n"));
        assertFalse(pod.getMetadata().getUid().isEmpty());
        Path noNamespace = write("p2.json", "{\"metadata\": {\"name\": \"a\"}}");
        assertEquals(noNamespace + ": pod config metadata needs a name and a namespace",
                assertThrows(CliException.class, () -> ConfigFiles.pod(noNamespace)).getMessage());
        Path noMetadata = write("p3.json", "{}");
        assertEquals(noMetadata + ": pod config has no metadata",
                assertThrows(CliException.class, () -> ConfigFiles.pod(noMetadata)).getMessage());
        Path noImage = write("c.json", "{\"metadata\": {\"name\": \"a\"}}");
        assertEquals(noImage + ": container config names no image (image: {image: ...})",
                assertThrows(CliException.class, () -> ConfigFiles.container(noImage)).getMessage());
    }

    @Test
    void errorsNameTheFileAndWhatIsWrong() throws Exception {
        Path unknown = write("u.yaml", "metadata: {name: a, namespace: b}\nlog_dir: /tmp\n");
        var e = assertThrows(CliException.class, () -> ConfigFiles.pod(unknown));
        assertTrue(e.getMessage().startsWith(unknown + ": not a valid PodSandboxConfig: "), e.getMessage());
        assertTrue(e.getMessage().contains("log_dir"), e.getMessage());

        Path badType = write("t.json", "{\"metadata\": {\"name\": \"a\", \"namespace\": \"b\", \"attempt\": \"x\"}}");
        assertTrue(assertThrows(CliException.class, () -> ConfigFiles.pod(badType)).getMessage()
                .startsWith(badType + ": not a valid PodSandboxConfig"));

        Path badYaml = write("y.yaml", "metadata: [unclosed\n");
        assertTrue(assertThrows(CliException.class, () -> ConfigFiles.pod(badYaml)).getMessage()
                .startsWith(badYaml + ": invalid YAML: "));
        Path badJson = write("j.json", "{\"metadata\": ");
        assertTrue(assertThrows(CliException.class, () -> ConfigFiles.pod(badJson)).getMessage()
                .startsWith(badJson + ": invalid JSON: "));
        Path list = write("l.yaml", "- a\n");
        assertEquals(list + ": expected an object of PodSandboxConfig fields at the top level",
                assertThrows(CliException.class, () -> ConfigFiles.pod(list)).getMessage());
        assertEquals("config at " + dir.resolve("none.json") + " not found",
                assertThrows(CliException.class, () -> ConfigFiles.pod(dir.resolve("none.json"))).getMessage());
    }
}
