package dev.bollard.daemon.shim.ttrpc;

import dev.bollard.api.ttrpc.KeyValue;

import java.util.List;
import java.util.Optional;

/**
 * What a handler may want to know about the call it serves, available through {@link TtrpcServer#currentCall()}.
 *
 * @param streamId      the client's stream id (odd)
 * @param metadata      the request metadata in order (keys may repeat)
 * @param receivedNanos when the request was read, on the {@link System#nanoTime()} clock
 * @param timeoutNanos  the caller's timeout ({@code timeout_nano}) counted from then, or 0 for none
 */
public record TtrpcServerCall(String service, String method, int streamId, List<KeyValue> metadata,
                              long receivedNanos, long timeoutNanos) {

    public TtrpcServerCall {
        metadata = List.copyOf(metadata);
    }

    /** The first value of {@code key}, if any. */
    public Optional<String> metadataValue(String key) {
        return metadata.stream().filter(kv -> kv.getKey().equals(key)).map(KeyValue::getValue).findFirst();
    }

    /** Whether the caller has stopped waiting (the work may still be finished; the answer is just unheard). */
    public boolean deadlinePassed() {
        return timeoutNanos != 0 && System.nanoTime() - receivedNanos >= timeoutNanos;
    }
}
