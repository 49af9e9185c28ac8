package dev.bollard.daemon.nri;

import com.google.protobuf.ByteString;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.MessageLite;
import com.google.protobuf.Parser;
import com.google.rpc.Status;
import dev.bollard.api.ttrpc.Request;
import dev.bollard.api.ttrpc.Response;
import dev.bollard.daemon.log.Log;
import dev.bollard.daemon.shim.ttrpc.TtrpcException;
import dev.bollard.daemon.shim.ttrpc.TtrpcFrame;
import dev.bollard.daemon.shim.ttrpc.TtrpcHandler;
import io.grpc.Status.Code;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * One NRI plugin connection: NRI's multiplexer over a single stream socket, carrying two ttrpc connections. Each mux
 * frame is an 8-byte header (connection id, payload length; big-endian u32s) and the payload, a piece of that
 * connection's byte stream. Connection 1 carries the plugin's {@code Plugin} service, which this side calls;
 * connection 2 the runtime's {@code Runtime} service, which this side serves. (A plugin of our own, in tests, uses
 * it the other way round: {@link #NriConnection(Trunk, int, int, Map, String)}.)
 *
 * <p>The other side's ttrpc reads each mux payload into a 4 KiB buffer when it has nothing buffered, so frames are
 * written in pieces of at most {@link #MAX_PIECE} bytes. One platform thread reads; handlers run on virtual threads.
 */
public final class NriConnection implements AutoCloseable {

    public static final int PLUGIN_SERVICE_CONN = 1;
    public static final int RUNTIME_SERVICE_CONN = 2;
    static final int MAX_PIECE = 4096;
    private static final int MUX_HEADER = 8;
    private static final Log LOG = Log.get("nri");

    /** The byte stream below the mux: a socket channel or a socketpair end. */
    public interface Trunk extends AutoCloseable {
        /** Reads at least one byte; -1 at the end of the stream. */
        int read(ByteBuffer into) throws IOException;

        void write(ByteBuffer from) throws IOException;

        @Override
        void close();

        /** A connected socket as the trunk (a plugin that connected, or a plugin's side in tests). */
        static Trunk of(java.nio.channels.SocketChannel channel) {
            return new Trunk() {
                @Override
                public int read(ByteBuffer into) throws IOException {
                    return channel.read(into);
                }

                @Override
                public void write(ByteBuffer from) throws IOException {
                    channel.write(from);
                }

                @Override
                public void close() {
                    try {
                        channel.close();
                    } catch (IOException ignored) {
                        // closed either way
                    }
                }
            };
        }
    }

    private final Trunk trunk;
    private final int clientConn;
    private final int serverConn;
    private final Map<String, TtrpcHandler> methods;
    private final String label;
    private final Map<Integer, CompletableFuture<Response>> pending = new ConcurrentHashMap<>();
    private final Map<Integer, ByteArrayOutputStream> streams = new ConcurrentHashMap<>();
    private final CompletableFuture<Void> closed = new CompletableFuture<>();
    private final Object writeLock = new Object();
    private int nextStreamId = 1;
    private final Thread reader;

    /** The runtime's side: calls the plugin on connection 1, serves {@code methods} on connection 2. */
    public NriConnection(Trunk trunk, Map<String, TtrpcHandler> methods, String label) {
        this(trunk, PLUGIN_SERVICE_CONN, RUNTIME_SERVICE_CONN, methods, label);
    }

    /**
     * @param methods by full name {@code service/method}
     */
    public NriConnection(Trunk trunk, int clientConn, int serverConn, Map<String, TtrpcHandler> methods, String label) {
        this.trunk = trunk;
        this.clientConn = clientConn;
        this.serverConn = serverConn;
        this.methods = Map.copyOf(methods);
        this.label = label;
        this.reader = Thread.ofPlatform().daemon().name("nri-reader-" + label).unstarted(this::readLoop);
    }

    public NriConnection start() {
        reader.start();
        return this;
    }

    /** Completes once the connection is gone, whoever closed it. */
    public CompletableFuture<Void> closedFuture() {
        return closed.copy();
    }

    public boolean isOpen() {
        return !closed.isDone();
    }

    /**
     * A unary call on the client connection; waits at most {@code timeout}.
     *
     * @throws TtrpcException the peer's error status, DEADLINE_EXCEEDED after the timeout, UNAVAILABLE when closed
     */
    public <T> T call(String service, String method, MessageLite request, Parser<T> parser, Duration timeout)
            throws TtrpcException, InterruptedException {
        var future = new CompletableFuture<Response>();
        int id;
        byte[] frame;
        synchronized (writeLock) {
            id = nextStreamId;
            nextStreamId += 2;
            pending.put(id, future);
            byte[] payload = Request.newBuilder().setService(service).setMethod(method)
                    .setPayload(request.toByteString()).setTimeoutNano(timeout.toNanos()).build().toByteArray();
            frame = frame(id, TtrpcFrame.TYPE_REQUEST, payload);
            if (closed.isDone()) {
                pending.remove(id);
                throw new TtrpcException(Code.UNAVAILABLE, "nri: connection to " + label + " is closed");
            }
            try {
                writeLocked(clientConn, frame);
            } catch (IOException e) {
                pending.remove(id);
                close();
                throw new TtrpcException(Code.UNAVAILABLE, "nri: cannot write to " + label + ": " + e.getMessage(), e);
            }
        }
        Response response;
        try {
            response = future.get(timeout.toNanos(), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            throw new TtrpcException(Code.DEADLINE_EXCEEDED, service + "/" + method + " to " + label
                    + " took longer than " + timeout.toMillis() + " ms");
        } catch (ExecutionException e) {
            throw new TtrpcException(Code.UNAVAILABLE, "nri: connection to " + label + " closed during "
                    + method, e.getCause());
        } finally {
            pending.remove(id);
        }
        if (response.getStatus().getCode() != 0) {
            var status = response.getStatus();
            throw new TtrpcException(Code.values()[Math.min(status.getCode(), Code.values().length - 1)],
                    status.getMessage());
        }
        try {
            return parser.parseFrom(response.getPayload());
        } catch (InvalidProtocolBufferException e) {
            throw new TtrpcException(Code.INTERNAL, "cannot parse the answer of " + method + " from " + label, e);
        }
    }

    private static byte[] frame(int streamId, int type, byte[] data) {
        var b = ByteBuffer.allocate(TtrpcFrame.HEADER_LENGTH + data.length);
        b.putInt(data.length).putInt(streamId).put((byte) type).put((byte) 0).put(data);
        return b.array();
    }

    private void write(int conn, byte[] bytes) throws IOException {
        synchronized (writeLock) {
            writeLocked(conn, bytes);
        }
    }

    private void writeLocked(int conn, byte[] bytes) throws IOException {
        for (int at = 0; at < bytes.length; at += MAX_PIECE) {
            int n = Math.min(MAX_PIECE, bytes.length - at);
            var b = ByteBuffer.allocate(MUX_HEADER + n);
            b.putInt(conn).putInt(n).put(bytes, at, n).flip();
            while (b.hasRemaining()) {
                trunk.write(b);
            }
        }
    }

    private void readLoop() {
        var header = ByteBuffer.allocate(MUX_HEADER);
        try {
            while (true) {
                header.clear();
                if (!readFully(header)) {
                    break;
                }
                header.flip();
                int conn = header.getInt();
                int length = header.getInt();
                if (length < 0 || length > TtrpcFrame.HEADER_LENGTH + TtrpcFrame.MAX_DATA_LENGTH) {
                    throw new IOException("mux frame of " + Integer.toUnsignedString(length) + " bytes");
                }
                var payload = ByteBuffer.allocate(length);
                if (!readFully(payload)) {
                    break;
                }
                if (conn != clientConn && conn != serverConn) {
                    continue; // a connection nobody opened here: dropped, as the reference mux does
                }
                var stream = streams.computeIfAbsent(conn, c -> new ByteArrayOutputStream());
                stream.write(payload.array(), 0, length);
                drainFrames(conn, stream);
            }
        } catch (IOException | RuntimeException e) {
            if (!closed.isDone()) {
                LOG.debug("nri connection failed", "plugin", label, "error", String.valueOf(e.getMessage()));
            }
        } finally {
            close();
        }
    }

    private boolean readFully(ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            if (trunk.read(b) < 0) {
                return false;
            }
        }
        return true;
    }

    /** Takes every complete ttrpc frame off the front of the connection's byte stream. */
    private void drainFrames(int conn, ByteArrayOutputStream stream) throws IOException {
        byte[] bytes = stream.toByteArray();
        int at = 0;
        while (bytes.length - at >= TtrpcFrame.HEADER_LENGTH) {
            var h = ByteBuffer.wrap(bytes, at, TtrpcFrame.HEADER_LENGTH);
            int length = h.getInt();
            int streamId = h.getInt();
            int type = h.get() & 0xff;
            if (length < 0 || length > TtrpcFrame.MAX_DATA_LENGTH) {
                throw new IOException("ttrpc frame of " + Integer.toUnsignedString(length) + " bytes");
            }
            if (bytes.length - at - TtrpcFrame.HEADER_LENGTH < length) {
                break;
            }
            byte[] data = java.util.Arrays.copyOfRange(bytes, at + TtrpcFrame.HEADER_LENGTH,
                    at + TtrpcFrame.HEADER_LENGTH + length);
            at += TtrpcFrame.HEADER_LENGTH + length;
            onFrame(conn, streamId, type, data);
        }
        stream.reset();
        stream.write(bytes, at, bytes.length - at);
    }

    private void onFrame(int conn, int streamId, int type, byte[] data) throws IOException {
        if (conn == clientConn && type == TtrpcFrame.TYPE_RESPONSE) {
            var future = pending.remove(streamId);
            if (future != null) {
                future.complete(Response.parseFrom(data));
            }
        } else if (conn == serverConn && type == TtrpcFrame.TYPE_REQUEST) {
            var request = Request.parseFrom(data);
            Thread.ofVirtual().name("nri-serve-" + label).start(() -> serve(streamId, request));
        }
        // anything else (data frames of streaming calls, which NRI does not use) is ignored
    }

    private void serve(int streamId, Request request) {
        String name = request.getService() + "/" + request.getMethod();
        TtrpcHandler handler = methods.get(name);
        Status status;
        ByteString result = ByteString.EMPTY;
        if (handler == null) {
            status = Status.newBuilder().setCode(Code.UNIMPLEMENTED.value()).setMessage(name).build();
        } else {
            try {
                byte[] answer = handler.handle(request.getPayload().toByteArray());
                result = answer == null ? ByteString.EMPTY : ByteString.copyFrom(answer);
                status = Status.newBuilder().setCode(0).build();
            } catch (TtrpcException e) {
                status = e.status();
            } catch (RuntimeException e) {
                LOG.warn("nri request failed", "plugin", label, "method", name, "error", String.valueOf(e.getMessage()));
                status = Status.newBuilder().setCode(Code.UNKNOWN.value()).setMessage(String.valueOf(e.getMessage()))
                        .build();
            }
        }
        byte[] response = Response.newBuilder().setStatus(status).setPayload(result).build().toByteArray();
        try {
            write(serverConn, frame(streamId, TtrpcFrame.TYPE_RESPONSE, response));
        } catch (IOException e) {
            close();
        }
    }

    /** Closes the socket; calls waiting fail with UNAVAILABLE. Idempotent. */
    @Override
    public void close() {
        if (closed.isDone()) {
            return;
        }
        trunk.close();
        closed.complete(null);
        pending.values().forEach(f -> f.completeExceptionally(new IOException("connection closed")));
    }

    @Override
    public String toString() {
        return "NriConnection[" + label + "]";
    }
}
