package dev.bollard.cli;

import dev.bollard.api.cri.v1.ContainerEventResponse;
import dev.bollard.api.cri.v1.ContainerEventType;
import io.grpc.stub.StreamObserver;

import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;

/** Collects a GetContainerEvents stream for the events tests, reading every event as it comes. */
final class EventCollector implements StreamObserver<ContainerEventResponse> {
    final List<ContainerEventResponse> events = new CopyOnWriteArrayList<>();
    /** Completes with the stream's error, or null when it completed. */
    final CompletableFuture<Throwable> ended = new CompletableFuture<>();

    @Override
    public void onNext(ContainerEventResponse e) {
        events.add(e);
    }

    @Override
    public void onError(Throwable t) {
        ended.complete(t);
    }

    @Override
    public void onCompleted() {
        ended.complete(null);
    }

    /** The event types seen for a container (or pod sandbox) ID, in order. */
    List<ContainerEventType> typesOf(String id) {
        return events.stream().filter(e -> e.getContainerId().equals(id))
                .map(ContainerEventResponse::getContainerEventType).toList();
    }

    long count(String id) {
        return typesOf(id).size();
    }
}
