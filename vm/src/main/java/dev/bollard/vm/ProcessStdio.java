package dev.bollard.vm;

import dev.bollard.daemon.log.Log;

import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;

/**
 * A guest process's stdio on the host: its stdout and stderr frames go to the FIFOs (or files) the caller named,
 * each through a queue and a thread of its own, so a slow reader never stalls the agent channel; its stdin
 * FIFO is read and sent to the agent. Opening a FIFO blocks until the other side opens it, which is why that
 * happens on the threads too. They are platform threads: a virtual thread blocked in a FIFO's open or read pins
 * its carrier, and a few of them starve every other virtual thread (the ttrpc calls among them).
 *
 * <p>The stdin FIFO is also held open for writing here until {@link #closeStdin} (CloseIO), as containerd's runc
 * shim does: otherwise the first client to close its writer would end the process's input, and a container's
 * stdin could not outlive one attach.
 */
final class ProcessStdio {

    private static final Log LOG = Log.get("vm-stdio");
    private static final byte[] END = new byte[0];
    private static final Thread.Builder IO_THREADS = Thread.ofPlatform().daemon().stackSize(128 * 1024);

    private final Sink stdout;
    private final Sink stderr;
    private FileChannel stdinHold; // guarded by this
    private InputStream stdinReader; // guarded by this; the pump's once started

    /** Where stdin bytes go: the agent's STDIN frames for one process ({@code length} 0 closes its stdin). */
    @FunctionalInterface
    interface StdinTarget {
        void stdin(byte[] data, int length) throws IOException;
    }

    ProcessStdio(String containerId, String stdoutPath, String stderrPath) {
        this.stdout = new Sink(containerId, stdoutPath);
        this.stderr = new Sink(containerId, stderrPath);
    }

    /** A chunk from the guest; empty is the end of that stream. Never blocks. */
    void output(boolean fromStderr, byte[] data) {
        (fromStderr ? stderr : stdout).offer(data);
    }

    /**
     * Opens the stdin FIFO (if any) read-write, which never blocks on Linux, and keeps that write end until
     * {@link #closeStdin}: its reader sees end of file only after that and after every client's writer closed.
     * The read end is opened here too (it does not block either, our write end being open), so a client's
     * writer always has a reader, even before the copy starts. Done before the process exists, so a failure here
     * leaves nothing in the guest to undo.
     */
    synchronized void holdStdin(String stdinPath) throws IOException {
        if (stdinPath != null && !stdinPath.isEmpty()) {
            stdinHold = FileChannel.open(Path.of(stdinPath), StandardOpenOption.READ, StandardOpenOption.WRITE);
            try {
                stdinReader = new FileInputStream(stdinPath);
            } catch (IOException e) {
                stdinHold.close();
                stdinHold = null;
                throw e;
            }
        }
    }

    /** Starts copying the held stdin FIFO to the process; at its end the process's stdin is closed (length 0). */
    void startStdin(StdinTarget target, String what) {
        InputStream reader;
        synchronized (this) {
            reader = stdinReader;
            stdinReader = null;
        }
        if (reader == null) {
            return;
        }
        IO_THREADS.name("vm-stdin-" + what).start(() -> {
            try (InputStream in = reader) {
                byte[] buffer = new byte[32 * 1024];
                int n;
                while ((n = in.read(buffer)) > 0) {
                    target.stdin(buffer, n);
                }
                target.stdin(buffer, 0);
            } catch (IOException e) {
                LOG.debug("stdin copy ended", "process", what, "error", e.getMessage());
            }
        });
    }

    /** CloseIO: lets the process's stdin end once the clients' writers are closed and what they wrote is sent. */
    synchronized void closeStdin() {
        if (stdinHold != null) {
            try {
                stdinHold.close();
            } catch (IOException e) {
                LOG.debug("closing the stdin FIFO failed", "error", e.getMessage());
            }
            stdinHold = null;
        }
    }

    /**
     * Ends both output streams (what is queued is still written) and releases the stdin FIFO: the copy ends when
     * the last client's writer closes. Its thread is never interrupted: a FIFO read does not answer an interrupt,
     * and a write to the agent's socket channel from an interrupted thread closes the channel, the whole VM's.
     */
    void close() {
        stdout.offer(END);
        stderr.offer(END);
        closeStdin();
        synchronized (this) {
            if (stdinReader != null) { // never started
                try {
                    stdinReader.close();
                } catch (IOException e) {
                    LOG.debug("closing the stdin FIFO failed", "error", e.getMessage());
                }
                stdinReader = null;
            }
        }
    }

    private static final class Sink {
        private final BlockingQueue<byte[]> queue = new LinkedBlockingQueue<>();
        private volatile boolean ended;

        Sink(String containerId, String path) {
            if (path == null || path.isEmpty()) {
                ended = true;
                return;
            }
            IO_THREADS.name("vm-stdio-" + containerId).start(() -> copy(path));
        }

        void offer(byte[] data) {
            if (!ended) {
                queue.add(data);
            }
        }

        private void copy(String path) {
            try (OutputStream out = new FileOutputStream(path, true)) {
                while (true) {
                    byte[] chunk = queue.take();
                    if (chunk.length == 0) {
                        break;
                    }
                    out.write(chunk);
                    out.flush();
                }
            } catch (IOException e) {
                LOG.debug("stdio copy ended", "path", path, "error", e.getMessage());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } finally {
                ended = true;
                queue.clear();
            }
        }
    }
}
