package dev.bollard.daemon.cri;

import dev.bollard.api.cri.v1.AttachRequest;
import dev.bollard.api.cri.v1.ExecRequest;
import dev.bollard.api.cri.v1.PortForwardRequest;
import dev.bollard.daemon.streaming.StreamRequest;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The request checks that need no container: the shape of Exec, Attach and PortForward requests. */
class StreamingRpcsTest {

    private static ExecRequest.Builder exec() {
        return ExecRequest.newBuilder().setContainerId("abc").addCmd("sh").setStdout(true);
    }

    private static String invalid(org.junit.jupiter.api.function.Executable call) {
        return assertThrows(IllegalArgumentException.class, call).getMessage();
    }

    @Test
    void aValidExecKeepsEveryField() {
        var r = StreamingRpcs.execShape(exec().addCmd("-c").addCmd("true").setTty(true).setStdin(true).build());
        assertEquals(new StreamRequest.Exec("abc", List.of("sh", "-c", "true"), true, true, true, false), r);
    }

    @Test
    void execNeedsAContainerACommandAndAStream() {
        assertTrue(invalid(() -> StreamingRpcs.execShape(exec().setContainerId("").build())).contains("container_id"));
        assertTrue(invalid(() -> StreamingRpcs.execShape(exec().clearCmd().build())).contains("cmd"));
        assertTrue(invalid(() -> StreamingRpcs.execShape(exec().clearCmd().addCmd("").build())).contains("cmd"));
        assertTrue(invalid(() -> StreamingRpcs.execShape(exec().setStdout(false).build()))
                .contains("one of stdin, stdout or stderr"));
    }

    @Test
    void ttyWithStderrIsInvalid() {
        assertTrue(invalid(() -> StreamingRpcs.execShape(exec().setTty(true).setStderr(true).build()))
                .contains("tty and stderr"));
        assertTrue(invalid(() -> StreamingRpcs.attachShape(AttachRequest.newBuilder().setContainerId("abc")
                .setTty(true).setStdout(true).setStderr(true).build())).contains("tty and stderr"));
    }

    @Test
    void attachNeedsAStream() {
        assertTrue(invalid(() -> StreamingRpcs.attachShape(AttachRequest.newBuilder().setContainerId("abc").build()))
                .contains("one of stdin, stdout or stderr"));
        assertEquals(new StreamRequest.Attach("abc", false, true, false, false), StreamingRpcs.attachShape(
                AttachRequest.newBuilder().setContainerId("abc").setStdin(true).build()));
    }

    @Test
    void portForwardPortsMustBeTcpPorts() {
        var ok = StreamingRpcs.portForwardShape(PortForwardRequest.newBuilder().setPodSandboxId("p")
                .addPort(80).addPort(65535).build());
        assertEquals(List.of(80, 65535), ok.ports());
        assertTrue(invalid(() -> StreamingRpcs.portForwardShape(PortForwardRequest.newBuilder().setPodSandboxId("p")
                .addPort(0).build())).contains("port 0"));
        assertTrue(invalid(() -> StreamingRpcs.portForwardShape(PortForwardRequest.newBuilder().setPodSandboxId("p")
                .addPort(70000).build())).contains("port 70000"));
        assertTrue(invalid(() -> StreamingRpcs.portForwardShape(PortForwardRequest.newBuilder().addPort(80).build()))
                .contains("pod_sandbox_id"));
    }

    @Test
    void urlsAreBaseKindToken() {
        assertEquals("http://127.0.0.1:1234/exec/tok", StreamingRpcs.url(URI.create("http://127.0.0.1:1234"), "exec", "tok"));
        assertEquals("https://node:1/attach/t", StreamingRpcs.url(URI.create("https://node:1/"), "attach", "t"));
    }
}
