package dev.bollard.vm;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The shim's port-forward relay against a stand-in agent on a real socket: an echo in the guest that acknowledges
 * only every other chunk (so the window is what bounds the bytes in flight), half-closes both ways, and a refusal.
 */
class GuestPortForwardsTest {

    @TempDir
    Path dir;

    private final List<String> requests = new CopyOnWriteArrayList<>();
    private final AtomicLong maxInFlight = new AtomicLong();

    /** Echoes each forward's bytes back, as a guest server that echoes and closes after the client's EOF would. */
    private void fakeAgent(ServerSocketChannel server) {
        Thread.ofVirtual().start(() -> {
            try (SocketChannel ch = server.accept()) {
                InputStream in = Channels.newInputStream(ch);
                OutputStream out = Channels.newOutputStream(ch);
                long received = 0;
                long acked = 0;
                while (true) {
                    AgentFrame f = AgentFrame.read(in);
                    switch (f.type()) {
                        case AgentFrame.REQUEST -> {
                            List<String> fields = f.fields();
                            requests.add(String.join(" ", fields));
                            var answer = fields.get(2).equals("1") ? List.of("error", "connect to port 1 in the guest: refused")
                                    : List.of("ok");
                            out.write(new AgentFrame(AgentFrame.RESPONSE, f.id(), AgentFrame.encodeFields(answer)).encode());
                        }
                        case AgentFrame.PF_DATA -> {
                            if (f.payload().length == 0) {
                                out.write(new AgentFrame(AgentFrame.PF_ACK, f.id(), AgentFrame.encodeFields(
                                        List.of(Long.toString(received - acked)))).encode());
                                acked = received;
                                out.write(new AgentFrame(AgentFrame.PF_DATA, f.id(), new byte[0]).encode());
                                out.write(new AgentFrame(AgentFrame.PF_CLOSE, f.id(), new byte[0]).encode());
                                continue;
                            }
                            received += f.payload().length;
                            maxInFlight.accumulateAndGet(received - acked, Math::max);
                            if (received - acked >= 2L * 64 * 1024) { // lazily: every other chunk or so
                                out.write(new AgentFrame(AgentFrame.PF_ACK, f.id(), AgentFrame.encodeFields(
                                        List.of(Long.toString(received - acked)))).encode());
                                acked = received;
                            }
                            out.write(new AgentFrame(AgentFrame.PF_DATA, f.id(), f.payload()).encode());
                        }
                        default -> {
                            // PF_ACK for the echoed bytes, PF_CLOSE: nothing to do here
                        }
                    }
                }
            } catch (IOException e) {
                // the channel closed: the test is over
            }
        });
    }

    private SocketChannel client(int port) throws IOException {
        var c = SocketChannel.open(StandardProtocolFamily.UNIX);
        c.connect(UnixDomainSocketAddress.of(dir.resolve(GuestPortForwards.SOCKET)));
        c.write(ByteBuffer.wrap((port + "\n").getBytes(StandardCharsets.US_ASCII)));
        return c;
    }

    private static String line(SocketChannel c) throws IOException {
        var sb = new StringBuilder();
        var one = ByteBuffer.allocate(1);
        while (c.read(one.clear()) > 0 && one.get(0) != '\n') {
            sb.append((char) one.get(0));
        }
        return sb.toString();
    }

    @Test
    void bytesGoBothWaysWithinTheWindowAndARefusalIsAnswered() throws Exception {
        var server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        server.bind(UnixDomainSocketAddress.of(dir.resolve("ctl.sock")));
        fakeAgent(server);
        GuestPortForwards[] forwards = new GuestPortForwards[1];
        var listener = new AgentChannel.Listener() {
            @Override public void output(int handle, boolean stderr, byte[] data) { }
            @Override public void exited(int handle, int status) { }
            @Override public void oomKilled(int handle) { }
            @Override public void closed(boolean expected, String reason) { forwards[0].closeAll(); }
            @Override public void forwardData(int handle, byte[] data) { forwards[0].data(handle, data); }
            @Override public void forwardAcked(int handle, long bytes) { forwards[0].acked(handle, bytes); }
            @Override public void forwardClosed(int handle, String reason) { forwards[0].closedByAgent(handle, reason); }
        };
        try (server; var agent = AgentChannel.connect(dir.resolve("ctl.sock"), listener, Duration.ofSeconds(10))) {
            forwards[0] = GuestPortForwards.listen(dir.resolve(GuestPortForwards.SOCKET), () -> agent);
            try (var c = client(8080)) {
                assertEquals("ok", line(c));
                byte[] data = new byte[3 * GuestPortForwards.WINDOW + 12345];
                new Random(7).nextBytes(data);
                var writer = Thread.ofVirtual().start(() -> {
                    try {
                        var bb = ByteBuffer.wrap(data);
                        while (bb.hasRemaining()) {
                            c.write(bb); // a blocking socket channel may still write part of it
                        }
                        c.shutdownOutput();
                    } catch (IOException e) {
                        throw new RuntimeException(e);
                    }
                });
                byte[] back = Channels.newInputStream(c).readAllBytes(); // until the guest's EOF
                writer.join();
                assertArrayEquals(data, back);
            }
            assertTrue(maxInFlight.get() <= GuestPortForwards.WINDOW, "in flight at most the window: " + maxInFlight);
            assertEquals("pf-connect 1 8080", requests.getFirst());
            try (var refused = client(1)) {
                assertEquals("error agent pf-connect: connect to port 1 in the guest: refused", line(refused));
            }
            forwards[0].close();
        }
        assertTrue(!java.nio.file.Files.exists(dir.resolve(GuestPortForwards.SOCKET)), "the socket is removed");
    }
}
