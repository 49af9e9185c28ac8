package dev.bollard.daemon.streaming;

import io.netty.channel.ChannelHandlerContext;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Port-forward over WebSocket (kubelet's {@code v4.channel.k8s.io} framing): one connection per requested port,
 * port i on channels 2i (data) and 2i+1 (error). The first message the server sends on each channel carries the
 * port as a little-endian uint16. The WebSocket closes once every port's pod side has ended.
 */
final class WebSocketPortForward extends WebSocketChannels {

    private final StreamBackend backend;
    private final StreamRequest.PortForward request;
    private final List<Integer> ports;
    private final Duration grace;
    private final List<PortForwarder> forwarders = new ArrayList<>();

    WebSocketPortForward(StreamBackend backend, StreamRequest.PortForward request, List<Integer> ports,
                         boolean base64, Duration grace) {
        super(base64);
        this.backend = backend;
        this.request = request;
        this.ports = List.copyOf(ports);
        this.grace = grace;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        super.handlerAdded(ctx);
        var remaining = new AtomicInteger(ports.size());
        for (int i = 0; i < ports.size(); i++) {
            int port = ports.get(i);
            var data = inbound(2 * i);
            var out = outbound(2 * i);
            var error = outbound(2 * i + 1);
            byte[] prefix = {(byte) (port & 0xff), (byte) (port >>> 8)};
            sendNow(2 * i, prefix);
            sendNow(2 * i + 1, prefix);
            forwarders.add(PortForwarder.start(backend, request.podSandboxId(), port, data, out, error, () -> {
                if (remaining.decrementAndGet() == 0) {
                    closeGracefully(grace);
                }
            }));
        }
    }

    @Override
    protected void closed() {
        forwarders.forEach(PortForwarder::abort);
    }
}
