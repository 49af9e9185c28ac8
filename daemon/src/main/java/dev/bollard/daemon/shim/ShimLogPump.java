package dev.bollard.daemon.shim;

import dev.bollard.daemon.linux.Syscalls;
import dev.bollard.daemon.log.Log;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFileAttributes;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.List;

/**
 * Reads a shim's {@code log} FIFO (in the pod's bundle) into Bollard's log, tagged with the pod id, and keeps the
 * last lines for error messages. The shim opens the FIFO for writing once it runs and dies if nobody reads it.
 *
 * <p>A platform thread, not a virtual one: it sits in a blocking open(2)/read(2) on a FIFO for the pod's whole
 * life, which would pin a carrier thread (one per pod) and could starve the daemon's virtual threads. Closing the
 * channel wakes a thread blocked in read (the JDK signals it); a thread still blocked in open(2) is woken by briefly
 * opening the FIFO read-write ourselves, which counts as the writer it waits for.
 */
final class ShimLogPump implements AutoCloseable {

    private static final Log LOG = Log.get("shim");
    private static final int KEEP_LINES = 50;
    private static final int MAX_LINE = 16 * 1024;

    private final Path fifo;
    private final String podId;
    private final ArrayDeque<String> recent = new ArrayDeque<>();
    private final Thread thread;
    private volatile FileChannel channel;
    private volatile boolean closed;

    private ShimLogPump(Path fifo, String podId) {
        this.fifo = fifo;
        this.podId = podId;
        this.thread = Thread.ofPlatform().daemon().name("shim-log-" + podId).stackSize(256 * 1024).unstarted(this::run);
    }

    /** Creates the FIFO if absent (an existing FIFO is reused) and starts reading it. */
    static ShimLogPump start(Path fifo, String podId) throws IOException {
        ensureFifo(fifo);
        var pump = new ShimLogPump(fifo, podId);
        pump.thread.start();
        return pump;
    }

    static void ensureFifo(Path fifo) throws IOException {
        if (Files.exists(fifo, LinkOption.NOFOLLOW_LINKS)) {
            var attrs = Files.readAttributes(fifo, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
            if (!attrs.isOther() || attrs.isSymbolicLink()) {
                throw new IOException("shim log " + fifo + " exists and is not a FIFO");
            }
            return;
        }
        Syscalls.mknod(fifo, Syscalls.S_IFIFO | 0600, 0, 0);
    }

    /** The last lines the shim wrote (at most 50), oldest first. */
    List<String> recentLines() {
        synchronized (recent) {
            return List.copyOf(recent);
        }
    }

    private void run() {
        try (FileChannel ch = FileChannel.open(fifo, StandardOpenOption.READ)) {
            channel = ch;
            if (closed) {
                return;
            }
            var buffer = ByteBuffer.allocate(8192);
            var line = new ByteArrayOutputStream();
            while (ch.read(buffer) >= 0) {
                buffer.flip();
                while (buffer.hasRemaining()) {
                    byte b = buffer.get();
                    if (b == '\n') {
                        emit(line);
                    } else if (line.size() < MAX_LINE) {
                        line.write(b);
                    }
                }
                buffer.clear();
            }
            emit(line);
        } catch (ClosedChannelException e) {
            // close(): the pod's shim is no longer ours to follow.
        } catch (IOException e) {
            if (!closed) {
                LOG.warn("cannot read shim log", "pod", podId, "fifo", fifo, "error", e.getMessage());
            }
        }
    }

    private void emit(ByteArrayOutputStream bytes) {
        if (bytes.size() == 0) {
            return;
        }
        String line = bytes.toString(StandardCharsets.UTF_8);
        bytes.reset();
        synchronized (recent) {
            if (recent.size() == KEEP_LINES) {
                recent.removeFirst();
            }
            recent.addLast(line);
        }
        // The shim logs logrus text lines; its level decides ours (its info chatter is our debug).
        if (line.contains("level=error") || line.contains("level=fatal") || line.contains("level=panic")) {
            LOG.error("shim", null, "pod", podId, "line", line);
        } else if (line.contains("level=warn")) {
            LOG.warn("shim", "pod", podId, "line", line);
        } else {
            LOG.debug("shim", "pod", podId, "line", line);
        }
    }

    /** Waits up to {@code timeout} for the shim to close its end (it exited). */
    void awaitEnd(Duration timeout) {
        try {
            thread.join(timeout);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Stops reading (the shim's later writes fail quietly on its side). Idempotent. */
    @Override
    public void close() {
        closed = true;
        try {
            for (int i = 0; i < 50 && thread.isAlive(); i++) {
                FileChannel ch = channel;
                if (ch != null) {
                    ch.close();
                } else if (Files.exists(fifo, LinkOption.NOFOLLOW_LINKS)) {
                    FileChannel.open(fifo, StandardOpenOption.READ, StandardOpenOption.WRITE).close();
                }
                thread.join(100);
            }
        } catch (IOException e) {
            LOG.debug("cannot wake shim log reader", "pod", podId, "error", e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (thread.isAlive()) {
            LOG.warn("shim log reader did not stop", "pod", podId, "fifo", fifo);
        }
    }
}
