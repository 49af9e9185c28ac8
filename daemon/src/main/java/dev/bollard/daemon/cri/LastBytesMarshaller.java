package dev.bollard.daemon.cri;

import io.grpc.Drainable;
import io.grpc.KnownLength;
import io.grpc.MethodDescriptor;
import io.grpc.ServerMethodDefinition;
import io.grpc.ServerServiceDefinition;
import io.grpc.ServiceDescriptor;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.Set;

/**
 * A response marshaller that keeps the bytes of the last message it serialized and sends them again when handed the
 * very same message (by identity: messages are immutable). With {@link LastAnswer} an unchanged List answer costs a
 * copy instead of serializing 100 items again. Parsing is the wrapped marshaller's.
 */
final class LastBytesMarshaller<T extends com.google.protobuf.MessageLite> implements MethodDescriptor.Marshaller<T> {

    private record Last(Object message, byte[] bytes) {
    }

    private final MethodDescriptor.Marshaller<T> proto;
    private volatile Last last;

    LastBytesMarshaller(MethodDescriptor.Marshaller<T> proto) {
        this.proto = proto;
    }

    @Override
    public InputStream stream(T value) {
        var l = last;
        if (l == null || l.message() != value) {
            l = new Last(value, value.toByteArray());
            last = l;
        }
        return new Bytes(l.bytes());
    }

    @Override
    public T parse(InputStream stream) {
        return proto.parse(stream);
    }

    /** Known length and drainable, so gRPC writes it in one go (as it does protobuf's own stream). */
    private static final class Bytes extends ByteArrayInputStream implements KnownLength, Drainable {
        Bytes(byte[] bytes) {
            super(bytes);
        }

        @Override
        public int drainTo(OutputStream target) throws IOException {
            int n = count - pos;
            target.write(buf, pos, n);
            pos = count;
            return n;
        }
    }

    /**
     * {@code service} with the named methods' responses sent through a {@link LastBytesMarshaller}. The service
     * descriptor is rebuilt from the new method descriptors (gRPC checks that the two are the same instances).
     */
    static ServerServiceDefinition wrap(ServerServiceDefinition service, Set<String> fullMethodNames) {
        var old = service.getServiceDescriptor();
        var descriptor = ServiceDescriptor.newBuilder(old.getName()).setSchemaDescriptor(old.getSchemaDescriptor());
        var methods = new ArrayList<ServerMethodDefinition<?, ?>>();
        for (var m : service.getMethods()) {
            var method = fullMethodNames.contains(m.getMethodDescriptor().getFullMethodName()) ? withLastBytes(m) : m;
            methods.add(method);
            descriptor.addMethod(method.getMethodDescriptor());
        }
        var b = ServerServiceDefinition.builder(descriptor.build());
        methods.forEach(b::addMethod);
        return b.build();
    }

    @SuppressWarnings("unchecked")
    private static <Q, A> ServerMethodDefinition<Q, A> withLastBytes(ServerMethodDefinition<Q, A> m) {
        var d = m.getMethodDescriptor();
        var marshaller = (MethodDescriptor.Marshaller<A>) (MethodDescriptor.Marshaller<?>) new LastBytesMarshaller<>(
                (MethodDescriptor.Marshaller<com.google.protobuf.MessageLite>) d.getResponseMarshaller());
        return ServerMethodDefinition.create(d.toBuilder(d.getRequestMarshaller(), marshaller).build(), m.getServerCallHandler());
    }
}
