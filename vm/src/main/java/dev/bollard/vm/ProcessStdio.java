package dev.bollard.vm;

import dev.bollard.daemon.log.Log;

import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;

/**
 * A guest process's stdio on the host: its stdout and stderr frames go to the FIFOs (or files) the caller named,
 * each through a queue and a thread of its own, so a slow reader never stalls the agent channel; its stdin
 * FIFO is read and sent to the agent. Opening a FIFO blocks until the other side opens it, which is why that
 * happens on the threads too. They are platform threads: a virtual thread blocked in a FIFO's open or read pins
 * its carrier, and a few of them starve every other virtual thread (the ttrpc calls among them).
 */
final class ProcessStdio {

    private static final Log LOG = Log.get("vm-stdio");
    private static final byte[] END = new byte[0];
    private static final Thread.Builder IO_THREADS = Thread.ofPlatform().daemon().stackSize(128 * 1024);

    private final Sink stdout;
    private final Sink stderr;
    private volatile Thread stdinPump;

    ProcessStdio(String containerId, String stdoutPath, String stderrPath) {
        this.stdout = new Sink(containerId, stdoutPath);
        this.stderr = new Sink(containerId, stderrPath);
    }

    /** A chunk from the guest; empty is the end of that stream. Never blocks. */
    void output(boolean fromStderr, byte[] data) {
        (fromStderr ? stderr : stdout).offer(data);
    }

    /** Starts copying {@code stdinPath} to the process; at its end the process's stdin is closed. */
    void startStdin(String stdinPath, AgentChannel agent, int handle) {
        if (stdinPath == null || stdinPath.isEmpty()) {
            return;
        }
        stdinPump = IO_THREADS.name("vm-stdin-" + handle).start(() -> {
            try (InputStream in = new FileInputStream(stdinPath)) {
                byte[] buffer = new byte[32 * 1024];
                int n;
                while ((n = in.read(buffer)) > 0) {
                    agent.stdin(handle, buffer, n);
                }
                agent.stdin(handle, buffer, 0);
            } catch (IOException e) {
                LOG.debug("stdin copy ended", "handle", handle, "error", e.getMessage());
            }
        });
    }

    /** Ends both output streams (what is queued is still written). */
    void close() {
        stdout.offer(END);
        stderr.offer(END);
        Thread pump = stdinPump;
        if (pump != null) {
            pump.interrupt();
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
