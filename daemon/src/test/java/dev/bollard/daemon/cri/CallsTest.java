package dev.bollard.daemon.cri;

import dev.bollard.daemon.errors.AlreadyExistsException;
import dev.bollard.daemon.errors.DeadlineExceededException;
import dev.bollard.daemon.errors.FailedPreconditionException;
import dev.bollard.daemon.errors.NotFoundException;
import dev.bollard.daemon.errors.ResourceExhaustedException;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The one place domain outcomes become gRPC codes, their messages kept word for word. */
class CallsTest {

    private static Status outcome(Exception e) {
        var got = new AtomicReference<Throwable>();
        Calls.unary(new StreamObserver<Object>() {
            @Override
            public void onNext(Object value) {
            }

            @Override
            public void onError(Throwable t) {
                got.set(t);
            }

            @Override
            public void onCompleted() {
            }
        }, () -> {
            throw e;
        });
        return ((StatusRuntimeException) got.get()).getStatus();
    }

    @Test
    void eachKindHasItsCode() {
        assertEquals(Status.Code.INVALID_ARGUMENT, outcome(new IllegalArgumentException("bad")).getCode());
        assertEquals(Status.Code.NOT_FOUND, outcome(new NotFoundException("pod sandbox \"x\" not found")).getCode());
        assertEquals(Status.Code.NOT_FOUND, outcome(new java.util.NoSuchElementException("gone")).getCode());
        assertEquals(Status.Code.ALREADY_EXISTS, outcome(new AlreadyExistsException("taken")).getCode());
        assertEquals(Status.Code.FAILED_PRECONDITION, outcome(new FailedPreconditionException("not ready")).getCode());
        assertEquals(Status.Code.DEADLINE_EXCEEDED, outcome(new DeadlineExceededException("slow")).getCode());
        assertEquals(Status.Code.RESOURCE_EXHAUSTED, outcome(new ResourceExhaustedException("full")).getCode());
        assertEquals(Status.Code.INTERNAL, outcome(new java.io.IOException("disk")).getCode());
    }

    @Test
    void messagesStayWordForWord() {
        String text = "container name \"a_b_c_d_0\" is reserved for container 0123";
        assertEquals(text, outcome(new AlreadyExistsException(text)).getDescription());
        assertEquals("pod sandbox \"x\" not found", outcome(new NotFoundException("pod sandbox \"x\" not found"))
                .getDescription());
    }
}
