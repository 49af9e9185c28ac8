package dev.bollard.vm;

import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * One frame on the agent channel (the virtio-serial port between the shim and the guest agent), in both directions:
 * a 9-byte header ({@code u32} payload length, big-endian; {@code u8} type; {@code u32} id, big-endian) and the
 * payload. Requests and responses carry NUL-terminated text fields; stdio frames carry raw bytes, an empty one
 * meaning end of stream. vm/guest/agent.c is the other end; vm/README.md describes the protocol.
 */
record AgentFrame(int type, int id, byte[] payload) {

    static final int REQUEST = 1;
    static final int RESPONSE = 2;
    static final int STDIN = 3;
    static final int STDOUT = 4;
    static final int STDERR = 5;
    static final int EXIT = 6;
    static final int READY = 7;
    static final int OOM = 8;
    // 9 and 10 are reserved.
    /** A forwarded TCP connection's bytes, both ways (id = forward handle); empty = that side's EOF. */
    static final int PF_DATA = 11;
    /** Bytes of PF_DATA the receiver consumed, decimal: the sender's window opens by that much. */
    static final int PF_ACK = 12;
    /** The forwarded connection is gone, both ways; the payload is the reason (empty: it ended normally). */
    static final int PF_CLOSE = 13;

    static final int HEADER_BYTES = 9;
    /** The agent's limit; a longer frame is a protocol error. */
    static final int MAX_PAYLOAD = 1 << 20;

    AgentFrame {
        if (payload.length > MAX_PAYLOAD) {
            throw new IllegalArgumentException("agent frame payload of " + payload.length + " bytes is over "
                    + MAX_PAYLOAD);
        }
    }

    static AgentFrame request(int id, List<String> fields) {
        return new AgentFrame(REQUEST, id, encodeFields(fields));
    }

    byte[] encode() {
        return ByteBuffer.allocate(HEADER_BYTES + payload.length)
                .putInt(payload.length).put((byte) type).putInt(id).put(payload).array();
    }

    /** Reads one frame; EOFException at a clean end of stream (or one inside a frame). */
    static AgentFrame read(InputStream in) throws IOException {
        byte[] header = in.readNBytes(HEADER_BYTES);
        if (header.length < HEADER_BYTES) {
            throw new EOFException(header.length == 0 ? "agent channel closed" : "agent channel closed inside a frame");
        }
        ByteBuffer h = ByteBuffer.wrap(header);
        int length = h.getInt();
        int type = h.get() & 0xff;
        int id = h.getInt();
        if (length < 0 || length > MAX_PAYLOAD) {
            throw new IOException("agent frame of " + Integer.toUnsignedString(length) + " bytes is over the limit");
        }
        byte[] payload = in.readNBytes(length);
        if (payload.length < length) {
            throw new EOFException("agent channel closed inside a frame");
        }
        return new AgentFrame(type, id, payload);
    }

    /** The text fields of a request or response payload (each NUL-terminated; a missing last NUL is tolerated). */
    List<String> fields() {
        var fields = new ArrayList<String>();
        int start = 0;
        for (int i = 0; i < payload.length; i++) {
            if (payload[i] == 0) {
                fields.add(new String(payload, start, i - start, StandardCharsets.UTF_8));
                start = i + 1;
            }
        }
        if (start < payload.length) {
            fields.add(new String(payload, start, payload.length - start, StandardCharsets.UTF_8));
        }
        return fields;
    }

    static byte[] encodeFields(List<String> fields) {
        var out = new ByteArrayOutputStream();
        for (String field : fields) {
            if (field.indexOf('\0') >= 0) {
                throw new IllegalArgumentException("an agent request field cannot hold a NUL byte");
            }
            out.writeBytes(field.getBytes(StandardCharsets.UTF_8));
            out.write(0);
        }
        return out.toByteArray();
    }
}
