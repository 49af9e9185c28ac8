package dev.bollard.daemon.streaming;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.zip.Deflater;
import java.util.zip.Inflater;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The server against hand-built SPDY/3 frames, as Go's framer writes them (header blocks zlib-compressed with the
 * SPDY/3 dictionary in one stream per direction, lower-case names, 32-bit lengths), independent of Netty's encoder.
 */
class SpdyWireFormatTest {

    private static final int SYN_STREAM = 1, SYN_REPLY = 2, RST_STREAM = 3, PING = 6, GOAWAY = 7, HEADERS = 8,
            WINDOW_UPDATE = 9;

    private final FakeStreamBackend backend = new FakeStreamBackend();
    private StreamTokens tokens;
    private StreamingServer server;
    private byte[] dictionary;

    @BeforeEach
    void start() throws Exception {
        tokens = new StreamTokens(Duration.ofMinutes(1), Clock.systemUTC());
        server = new StreamingServer(new StreamingConfig("127.0.0.1", 0, Optional.empty(), Optional.empty(),
                Duration.ofHours(4), Duration.ofSeconds(30), 10, Duration.ofMinutes(1)), tokens, backend);
        server.start();
        // The dictionary is the SPDY/3 draft's; Netty's copy saves spelling out 1.4 KB here.
        var field = Class.forName("io.netty.handler.codec.spdy.SpdyCodecUtil").getDeclaredField("SPDY_DICT");
        field.setAccessible(true);
        dictionary = (byte[]) field.get(null);
    }

    @AfterEach
    void stop() {
        server.close();
    }

    @Test
    void goStyleFramesRunAnExecAndGetItsStatus() throws Exception {
        String token = tokens.put(new StreamRequest.Exec("c1", List.of("exit", "5"), false, false, false, true));
        try (var socket = new Socket(InetAddress.getLoopbackAddress(), server.baseUrl().getPort())) {
            socket.setSoTimeout(30_000);
            var out = new DataOutputStream(socket.getOutputStream());
            out.write(("POST /exec/" + token + " HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
                    + "X-Stream-Protocol-Version: v4.channel.k8s.io\r\nX-Stream-Protocol-Version: v3.channel.k8s.io\r\n"
                    + "Content-Length: 0\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            var in = new DataInputStream(socket.getInputStream());
            String head = readHead(in);
            assertTrue(head.startsWith("HTTP/1.1 101"), head);
            assertTrue(head.toLowerCase().contains("x-stream-protocol-version: v4.channel.k8s.io"), head);

            var deflater = new Deflater();
            deflater.setDictionary(dictionary);
            synStream(out, deflater, 1, Map.of("streamtype", "error"));
            synStream(out, deflater, 3, Map.of("streamtype", "stderr"));
            ping(out, 1);

            var inflater = new Inflater();
            var data = new HashMap<Integer, ByteArrayOutputStream>();
            var finished = new java.util.HashSet<Integer>();
            var replied = new java.util.HashSet<Integer>();
            boolean pinged = false;
            while (!(finished.contains(1) && finished.contains(3))) {
                int first = in.readInt();
                int second = in.readInt();
                int flags = second >>> 24;
                int length = second & 0xffffff;
                byte[] payload = in.readNBytes(length);
                if ((first & 0x80000000) == 0) {
                    int stream = first & 0x7fffffff;
                    data.computeIfAbsent(stream, s -> new ByteArrayOutputStream()).write(payload);
                    if ((flags & 1) != 0) {
                        finished.add(stream);
                    }
                    continue;
                }
                assertEquals(3, (first >>> 16) & 0x7fff, "SPDY version");
                int type = first & 0xffff;
                var body = ByteBuffer.wrap(payload);
                switch (type) {
                    case SYN_REPLY -> {
                        int stream = body.getInt() & 0x7fffffff;
                        byte[] block = new byte[body.remaining()];
                        body.get(block);
                        assertTrue(block.length > 0, "a SYN_REPLY header block Go's framer can read");
                        inflate(inflater, block);
                        replied.add(stream);
                    }
                    case PING -> {
                        assertEquals(1, body.getInt());
                        pinged = true;
                    }
                    case WINDOW_UPDATE, HEADERS -> {
                    }
                    case RST_STREAM, GOAWAY -> throw new AssertionError("unexpected control frame " + type);
                    default -> throw new AssertionError("unknown control frame " + type);
                }
            }
            assertEquals(java.util.Set.of(1, 3), replied);
            assertTrue(pinged, "the ping was answered");
            assertEquals("bye", data.get(3).toString(StandardCharsets.UTF_8));
            String status = data.get(1).toString(StandardCharsets.UTF_8);
            assertTrue(status.contains("\"reason\":\"NonZeroExitCode\"") && status.contains("\"message\":\"5\""), status);
        }
    }

    private static void synStream(DataOutputStream out, Deflater deflater, int id, Map<String, String> headers)
            throws IOException {
        var block = new ByteArrayOutputStream();
        var raw = new DataOutputStream(block);
        var ordered = new LinkedHashMap<>(headers);
        raw.writeInt(ordered.size());
        for (var e : ordered.entrySet()) {
            byte[] k = e.getKey().getBytes(StandardCharsets.UTF_8);
            byte[] v = e.getValue().getBytes(StandardCharsets.UTF_8);
            raw.writeInt(k.length);
            raw.write(k);
            raw.writeInt(v.length);
            raw.write(v);
        }
        deflater.setInput(block.toByteArray());
        byte[] buf = new byte[4096];
        int n = deflater.deflate(buf, 0, buf.length, Deflater.SYNC_FLUSH);
        out.writeInt(0x80000000 | (3 << 16) | SYN_STREAM);
        out.writeInt(10 + n); // flags 0
        out.writeInt(id);
        out.writeInt(0); // associated stream
        out.writeShort(0); // priority, slot
        out.write(buf, 0, n);
        out.flush();
    }

    private static void ping(DataOutputStream out, int id) throws IOException {
        out.writeInt(0x80000000 | (3 << 16) | PING);
        out.writeInt(4);
        out.writeInt(id);
        out.flush();
    }

    private void inflate(Inflater inflater, byte[] block) throws Exception {
        inflater.setInput(block);
        byte[] buf = new byte[4096];
        int n = inflater.inflate(buf);
        if (n == 0 && inflater.needsDictionary()) {
            inflater.setDictionary(dictionary);
            n = inflater.inflate(buf);
        }
        var headers = ByteBuffer.wrap(buf, 0, n);
        int count = headers.getInt();
        assertTrue(count >= 1, "headers in the reply: " + count);
        for (int i = 0; i < count; i++) {
            byte[] name = new byte[headers.getInt()];
            headers.get(name);
            String text = new String(name, StandardCharsets.UTF_8);
            assertEquals(text.toLowerCase(), text, "SPDY/3 header names are lower case");
            headers.position(headers.position() + headers.getInt());
        }
    }

    private static String readHead(InputStream in) throws IOException {
        var head = new StringBuilder();
        while (!head.toString().endsWith("\r\n\r\n")) {
            int c = in.read();
            if (c < 0) {
                break;
            }
            head.append((char) c);
        }
        return head.toString();
    }
}
