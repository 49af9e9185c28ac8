package dev.bollard.daemon.lifecycle;

import dev.bollard.daemon.container.CheckpointArchive;
import dev.bollard.daemon.container.ContainerState;
import dev.bollard.daemon.container.ContainerStore;
import dev.bollard.daemon.container.io.ContainerLogger;
import dev.bollard.daemon.container.io.LogLocation;
import dev.bollard.daemon.container.io.StdioFifos;
import dev.bollard.daemon.errors.FailedPreconditionException;
import dev.bollard.daemon.log.Log;
import dev.bollard.daemon.sandbox.LifecycleEvent;
import dev.bollard.daemon.sandbox.Sandbox;
import dev.bollard.daemon.sandbox.SandboxStore;
import dev.bollard.daemon.shim.TaskIo;
import dev.bollard.daemon.shim.TaskService;
import dev.bollard.daemon.store.CrashPoints;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.List;

/**
 * StartContainer: the stdio FIFOs and the log pump, then Create (with the rootfs mount; from CRIU images for a
 * restored container) and Start on the pod's task service; its exit then watched. A failure undoes what was made and
 * records the container as exited (StartError), as containerd does.
 */
public final class StartContainer {

    private static final Log LOG = Log.get("container");

    private final Layout layout;
    private final ContainerStore containers;
    private final SandboxStore sandboxes;
    private final ExitWatch watch;
    private final int maxLogLineBytes;
    private final Clock clock;

    public StartContainer(Layout layout, ContainerStore containers, SandboxStore sandboxes, ExitWatch watch,
                          int maxLogLineBytes, Clock clock) {
        this.layout = layout;
        this.containers = containers;
        this.sandboxes = sandboxes;
        this.watch = watch;
        this.maxLogLineBytes = maxLogLineBytes;
        this.clock = clock;
    }

    public void start(String idOrPrefix) throws IOException {
        var c = containers.get(idOrPrefix);
        c.lock().lock();
        try {
            if (c.state() != ContainerState.CREATED) {
                throw new FailedPreconditionException("container " + c.id() + " is " + Tasks.describe(c.state())
                        + "; only a created container can be started");
            }
            Sandbox sandbox = sandboxes.get(c.record().sandboxId());
            TaskService shim = sandbox.shim();
            if (!sandbox.ready() || shim == null) {
                throw new FailedPreconditionException("pod sandbox " + sandbox.id() + " is not ready");
            }
            dev.bollard.daemon.nri.NriHooks.current().containerEvent(dev.bollard.api.nri.v1alpha1.Event.START_CONTAINER, sandbox, c);
            Path bundle = layout.containerBundle(c.id());
            boolean tty = c.config().getTty();
            StdioFifos fifos = null;
            ContainerLogger logger = null;
            boolean taskCreated = false;
            try {
                fifos = StdioFifos.create(bundle, "init", c.config().getStdin(), tty);
                logger = ContainerLogger.start(fifos, c.record().logPath().isEmpty() ? null
                        : LogLocation.of(c.record().logPath(), c.config().getLogPath()),
                        maxLogLineBytes);
                c.io(fifos, logger);
                CrashPoints.hit("StartContainer.afterFifos");
                Path restore = bundle.resolve(CheckpointArchive.RESTORE_IMAGES);
                shim.create(c.id(), bundle, List.of(c.rootfs().mount()), io(fifos, tty),
                        Files.isDirectory(restore) ? restore : null);
                taskCreated = true;
                CrashPoints.hit("StartContainer.afterTaskCreate");
                int pid = shim.start(c.id(), "");
                CrashPoints.hit("StartContainer.afterTaskStart");
                if (Files.isDirectory(restore)) {
                    Tasks.cleanupQuietly(restore); // restored: the CRIU images have served
                }
                containers.update(c, r -> r.started(pid, Tasks.nanos(clock)));
                CrashPoints.hit("StartContainer.afterRecord");
                watch.container(c, shim);
                LOG.info("container started", "id", c.id(), "pid", pid);
                containers.tell(c, LifecycleEvent.STARTED);
                dev.bollard.daemon.nri.NriHooks.current().containerEvent(dev.bollard.api.nri.v1alpha1.Event.POST_START_CONTAINER, sandbox, c);
            } catch (IOException | RuntimeException e) {
                if (!shim.isAlive()) {
                    watch.reapOrphan(c, shim); // the shim died (maybe mid-Create): runc's init must not stay behind
                } else if (taskCreated && !Tasks.deleteQuietly(shim, c.id())) {
                    watch.reapOrphan(c, shim); // only if the shim died meanwhile
                }
                if (logger != null) {
                    logger.close();
                }
                if (fifos != null) {
                    fifos.remove();
                }
                String message = e.getMessage() == null ? e.toString() : e.getMessage();
                containers.update(c, r -> r.exited(Tasks.nanos(clock), 128, "StartError", message));
                throw e;
            }
        } finally {
            c.lock().unlock();
        }
    }

    static TaskIo io(StdioFifos f, boolean tty) {
        return new TaskIo(f.stdin() == null ? "" : f.stdin().toString(), f.stdout().toString(),
                f.stderr() == null ? "" : f.stderr().toString(), tty);
    }
}
