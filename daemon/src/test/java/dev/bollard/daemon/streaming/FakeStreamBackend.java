package dev.bollard.daemon.streaming;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A backend for protocol tests (pure wire logic, no containers): commands are interpreted here.
 * {@code cat}: stdin to stdout; {@code exit N}: "bye" on stderr, exit N; {@code size}: prints the first resize as
 * "rows cols"; {@code big N SEED}: N pseudo-random bytes; {@code sleep}: blocks until interrupted; {@code fail}:
 * a StreamException. Port-forward connects to 127.0.0.1:port.
 */
final class FakeStreamBackend implements StreamBackend {

    final AtomicInteger running = new AtomicInteger();
    final AtomicInteger interrupted = new AtomicInteger();
    volatile CountDownLatch sleeping = new CountDownLatch(1);

    @Override
    public int exec(StreamRequest.Exec r, RemoteCommandStreams io) throws IOException, InterruptedException {
        running.incrementAndGet();
        try {
            var cmd = r.cmd();
            switch (cmd.getFirst()) {
                case "cat" -> {
                    io.stdin().transferTo(io.stdout());
                    return 0;
                }
                case "exit" -> {
                    io.stderr().write("bye".getBytes(StandardCharsets.UTF_8));
                    return Integer.parseInt(cmd.get(1));
                }
                case "size" -> {
                    var size = io.nextResize().orElseThrow(() -> new StreamException("no resize came"));
                    io.stdout().write((size.height() + " " + size.width() + "\n").getBytes(StandardCharsets.UTF_8));
                    return 0;
                }
                case "big" -> {
                    writeRandom(io.stdout(), Long.parseLong(cmd.get(1)), Long.parseLong(cmd.get(2)));
                    return 0;
                }
                case "sleep" -> {
                    sleeping.countDown();
                    try {
                        Thread.sleep(Long.MAX_VALUE);
                    } catch (InterruptedException e) {
                        interrupted.incrementAndGet();
                        throw e;
                    }
                    return 0;
                }
                case "fail" -> throw new StreamException("container " + r.containerId() + " is not running");
                default -> throw new StreamException("unknown fake command " + cmd);
            }
        } finally {
            running.decrementAndGet();
        }
    }

    @Override
    public void attach(StreamRequest.Attach r, RemoteCommandStreams io) throws IOException {
        running.incrementAndGet();
        try {
            io.stdin().transferTo(io.stdout());
        } finally {
            running.decrementAndGet();
        }
    }

    @Override
    public SocketChannel portForward(String podSandboxId, int port) throws IOException {
        return SocketChannel.open(new InetSocketAddress("127.0.0.1", port));
    }

    static void writeRandom(OutputStream out, long n, long seed) throws IOException {
        var random = new Random(seed);
        byte[] buf = new byte[64 * 1024];
        for (long left = n; left > 0; ) {
            random.nextBytes(buf);
            int k = (int) Math.min(left, buf.length);
            out.write(buf, 0, k);
            left -= k;
        }
    }
}
