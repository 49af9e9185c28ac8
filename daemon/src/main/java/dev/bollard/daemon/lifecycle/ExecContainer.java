package dev.bollard.daemon.lifecycle;

import dev.bollard.daemon.container.Container;
import dev.bollard.daemon.container.ContainerState;
import dev.bollard.daemon.container.ContainerStore;
import dev.bollard.daemon.container.ExecProcess;
import dev.bollard.daemon.container.io.ContainerLogger;
import dev.bollard.daemon.container.io.OutputCapture;
import dev.bollard.daemon.container.io.StdioFifos;
import dev.bollard.daemon.errors.DeadlineExceededException;
import dev.bollard.daemon.errors.FailedPreconditionException;
import dev.bollard.daemon.log.Log;
import dev.bollard.daemon.oci.SpecBuilder;
import dev.bollard.daemon.sandbox.Sandbox;
import dev.bollard.daemon.sandbox.SandboxStore;
import dev.bollard.daemon.shim.TaskService;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeoutException;

/**
 * ExecSync, and what the streaming server's exec and attach need: an exec process in a running container, or the
 * container's primary process with its log pump and stdio FIFOs.
 */
public final class ExecContainer {

    private static final Log LOG = Log.get("container");
    static final int EXEC_OUTPUT_CAP = 16 << 20;

    private final Layout layout;
    private final ContainerStore containers;
    private final SandboxStore sandboxes;

    public ExecContainer(Layout layout, ContainerStore containers, SandboxStore sandboxes) {
        this.layout = layout;
        this.containers = containers;
        this.sandboxes = sandboxes;
    }

    public record ExecResult(byte[] stdout, byte[] stderr, int exitCode) {
    }

    /** Runs a command in a running container and returns its output (each stream capped at 16 MiB). */
    public ExecResult execSync(String idOrPrefix, List<String> cmd, long timeoutSeconds)
            throws IOException, InterruptedException {
        try (var exec = exec(idOrPrefix, cmd, false, false, f -> OutputCapture.start(f, EXEC_OUTPUT_CAP))) {
            int code;
            try {
                code = exec.awaitExit(timeoutSeconds > 0 ? Duration.ofSeconds(timeoutSeconds) : null).exitStatus();
            } catch (TimeoutException e) {
                exec.kill();
                // Gone before we answer: a caller's next exec (critest checks) must not still see it, and the
                // exec can only be deleted once it has exited.
                try {
                    exec.awaitExit(Container.KILL_WAIT);
                } catch (TimeoutException | IOException ignored) {
                    LOG.warn("a timed-out exec did not exit after SIGKILL", "exec", exec.execId());
                }
                throw new DeadlineExceededException("command " + cmd + " in container "
                        + containers.get(idOrPrefix).id() + " timed out after " + timeoutSeconds + " s");
            }
            try {
                var out = exec.output().await(ContainerExits.LOG_DRAIN);
                return new ExecResult(out.stdout(), out.stderr(), code);
            } catch (TimeoutException e) {
                throw new IOException("exec output did not close after the command exited", e);
            }
        }
    }

    /**
     * Starts {@code cmd} as an exec process in a running container (its user, env and cwd from the container's
     * spec), with a terminal or not and with a stdin FIFO or not; {@code output} opens the readers of its output.
     * Closing the result kills the process if it still runs and removes all of it.
     */
    public <T extends AutoCloseable> ExecProcess<T> exec(String idOrPrefix, List<String> cmd, boolean tty,
                                                        boolean stdin, ExecProcess.Output<T> output) throws IOException {
        if (cmd.isEmpty()) {
            throw new IllegalArgumentException("cmd is empty");
        }
        var c = containers.get(idOrPrefix);
        TaskService shim = runningShim(c);
        byte[] process = SpecBuilder.execProcess(c.spec(), cmd, tty).toString().getBytes(StandardCharsets.UTF_8);
        return ExecProcess.start(shim, c.id(), layout.containerBundle(c.id()), process, tty, stdin, output);
    }

    /** A running container's primary process as attach sees it: its shim, its log pump and its stdio FIFOs. */
    public record PrimaryProcess(Container container, TaskService shim, ContainerLogger logger, StdioFifos fifos) {
    }

    /** The primary process of a running container whose output is being read; FAILED_PRECONDITION otherwise. */
    public PrimaryProcess primaryProcess(String idOrPrefix) {
        var c = containers.get(idOrPrefix);
        TaskService shim = runningShim(c);
        var logger = c.logger();
        var fifos = c.fifos();
        if (logger == null || fifos == null) {
            throw new FailedPreconditionException("the output of container " + c.id()
                    + " is not being read (its log could not be resumed after a restart)");
        }
        return new PrimaryProcess(c, shim, logger, fifos);
    }

    /** The task service of a running container's pod; FAILED_PRECONDITION when it is not running or has none. */
    TaskService runningShim(Container c) {
        return runningShim(c, sandboxes);
    }

    static TaskService runningShim(Container c, SandboxStore sandboxes) {
        if (c.state() != ContainerState.RUNNING) {
            throw new FailedPreconditionException("container " + c.id() + " is " + Tasks.describe(c.state())
                    + ", not running");
        }
        TaskService shim = sandboxes.find(c.record().sandboxId()).map(Sandbox::shim).orElse(null);
        if (shim == null) {
            throw new FailedPreconditionException("the pod of container " + c.id() + " has no shim");
        }
        return shim;
    }
}
