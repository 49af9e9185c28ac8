package dev.bollard.daemon.shim;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.ConnectException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The daemon's end of the VM shim's port-forward socket, against a stand-in for the shim. */
class GuestPortForwardTest {

    @TempDir
    Path dir;

    /** A one-connection shim: reads the request line, answers {@code answer}, then echoes what follows. */
    private CompletableFuture<String> fakeShim(String answer) throws IOException {
        var server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        server.bind(UnixDomainSocketAddress.of(dir.resolve(GuestPortForward.SOCKET)));
        var request = new CompletableFuture<String>();
        Thread.ofVirtual().start(() -> {
            try (server; SocketChannel c = server.accept()) {
                var line = new StringBuilder();
                var one = ByteBuffer.allocate(1);
                while (c.read(one.clear()) > 0 && one.get(0) != '\n') {
                    line.append((char) one.get(0));
                }
                request.complete(line.toString());
                c.write(ByteBuffer.wrap((answer + "\n").getBytes(StandardCharsets.UTF_8)));
                var buf = ByteBuffer.allocate(1024);
                while (c.read(buf.clear()) > 0) {
                    c.write(buf.flip());
                }
            } catch (IOException e) {
                request.completeExceptionally(e);
            }
        });
        return request;
    }

    @Test
    void afterOkTheSocketCarriesTheGuestConnection() throws Exception {
        var request = fakeShim("ok");
        try (var ch = GuestPortForward.connect(dir.resolve("shim.sock"), 8080)) {
            assertEquals("8080", request.get());
            ch.write(ByteBuffer.wrap("ping".getBytes(StandardCharsets.US_ASCII)));
            var back = ByteBuffer.allocate(4);
            while (back.hasRemaining() && ch.read(back) >= 0) {
                // until the echo is whole
            }
            assertEquals("ping", new String(back.array(), StandardCharsets.US_ASCII),
                    "nothing of the data was eaten with the answer line");
        }
    }

    @Test
    void theShimsErrorIsAConnectException() throws Exception {
        fakeShim("error connect to port 9 in the guest: Connection refused");
        var e = assertThrows(ConnectException.class, () -> GuestPortForward.connect(dir.resolve("shim.sock"), 9));
        assertEquals("connect to port 9 in the guest: Connection refused", e.getMessage());
    }

    @Test
    void noShimSocketFailsToConnect() {
        var e = assertThrows(IOException.class, () -> GuestPortForward.connect(dir.resolve("shim.sock"), 80));
        assertTrue(e.getMessage() == null || !e.getMessage().isEmpty());
    }
}
