package dev.bollard.daemon.cri;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.FileSystemException;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** A write refused for lack of space, however deep in the cause chain, is RESOURCE_EXHAUSTED. */
class CallsDiskFullTest {

    private static Status.Code codeOf(Exception thrown) {
        var seen = new Throwable[1];
        Calls.unary(new StreamObserver<Object>() {
            @Override
            public void onNext(Object value) {
            }

            @Override
            public void onError(Throwable t) {
                seen[0] = t;
            }

            @Override
            public void onCompleted() {
            }
        }, () -> {
            throw thrown;
        });
        return ((StatusRuntimeException) seen[0]).getStatus().getCode();
    }

    @Test
    void enospcAndEdquotAreResourceExhausted() {
        assertEquals(Status.Code.RESOURCE_EXHAUSTED, codeOf(new IOException("No space left on device")));
        assertEquals(Status.Code.RESOURCE_EXHAUSTED, codeOf(new FileSystemException("/var/lib/bollard/store/x.json",
                null, "No space left on device")));
        assertEquals(Status.Code.RESOURCE_EXHAUSTED, codeOf(new IOException("writing the record",
                new IOException("Disk quota exceeded"))));
        assertEquals(Status.Code.INTERNAL, codeOf(new IOException("Input/output error")));
    }
}
