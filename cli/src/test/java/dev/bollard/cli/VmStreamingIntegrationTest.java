package dev.bollard.cli;

import dev.bollard.api.cri.v1.AttachRequest;
import dev.bollard.api.cri.v1.ContainerState;
import dev.bollard.api.cri.v1.ExecRequest;
import dev.bollard.api.cri.v1.PodSandboxConfig;
import dev.bollard.api.cri.v1.RunPodSandboxRequest;
import dev.bollard.daemon.streaming.TerminalSize;
import dev.bollard.daemon.streaming.client.StreamClient;
import dev.bollard.daemon.streaming.client.StreamClient.Transport;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PipedInputStream;
import java.io.PipedOutputStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Streaming exec, attach and terminals on a pod of the {@code vm} handler, through Bollard's CRI and its streaming
 * server (SPDY and WebSocket, Bollard's own client as in {@link StreamingIntegrationTest}): the processes run in
 * the pod's qemu VM, their ptys are made by crun in the guest and relayed by the agent. One VM for the class (a
 * boot under TCG takes tens of seconds); removing the pod at the end leaves no shim, qemu, virtiofsd, mount or VM
 * state.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class VmStreamingIntegrationTest {

    private PodTestNode node;
    private PodSandboxConfig podConfig;
    private String pod;
    private String sleeper;
    private StreamClient client;

    @BeforeAll
    void start() throws Exception {
        Path guest = VmTestNodes.buildGuest();
        node = PodTestNode.start(dir -> {
            try {
                return VmTestNodes.vmRuntimeToml(dir, guest, "");
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        client = new StreamClient();
        podConfig = node.pod("vm-streams").build();
        pod = node.rt().runPodSandbox(RunPodSandboxRequest.newBuilder().setConfig(podConfig)
                .setRuntimeHandler("vm").build()).getPodSandboxId();
        sleeper = node.createAndStart(pod, podConfig, PodTestNode.container("sleeper", "sleep", "100000").build());
    }

    @AfterAll
    void stop() throws Exception {
        if (client != null) {
            client.close();
        }
        if (node == null) {
            return;
        }
        Path dir = node.dir;
        try {
            if (pod != null) {
                node.removePod(pod);
                assertEquals(List.of(), node.mountsUnderDir(), "mounts left after removing the pod");
                assertEquals(List.of(), VmTestNodes.vmProcesses(dir), "shim, qemu or virtiofsd left after removing the pod");
                try (var left = Files.list(Files.createDirectories(dir.resolve("vmstate")))) {
                    assertEquals(List.of(), left.toList(), "VM state left");
                }
            }
        } finally {
            try {
                node.close();
            } finally {
                // A failed removal must not leave this class's VM running on the shared node: stop what is ours
                // (its command line names our directory), then fail.
                List<String> left = VmTestNodes.vmProcesses(dir);
                left.forEach(p -> ProcessHandle.of(Long.parseLong(p.substring(0, p.indexOf(':'))))
                        .ifPresent(ProcessHandle::destroyForcibly));
                assertEquals(List.of(), left, "shim, qemu or virtiofsd left");
            }
        }
    }

    private URI execUrl(boolean tty, boolean stdin, String... cmd) {
        return URI.create(node.rt().exec(ExecRequest.newBuilder().setContainerId(sleeper).addAllCmd(List.of(cmd))
                .setTty(tty).setStdin(stdin).setStdout(true).setStderr(!tty).build()).getUrl());
    }

    private int exec(Transport t, byte[] stdin, OutputStream out, OutputStream err, String... cmd) throws Exception {
        return client.remoteCommand(execUrl(false, stdin != null, cmd), t,
                new StreamClient.Io(stdin == null ? null : new ByteArrayInputStream(stdin), out, err, false, null));
    }

    @ParameterizedTest
    @EnumSource(Transport.class)
    void execWithoutATerminalPipesStdinAndReportsExitCodes(Transport t) throws Exception {
        // cat ends only when its stdin does: the client's EOF reaches the guest (CloseIO after the FIFO's data)
        byte[] input = "line one\nline two\n".repeat(2000).getBytes(StandardCharsets.UTF_8);
        var out = new ByteArrayOutputStream();
        assertEquals(0, exec(t, input, out, new ByteArrayOutputStream(), "cat"));
        assertArrayEquals(input, out.toByteArray());

        var stdout = new ByteArrayOutputStream();
        var stderr = new ByteArrayOutputStream();
        assertEquals(3, exec(t, null, stdout, stderr, "sh", "-c", "test -t 1 || echo no-tty; echo oops >&2; exit 3"));
        assertEquals("no-tty\n", stdout.toString(StandardCharsets.UTF_8));
        assertEquals("oops\n", stderr.toString(StandardCharsets.UTF_8));
        assertEquals(137, exec(t, null, new ByteArrayOutputStream(), new ByteArrayOutputStream(),
                "sh", "-c", "kill -9 $$"));
    }

    @ParameterizedTest
    @EnumSource(Transport.class)
    void execWithATerminalGetsAPtyItsSizeAndItsExitCode(Transport t) throws Exception {
        var sizes = new LinkedBlockingQueue<TerminalSize>();
        sizes.add(new TerminalSize(100, 33));
        var out = new ByteArrayOutputStream();
        // Waits (bounded by timeout) until the resize has reached the pty in the guest, then reports it.
        int code = client.remoteCommand(execUrl(true, false, "timeout", "60", "sh", "-c",
                        "until [ \"$(stty size)\" = '33 100' ]; do sleep 0.1; done; tty; stty size; exit 4"), t,
                new StreamClient.Io(null, out, null, true, sizes));
        String text = out.toString(StandardCharsets.UTF_8);
        assertEquals(4, code, text);
        assertTrue(text.contains("/dev/pts/"), "a pty: " + text);
        assertTrue(text.contains("33 100\r\n"), "the size, and the terminal's CRLF: " + text);
    }

    @ParameterizedTest
    @EnumSource(Transport.class)
    void aTerminalsInputEndsWithTheClientsStdin(Transport t) throws Exception {
        // With a tty, the end of the client's stdin is typed as VEOF (^D): cat sees end of input and exits 0.
        var out = new ByteArrayOutputStream();
        int code = client.remoteCommand(execUrl(true, true, "timeout", "60", "cat"), t, new StreamClient.Io(
                new ByteArrayInputStream("typed line\n".getBytes(StandardCharsets.UTF_8)), out, null, true, null));
        String text = out.toString(StandardCharsets.UTF_8);
        assertEquals(0, code, text);
        // the terminal's echo, then cat's copy
        assertEquals(2, text.split("typed line\r\n", -1).length - 1, text);
    }

    @ParameterizedTest
    @EnumSource(Transport.class)
    void attachToATerminalContainerTypesReadsAndResizes(Transport t) throws Exception {
        String name = "shell-" + t.name().toLowerCase();
        String shell = node.createAndStart(pod, podConfig, PodTestNode.container(name, "sh", "-c",
                "while read line; do echo \"got:$line size:$(stty size)\"; done").setTty(true).setStdin(true).build());
        URI url = URI.create(node.rt().attach(AttachRequest.newBuilder().setContainerId(shell).setStdin(true)
                .setStdout(true).setTty(true).build()).getUrl());
        var stdin = new PipedInputStream();
        var typing = new PipedOutputStream(stdin);
        var expected = "got:hello size:40 120";
        var seen = new CompletableFuture<Void>();
        var out = new ByteArrayOutputStream() {
            @Override
            public synchronized void write(byte[] b, int off, int len) {
                super.write(b, off, len);
                if (toString(StandardCharsets.UTF_8).contains(expected)) {
                    seen.complete(null);
                }
            }
        };
        var sizes = new LinkedBlockingQueue<TerminalSize>();
        sizes.add(new TerminalSize(120, 40));
        var attachClient = new StreamClient();
        var session = Thread.ofVirtual().start(() -> {
            try {
                attachClient.remoteCommand(url, t, new StreamClient.Io(stdin, out, null, true, sizes));
            } catch (Exception e) {
                // ended by the client going away below
            }
        });
        try {
            // The resize travels apart from the typing: type again until a line was read after it applied.
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
            while (!seen.isDone() && System.nanoTime() < deadline) {
                typing.write("hello\n".getBytes(StandardCharsets.UTF_8));
                typing.flush();
                try {
                    seen.get(2, TimeUnit.SECONDS);
                } catch (java.util.concurrent.TimeoutException e) {
                    // not yet
                }
            }
            assertTrue(seen.isDone(), "attach output: " + out);
        } finally {
            attachClient.close();
            typing.close();
            session.join(TimeUnit.SECONDS.toMillis(60));
        }
        // The container's own process is untouched by the client leaving.
        assertEquals(ContainerState.CONTAINER_RUNNING, node.status(shell).getState());
    }

}
