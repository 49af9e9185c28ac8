package dev.bollard.daemon.streaming.client;

import dev.bollard.daemon.streaming.InboundPipe;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Port-forward over WebSocket ({@code v4.channel.k8s.io}): port i on channels 2i (data) and 2i+1 (error); the
 * first message on each channel starts with the port (uint16, little endian), which is skipped.
 */
final class WebSocketPortForwardClient {

    private static final long MAX_BUFFERED = 1024 * 1024;

    private WebSocketPortForwardClient() {
    }

    static List<StreamClient.Forwarded> open(StreamClient client, URI url, List<Integer> ports)
            throws IOException, InterruptedException {
        var query = new StringBuilder(url.getRawQuery() == null ? "" : url.getRawQuery());
        for (int port : ports) {
            query.append(query.isEmpty() ? "" : "&").append("port=").append(port);
        }
        URI withPorts = URI.create(url.getScheme() + "://" + url.getRawAuthority() + url.getRawPath() + "?" + query);
        int n = ports.size();
        var lock = new ReentrantLock();
        var drained = lock.newCondition();
        var pipes = new InboundPipe[n];
        var errors = new ByteArrayOutputStream[n];
        var prefixSeen = new boolean[2 * n];
        for (int i = 0; i < n; i++) {
            pipes[i] = new InboundPipe(k -> signal(lock, drained));
            errors[i] = new ByteArrayOutputStream();
        }
        var mux = WebSocketMux.connect(client, withPorts, List.of("v4.channel.k8s.io"), (ch, data) -> {
            if (ch >= 2 * n) {
                return;
            }
            if (!prefixSeen[ch]) {
                prefixSeen[ch] = true;
                data = data.length >= 2 ? java.util.Arrays.copyOfRange(data, 2, data.length) : new byte[0];
            }
            int i = ch / 2;
            if (ch % 2 == 0) {
                pipes[i].offer(data);
                awaitBelow(lock, drained, pipes[i]);
            } else {
                synchronized (errors[i]) {
                    errors[i].write(data);
                }
            }
        });
        mux.closed().whenComplete((v, e) -> {
            for (var p : pipes) {
                if (e == null) {
                    p.finish();
                } else {
                    p.fail(new IOException("the streaming connection failed", e));
                }
            }
            signal(lock, drained);
        });
        var result = new ArrayList<StreamClient.Forwarded>();
        for (int i = 0; i < n; i++) {
            int index = i;
            result.add(new StreamClient.Forwarded() {
                @Override
                public InputStream input() {
                    return pipes[index];
                }

                @Override
                public OutputStream output() {
                    return new OutputStream() {
                        @Override
                        public void write(int b) throws IOException {
                            write(new byte[]{(byte) b}, 0, 1);
                        }

                        @Override
                        public void write(byte[] b, int off, int len) throws IOException {
                            while (len > 0) {
                                int k = Math.min(len, 32 * 1024);
                                mux.send(2 * index, b, off, k);
                                off += k;
                                len -= k;
                            }
                        }
                    };
                }

                @Override
                public void closeOutput() {
                }

                @Override
                public String error() throws IOException {
                    try {
                        mux.closed().get();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        throw new java.io.InterruptedIOException();
                    } catch (ExecutionException e) {
                        // reported below with what arrived
                    }
                    synchronized (errors[index]) {
                        return errors[index].toString(StandardCharsets.UTF_8);
                    }
                }

                @Override
                public void close() {
                    mux.close();
                }
            });
        }
        return result;
    }

    private static void awaitBelow(ReentrantLock lock, Condition drained, InboundPipe pipe) {
        lock.lock();
        try {
            while (pipe.buffered() > MAX_BUFFERED) {
                drained.await();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            lock.unlock();
        }
    }

    private static void signal(ReentrantLock lock, Condition drained) {
        lock.lock();
        try {
            drained.signalAll();
        } finally {
            lock.unlock();
        }
    }
}
