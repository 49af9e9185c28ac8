package dev.bollard.daemon.cri;

import com.google.protobuf.CodedOutputStream;
import com.google.protobuf.MessageLite;
import dev.bollard.api.cri.v1.ContainerStatusResponse;
import dev.bollard.api.cri.v1.PodSandboxStatusResponse;
import dev.bollard.api.cri.v1.RuntimeServiceGrpc;

import java.io.IOException;
import java.util.List;

/**
 * The response marshallers of PodSandboxStatus and ContainerStatus ({@link RuntimeServiceImpl} wires them), which a
 * non-verbose answer hands the bytes it put together from the pod's and the containers' kept serialized statuses
 * (see {@code PodSandboxRpcs.status}, {@code ContainerRpcs.status}): kubelet asks for these after every state change
 * and on every relist, and a fresh daemon runs protobuf's serialization of them (its map code for the labels and
 * annotations) interpreted. One marshaller per method for the whole JVM, since the socket's method set is served
 * before the handlers exist (server.LateServices); the bytes are only sent for the very message they were made for
 * (by identity), so daemons sharing a JVM (tests) cannot see each other's.
 */
public final class StatusBytes {

    static final LastBytesMarshaller<PodSandboxStatusResponse> POD = new LastBytesMarshaller<>(
            RuntimeServiceGrpc.getPodSandboxStatusMethod().getResponseMarshaller());
    static final LastBytesMarshaller<ContainerStatusResponse> CONTAINER = new LastBytesMarshaller<>(
            RuntimeServiceGrpc.getContainerStatusMethod().getResponseMarshaller());

    private StatusBytes() {
    }

    /** What the server sends for {@code response} (for tests: the bytes on the wire). */
    public static byte[] sent(PodSandboxStatusResponse response) throws IOException {
        return POD.stream(response).readAllBytes();
    }

    /** What the server sends for {@code response} (for tests: the bytes on the wire). */
    public static byte[] sent(ContainerStatusResponse response) throws IOException {
        return CONTAINER.stream(response).readAllBytes();
    }

    /** {@code serialized}, a message's bytes, as field {@code field} of an enclosing message. */
    static byte[] asField(int field, byte[] serialized) {
        int size = CodedOutputStream.computeTagSize(field) + CodedOutputStream.computeUInt32SizeNoTag(serialized.length)
                + serialized.length;
        byte[] bytes = new byte[size];
        var out = CodedOutputStream.newInstance(bytes);
        try {
            out.writeTag(field, com.google.protobuf.WireFormat.WIRETYPE_LENGTH_DELIMITED);
            out.writeUInt32NoTag(serialized.length);
            out.writeRawBytes(serialized);
            out.checkNoSpaceLeft();
        } catch (IOException e) {
            throw new IllegalStateException("serializing into an array of its computed size", e);
        }
        return bytes;
    }

    /**
     * A PodSandboxStatusResponse without {@code info}, field by field as protobuf writes it (fields in number order):
     * the pod's status as its kept bytes ({@code status}, field 1 already), the containers' statuses, the timestamp.
     */
    static byte[] podResponse(byte[] status, List<? extends MessageLite> containerStatuses, long timestamp) {
        int size = status.length;
        for (var c : containerStatuses) {
            size += CodedOutputStream.computeMessageSize(3, c);
        }
        if (timestamp != 0) {
            size += CodedOutputStream.computeInt64Size(4, timestamp);
        }
        byte[] bytes = new byte[size];
        var out = CodedOutputStream.newInstance(bytes);
        try {
            out.writeRawBytes(status);
            for (var c : containerStatuses) {
                out.writeMessage(3, c);
            }
            if (timestamp != 0) {
                out.writeInt64(4, timestamp);
            }
            out.checkNoSpaceLeft();
        } catch (IOException e) {
            throw new IllegalStateException("serializing into an array of its computed size", e);
        }
        return bytes;
    }
}
