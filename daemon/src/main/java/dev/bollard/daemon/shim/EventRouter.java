package dev.bollard.daemon.shim;

import com.google.protobuf.Empty;
import com.google.protobuf.InvalidProtocolBufferException;
import dev.bollard.api.containerd.events.TaskExit;
import dev.bollard.api.containerd.events.TaskOOM;
import dev.bollard.api.containerd.services.events.v1.ForwardRequest;
import dev.bollard.api.containerd.types.Envelope;
import dev.bollard.daemon.log.Log;
import dev.bollard.daemon.shim.ttrpc.TtrpcException;
import io.grpc.Status.Code;

import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Map;

/**
 * Serves the shims' {@code Forward} calls: decodes the task events Bollard acts on and hands them to
 * {@link ShimEvents} on virtual threads, one serial queue per container so that each container's events keep the
 * order the shim sent them in (the shim sends one at a time and waits for the answer, which comes once the event
 * is queued, not once it is handled).
 */
final class EventRouter {

    static final String SERVICE = "containerd.services.events.ttrpc.v1.Events";
    static final String METHOD = "Forward";

    private static final Log LOG = Log.get("shim");

    private final String namespace;
    private final ShimEvents events;
    private final Map<String, ArrayDeque<Runnable>> queues = new HashMap<>(); // guarded by itself

    EventRouter(String namespace, ShimEvents events) {
        this.namespace = namespace;
        this.events = events;
    }

    Empty forward(ForwardRequest request) throws TtrpcException {
        Envelope envelope = request.getEnvelope();
        if (!envelope.getNamespace().equals(namespace)) {
            LOG.debug("shim event of another namespace ignored", "namespace", envelope.getNamespace(),
                    "topic", envelope.getTopic());
            return Empty.getDefaultInstance();
        }
        String url = envelope.getEvent().getTypeUrl();
        // containerd's URLs have no "type.googleapis.com/" prefix; accept one anyway.
        String type = url.substring(url.lastIndexOf('/') + 1);
        try {
            switch (type) {
                case "containerd.events.TaskExit" -> {
                    TaskExit exit = TaskExit.parseFrom(envelope.getEvent().getValue());
                    String execId = exit.getId().equals(exit.getContainerId()) ? "" : exit.getId();
                    submit(exit.getContainerId(), () -> events.taskExit(exit.getContainerId(), execId,
                            exit.getPid(), exit.getExitStatus(), Shim.instant(exit.getExitedAt())));
                }
                case "containerd.events.TaskOOM" -> {
                    TaskOOM oom = TaskOOM.parseFrom(envelope.getEvent().getValue());
                    submit(oom.getContainerId(), () -> events.taskOom(oom.getContainerId()));
                }
                default -> LOG.debug("shim event", "topic", envelope.getTopic(), "type", url);
            }
        } catch (InvalidProtocolBufferException e) {
            throw new TtrpcException(Code.INVALID_ARGUMENT, "cannot parse " + url + ": " + e.getMessage(), e);
        }
        return Empty.getDefaultInstance();
    }

    private void submit(String containerId, Runnable delivery) {
        ArrayDeque<Runnable> queue;
        synchronized (queues) {
            queue = queues.get(containerId);
            if (queue != null) {
                queue.addLast(delivery); // its drainer is running and will get to it
                return;
            }
            queue = new ArrayDeque<>();
            queue.addLast(delivery);
            queues.put(containerId, queue);
        }
        var mine = queue;
        Thread.ofVirtual().name("shim-events-" + containerId).start(() -> drain(containerId, mine));
    }

    private void drain(String containerId, ArrayDeque<Runnable> queue) {
        while (true) {
            Runnable next;
            synchronized (queues) {
                next = queue.peekFirst();
                if (next == null) {
                    queues.remove(containerId);
                    return;
                }
            }
            try {
                next.run();
            } catch (RuntimeException e) {
                LOG.error("shim event listener failed", e, "container", containerId);
            }
            synchronized (queues) {
                queue.removeFirst();
            }
        }
    }
}
