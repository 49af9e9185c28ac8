package dev.bollard.daemon.streaming;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.gson.Strictness;
import com.google.gson.stream.JsonReader;
import com.google.gson.stream.JsonToken;
import dev.bollard.daemon.log.Log;

import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Optional;

/**
 * Runs one exec or attach against the backend once a protocol has its streams, whatever the transport: the
 * backend's call on a virtual thread, resizes parsed from the resize stream, the outcome on the error stream.
 * When the client goes away, {@link #abort()} interrupts the backend's thread so it can kill the exec.
 */
public final class RemoteCommandRunner {

    private static final Log LOG = Log.get("streaming");

    /** The streams of one session; any may be null when not requested (error is null only for broken clients). */
    public record Wires(InputStream stdin, OutputStream stdout, OutputStream stderr, InputStream resize,
                        OutputStream error) {
    }

    private final StreamBackend backend;
    private final StreamRequest request;
    private final RemoteCommandProtocol protocol;
    private final Wires wires;
    private final Runnable done;
    /** Only the latest size not yet applied is kept: a flood of resizes cannot grow memory. */
    private final LatestResize resizes = new LatestResize();
    private volatile boolean aborted;
    private Thread worker;
    private Thread resizeReader;

    private RemoteCommandRunner(StreamBackend backend, StreamRequest request, RemoteCommandProtocol protocol,
                                Wires wires, Runnable done) {
        this.backend = backend;
        this.request = request;
        this.protocol = protocol;
        this.wires = wires;
        this.done = done;
    }

    /** @param done runs after the outcome was written (or the client went away): the protocol closes the connection */
    public static RemoteCommandRunner start(StreamBackend backend, StreamRequest request,
                                            RemoteCommandProtocol protocol, Wires wires, Runnable done) {
        if (!(request instanceof StreamRequest.Exec) && !(request instanceof StreamRequest.Attach)) {
            throw new IllegalArgumentException("not a remote command: " + request);
        }
        var runner = new RemoteCommandRunner(backend, request, protocol, wires, done);
        synchronized (runner) {
            if (wires.resize() != null) {
                runner.resizeReader = Thread.ofVirtual().name("stream-resize").start(runner::readResizes);
            } else {
                runner.resizes.end();
            }
            runner.worker = Thread.ofVirtual().name("stream-" + kind(request)).start(runner::run);
        }
        return runner;
    }

    /** The client is gone: the backend's thread is interrupted and no more resizes come. */
    public synchronized void abort() {
        if (aborted) {
            return;
        }
        aborted = true;
        resizes.end();
        if (worker != null) {
            worker.interrupt();
        }
        if (resizeReader != null) {
            resizeReader.interrupt();
        }
    }

    private void run() {
        var io = new RemoteCommandStreams() {
            @Override
            public InputStream stdin() {
                return wires.stdin();
            }

            @Override
            public OutputStream stdout() {
                return wires.stdout();
            }

            @Override
            public OutputStream stderr() {
                return wires.stderr();
            }

            @Override
            public Optional<TerminalSize> nextResize() throws InterruptedException {
                return resizes.take();
            }
        };
        byte[] outcome = null;
        try {
            int code = switch (request) {
                case StreamRequest.Exec exec -> backend.exec(exec, io);
                case StreamRequest.Attach attach -> {
                    backend.attach(attach, io);
                    yield 0;
                }
                case StreamRequest.PortForward pf -> throw new IllegalStateException("unreachable");
            };
            outcome = ExitStatus.encode(protocol, code);
        } catch (StreamException e) {
            outcome = ExitStatus.encodeFailure(protocol, e.getMessage());
        } catch (InterruptedException e) {
            // the client went away (abort): nobody to tell
        } catch (IOException e) {
            if (!aborted) {
                LOG.debug("remote command failed", "kind", kind(request), "error", String.valueOf(e.getMessage()));
                outcome = ExitStatus.encodeFailure(protocol, "error: " + e.getMessage());
            }
        } catch (RuntimeException e) {
            LOG.error("remote command failed", e, "kind", kind(request));
            outcome = ExitStatus.encodeFailure(protocol, "internal error: " + e);
        }
        try {
            closeQuietly(wires.stdout());
            closeQuietly(wires.stderr());
            if (wires.error() != null) {
                if (outcome != null && outcome.length > 0 && !aborted) {
                    try {
                        wires.error().write(outcome);
                    } catch (IOException e) {
                        // the client is gone
                    }
                }
                closeQuietly(wires.error());
            }
        } finally {
            synchronized (this) {
                if (resizeReader != null) {
                    resizeReader.interrupt();
                }
            }
            done.run();
        }
    }

    /** Client-go writes one JSON object per resize ({"Width":80,"Height":24}), back to back on the stream. */
    private void readResizes() {
        try (var reader = new JsonReader(new InputStreamReader(wires.resize(), StandardCharsets.UTF_8))) {
            reader.setStrictness(Strictness.LENIENT);
            while (reader.peek() != JsonToken.END_DOCUMENT) {
                JsonObject o = JsonParser.parseReader(reader).getAsJsonObject();
                int width = o.has("Width") ? o.get("Width").getAsInt() : 0;
                int height = o.has("Height") ? o.get("Height").getAsInt() : 0;
                if (width >= 0 && height >= 0 && width <= 0xffff && height <= 0xffff) {
                    resizes.offer(new TerminalSize(width, height));
                }
            }
        } catch (IOException | RuntimeException e) {
            // EOF or a malformed resize: no more resizes, the command goes on
        } finally {
            resizes.end();
        }
    }

    private static String kind(StreamRequest r) {
        return r instanceof StreamRequest.Exec ? "exec" : "attach";
    }

    private static void closeQuietly(OutputStream out) {
        if (out != null) {
            try {
                out.close();
            } catch (IOException e) {
                // nothing left to tell the client
            }
        }
    }
}
