package dev.bollard.daemon.lifecycle;

import com.google.gson.JsonObject;
import dev.bollard.daemon.container.CheckpointArchive;
import dev.bollard.daemon.container.Container;
import dev.bollard.daemon.container.ContainerStore;
import dev.bollard.daemon.errors.FailedPreconditionException;
import dev.bollard.daemon.log.Log;
import dev.bollard.daemon.runtime.Criu;
import dev.bollard.daemon.sandbox.Sandbox;
import dev.bollard.daemon.sandbox.SandboxStore;
import dev.bollard.daemon.shim.ShimException;
import dev.bollard.daemon.shim.TaskService;
import dev.bollard.daemon.store.IdIndex;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;

/**
 * CheckpointContainer (KEP-2008, forensic): dumps the running container with CRIU through the pod's shim
 * ({@code runc checkpoint --leave-running}), then writes {@link CheckpointArchive} at the location. The container
 * keeps running. A failure leaves nothing at the location, and the work directory goes whatever the outcome (only
 * the log CRIU writes through the shim, {@code criu-dump.log}, stays in the bundle). Restoring is CreateContainer's
 * (an archive as the image) and StartContainer's (Create from the CRIU images).
 */
public final class CheckpointContainer {

    private static final Log LOG = Log.get("container");
    /** How long CRIU may take to dump a container when the request gives no timeout. */
    static final Duration CHECKPOINT_TIMEOUT = Duration.ofMinutes(5);

    private final Layout layout;
    private final Handlers handlers;
    private final ContainerStore containers;
    private final SandboxStore sandboxes;
    private final Clock clock;

    public CheckpointContainer(Layout layout, Handlers handlers, ContainerStore containers, SandboxStore sandboxes,
                               Clock clock) {
        this.layout = layout;
        this.handlers = handlers;
        this.containers = containers;
        this.sandboxes = sandboxes;
        this.clock = clock;
    }

    public void checkpoint(String idOrPrefix, String location, long timeoutSeconds) throws IOException {
        if (location.isEmpty()) {
            throw new IllegalArgumentException("location is required: the path of the checkpoint archive to write");
        }
        Path archive = Path.of(location);
        if (!archive.isAbsolute()) {
            throw new IllegalArgumentException("location must be an absolute path, got \"" + location + "\"");
        }
        if (Files.isDirectory(archive)) {
            throw new IllegalArgumentException("location " + location + " is a directory; name the archive file");
        }
        if (archive.getParent() == null || !Files.isDirectory(archive.getParent())) {
            throw new IllegalArgumentException("location's directory " + archive.getParent() + " does not exist");
        }
        if (timeoutSeconds < 0) {
            throw new IllegalArgumentException("timeout must not be negative (got " + timeoutSeconds + ")");
        }
        var c = containers.get(idOrPrefix);
        TaskService shim = ExecContainer.runningShim(c, sandboxes);
        Sandbox sandbox = sandboxes.get(c.record().sandboxId());
        requireCriu(handlers, sandbox, "checkpoint container " + c.id());
        Path bundle = layout.containerBundle(c.id());
        Path work = bundle.resolve("checkpoint-" + IdIndex.newId().substring(0, 8));
        try {
            Path images = Files.createDirectories(work.resolve("images"));
            Path criuWork = Files.createDirectories(work.resolve("work"));
            var timeout = timeoutSeconds == 0 ? CHECKPOINT_TIMEOUT : Duration.ofSeconds(timeoutSeconds);
            try {
                shim.checkpoint(c.id(), images, criuWork, timeout);
            } catch (ShimException e) {
                throw new IOException("checkpoint of container " + c.id() + " failed: "
                        + e.getMessage() + criuErrors(bundle.resolve("criu-dump.log")), e);
            }
            CheckpointArchive.write(archive, images, checkpointConfig(c, sandbox), c.spec(), c.rootfs().upper());
            LOG.info("container checkpointed", "id", c.id(), "location", archive);
        } finally {
            Tasks.cleanupQuietly(work);
        }
    }

    /** CRIU must work here, and the pod's handler must be one that checkpoints through it (not gVisor). */
    static void requireCriu(Handlers handlers, Sandbox sandbox, String what) {
        if (handlers.standaloneContainers(sandbox)) {
            throw new FailedPreconditionException("cannot " + what + ": runtime handler \""
                    + sandbox.record().runtimeHandler() + "\" (gVisor) does not checkpoint or restore with CRIU");
        }
        var problem = Criu.problem();
        if (problem.isPresent()) {
            throw new FailedPreconditionException("cannot " + what + ": " + problem.get());
        }
    }

    /** CRIU's error lines from the dump log the runc shim leaves in the bundle, for the status message. */
    private static String criuErrors(Path dumpLog) {
        try {
            var errors = Files.readAllLines(dumpLog).stream().filter(l -> l.contains("Error")).map(String::strip)
                    .toList();
            return errors.isEmpty() ? "" : "; criu: " + String.join("; ", errors.subList(0, Math.min(5, errors.size())));
        } catch (IOException e) {
            return "";
        }
    }

    /** config.dump: what Bollard knows of the container, under the names CRI-O's archives use where they exist. */
    private JsonObject checkpointConfig(Container c, Sandbox sandbox) {
        var r = c.record();
        var o = new JsonObject();
        o.addProperty("id", c.id());
        o.addProperty("name", c.config().getMetadata().getName());
        o.addProperty("rootfsImage", r.imageId());
        o.addProperty("rootfsImageRef", r.imageRef());
        o.addProperty("rootfsImageName", r.image());
        o.addProperty("runtime", sandbox.record().runtimeHandler());
        o.addProperty("createdTime", Instant.ofEpochSecond(0, r.createdAt()).toString());
        o.addProperty("checkpointedTime", clock.instant().toString());
        o.addProperty("podSandboxId", r.sandboxId());
        o.add("containerConfig", r.config());
        return o;
    }
}
