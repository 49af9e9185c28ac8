package dev.bollard.vm;

import com.google.protobuf.Any;
import com.google.protobuf.Empty;
import com.google.protobuf.Message;
import com.google.protobuf.Timestamp;
import dev.bollard.api.containerd.services.events.v1.ForwardRequest;
import dev.bollard.api.containerd.types.Envelope;
import dev.bollard.daemon.log.Log;
import dev.bollard.daemon.shim.ttrpc.TtrpcClient;

import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * Publishes task events to the address containerd (or Bollard) gave in {@code TTRPC_ADDRESS}, as the runc shim
 * does: {@code containerd.services.events.ttrpc.v1.Events/Forward} with an envelope whose event is an Any of type
 * URL {@code containerd.events.<Name>} (no {@code type.googleapis.com/} prefix, as containerd's typeurl registry
 * writes it). One at a time, in the order they were published.
 */
final class EventPublisher implements AutoCloseable {

    private static final Log LOG = Log.get("vm-events");
    static final String SERVICE = "containerd.services.events.ttrpc.v1.Events";
    private static final Duration TIMEOUT = Duration.ofSeconds(5);

    private final String namespace;
    private final Path socket;
    private final ExecutorService queue = Executors.newSingleThreadExecutor(Thread.ofVirtual().name("vm-events").factory());
    private TtrpcClient client;

    /** @param address {@code TTRPC_ADDRESS}; null or empty publishes nothing (the shim was started by hand) */
    EventPublisher(String namespace, String address) {
        this.namespace = namespace;
        this.socket = address == null || address.isBlank() ? null : TtrpcClient.socketPath(address);
    }

    void publish(String topic, Message event) {
        if (socket == null) {
            return;
        }
        Instant now = Instant.now();
        var envelope = Envelope.newBuilder()
                .setTimestamp(Timestamp.newBuilder().setSeconds(now.getEpochSecond()).setNanos(now.getNano()))
                .setNamespace(namespace)
                .setTopic(topic)
                .setEvent(Any.newBuilder().setTypeUrl(event.getDescriptorForType().getFullName())
                        .setValue(event.toByteString()))
                .build();
        var request = ForwardRequest.newBuilder().setEnvelope(envelope).build();
        queue.execute(() -> forward(topic, request));
    }

    private void forward(String topic, ForwardRequest request) {
        for (int attempt = 0; attempt < 2; attempt++) {
            try {
                if (client == null || !client.isOpen()) {
                    client = TtrpcClient.connect(socket, TIMEOUT);
                }
                client.invoke(SERVICE, "Forward", request, Empty.parser(), TIMEOUT);
                return;
            } catch (Exception e) {
                LOG.warn("cannot publish event", "topic", topic, "address", socket, "attempt", attempt + 1,
                        "error", e.getMessage());
                if (client != null) {
                    client.close();
                    client = null;
                }
            }
        }
    }

    /** Sends what is queued (bounded wait), then disconnects. */
    @Override
    public void close() {
        queue.shutdown();
        try {
            queue.awaitTermination(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (client != null) {
            client.close();
        }
    }

    static Timestamp timestamp(Instant instant) {
        return Timestamp.newBuilder().setSeconds(instant.getEpochSecond()).setNanos(instant.getNano()).build();
    }

}
