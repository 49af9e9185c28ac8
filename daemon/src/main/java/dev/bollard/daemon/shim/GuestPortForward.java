package dev.bollard.daemon.shim;

import java.io.IOException;
import java.net.ConnectException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * Port-forward into a VM pod: its ports listen in the guest, which the pod's network namespace on the host does not
 * reach from its loopback. The VM shim serves {@code portforward.sock} beside its task socket; this names the port
 * as a decimal line, reads {@code ok} or {@code error <message>}, and hands back the socket, which from then on
 * carries the guest connection's bytes both ways (half-closes included), like a TCP socket in the pod.
 */
public final class GuestPortForward {

    public static final String SOCKET = "portforward.sock";
    private static final int MAX_ANSWER = 4096;

    private GuestPortForward() {
    }

    /**
     * @param shimSocket the VM shim's task socket ({@link Shim#socket()})
     * @throws ConnectException when nothing in the guest accepts on the port (the message says why)
     */
    public static SocketChannel connect(Path shimSocket, int port) throws IOException {
        Path socket = shimSocket.resolveSibling(SOCKET);
        var ch = SocketChannel.open(StandardProtocolFamily.UNIX);
        try {
            ch.connect(UnixDomainSocketAddress.of(socket));
            var request = ByteBuffer.wrap((port + "\n").getBytes(StandardCharsets.US_ASCII));
            while (request.hasRemaining()) {
                ch.write(request);
            }
            String answer = readLine(ch);
            if (answer.equals("ok")) {
                return ch;
            }
            throw new ConnectException(answer.startsWith("error ") ? answer.substring(6) : answer);
        } catch (IOException | RuntimeException e) {
            ch.close();
            throw e;
        }
    }

    /** One line, a byte at a time: what follows it is the connection's data, which must stay in the socket. */
    private static String readLine(SocketChannel ch) throws IOException {
        var line = new java.io.ByteArrayOutputStream();
        var one = ByteBuffer.allocate(1);
        while (line.size() < MAX_ANSWER) {
            one.clear();
            if (ch.read(one) < 0) {
                throw new IOException("the VM shim closed the port-forward socket without an answer");
            }
            if (one.get(0) == '\n') {
                return line.toString(StandardCharsets.UTF_8);
            }
            line.write(one.get(0));
        }
        throw new IOException("the VM shim's port-forward answer is too long");
    }
}
