package dev.bollard.daemon.container.io;

import dev.bollard.daemon.linux.Syscalls;
import dev.bollard.daemon.log.Log;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.AsynchronousCloseException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Pumps a container's stdout/stderr FIFOs into its CRI log file (see {@link CriLineSplitter} for how lines are cut),
 * one virtual thread per stream. Both streams append to one file under one lock, each read's entries in one write,
 * so entries never interleave and {@link #reopen()} never splits one. A failing log write is warned about and the
 * output still drained, so a full disk never blocks the container.
 */
public final class ContainerLogger implements AutoCloseable {

    /** kubelet's and containerd's default {@code max_container_log_line_size}. */
    public static final int DEFAULT_MAX_LINE_BYTES = 16 * 1024;
    /** How far a {@link StreamSink} may fall behind before its output is dropped. */
    public static final long SINK_BUFFER_BYTES = 4L * 1024 * 1024;

    private static final Log LOG = Log.get("container.io");
    private static final int READ_BUFFER = 64 * 1024;

    private final LogLocation log;
    private final Path logPath;
    private final int maxLineBytes;
    private final List<FifoReader> readers;
    private final List<Thread> pumps = new ArrayList<>(2);
    private final CompletableFuture<Void> done = new CompletableFuture<>();
    private final CopyOnWriteArrayList<SinkQueue> sinks = new CopyOnWriteArrayList<>();
    private final AtomicInteger running;
    private final AtomicInteger ended = new AtomicInteger();

    private final ReentrantLock fileLock = new ReentrantLock();
    private FileChannel file; // guarded by fileLock; null without a log path and once finished
    private boolean finished; // guarded by fileLock
    private boolean warnedWrite; // guarded by fileLock
    private volatile boolean streamsEnded;
    private volatile boolean closed;

    private ContainerLogger(LogLocation log, int maxLineBytes, FileChannel file, List<FifoReader> readers) {
        this.log = log;
        this.logPath = log == null ? null : log.path();
        this.maxLineBytes = maxLineBytes;
        this.file = file;
        this.readers = readers;
        this.running = new AtomicInteger(readers.size());
    }

    /**
     * Opens the log file (creating it and its directory) and the FIFOs' read ends now, without blocking, and starts
     * pumping. {@code logPath} null discards the output, still draining it so the container never blocks.
     * {@code maxLineBytes <= 0} means no line limit.
     */
    public static ContainerLogger start(StdioFifos fifos, Path logPath, int maxLineBytes) throws IOException {
        return start(fifos, logPath == null ? null : LogLocation.of(logPath), maxLineBytes);
    }

    /**
     * As {@link #start(StdioFifos, Path, int)}, the log opened below its {@code log_directory} without following a
     * link on the way ({@link #openLog}).
     */
    public static ContainerLogger start(StdioFifos fifos, LogLocation log, int maxLineBytes) throws IOException {
        FileChannel file = log == null ? null : openLog(log);
        var readers = new ArrayList<FifoReader>(2);
        try {
            readers.add(FifoReader.open(fifos.stdout()));
            if (fifos.stderr() != null) {
                readers.add(FifoReader.open(fifos.stderr()));
            }
        } catch (IOException | RuntimeException e) {
            readers.forEach(FifoReader::close);
            if (file != null) {
                file.close();
            }
            throw e;
        }
        var logger = new ContainerLogger(log, maxLineBytes, file, List.copyOf(readers));
        logger.pumps.add(Thread.ofVirtual().name("log-stdout " + fifos.stdout())
                .start(() -> logger.pump(readers.get(0), CriLogLines.STDOUT)));
        if (readers.size() > 1) {
            logger.pumps.add(Thread.ofVirtual().name("log-stderr " + fifos.stderr())
                    .start(() -> logger.pump(readers.get(1), CriLogLines.STDERR)));
        }
        return logger;
    }

    /**
     * Reopens the log file after kubelet rotated it: entries written after this returns go to the new file at the log
     * path, none is lost or split between the two files.
     *
     * @throws IllegalStateException when the output has ended (or the logger was closed), or there is no log path
     * @throws IOException           when the new file cannot be opened (the old one stays in use)
     */
    public void reopen() throws IOException {
        if (logPath == null) {
            throw new IllegalStateException("the container has no log path to reopen");
        }
        FileChannel fresh = openLog(log);
        FileChannel old;
        fileLock.lock();
        try {
            if (finished || closed) {
                fresh.close();
                throw new IllegalStateException("the container's output has ended; log " + logPath
                        + " is no longer written");
            }
            old = file;
            file = fresh;
            warnedWrite = false;
        } finally {
            fileLock.unlock();
        }
        try {
            old.close();
        } catch (IOException e) {
            LOG.warn("closing the rotated container log failed", "path", logPath, "error", e.getMessage());
        }
    }

    /**
     * Completes when both streams hit end of file (the process and all its children closed stdout/stderr) and all
     * is written; completes exceptionally with {@link CancellationException} when closed before that.
     */
    public CompletableFuture<Void> done() {
        return done;
    }

    /**
     * Registers a consumer of the raw output from now on, fed on its own thread through a bounded buffer (a slow sink
     * loses output, it never slows the log); closing the handle unregisters it.
     */
    public SinkHandle addSink(StreamSink sink) {
        return addSink(sink, Overflow.DROP_OUTPUT);
    }

    /** What happens to a sink that falls {@link #SINK_BUFFER_BYTES} behind. */
    public enum Overflow {
        /** It loses output and stays registered. */
        DROP_OUTPUT,
        /** It is unregistered (its {@link SinkHandle#ended()} completes, {@link SinkHandle#overflowed()} is true). */
        DROP_SINK
    }

    /** {@link #addSink(StreamSink)} with a choice of what to do with a sink that falls behind. */
    public SinkHandle addSink(StreamSink sink, Overflow overflow) {
        var holder = new SinkQueue[1];
        // A sink that throws is unregistered by its queue: drop it from the list as well.
        var queue = new SinkQueue(sink, SINK_BUFFER_BYTES, () -> sinks.remove(holder[0]),
                overflow == Overflow.DROP_SINK);
        holder[0] = queue;
        sinks.add(queue);
        if (streamsEnded) {
            queue.end();
        }
        return queue;
    }

    /** Stops pumping (even while the process still writes) and closes the FIFOs and the log file; idempotent. */
    @Override
    public void close() {
        closed = true;
        readers.forEach(FifoReader::close);
        boolean interrupted = false;
        for (Thread t : pumps) {
            if (t == Thread.currentThread()) {
                continue;
            }
            while (true) {
                try {
                    t.join();
                    break;
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
        }
        // The pumps have stopped, so every sink has its end queued: it gets what is queued first (an attach
        // client sees the container's last output), then ends; its owner closes it if it never keeps up.
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    private void pump(FifoReader reader, String stream) {
        var splitter = logPath == null ? null : new CriLineSplitter(stream, maxLineBytes);
        var entries = new Entries();
        byte[] buf = new byte[READ_BUFFER];
        boolean eof = false;
        try {
            int n;
            while ((n = reader.read(buf)) >= 0) {
                if (!sinks.isEmpty()) {
                    byte[] copy = Arrays.copyOf(buf, n);
                    for (SinkQueue s : sinks) {
                        s.offer(stream, copy);
                    }
                }
                if (splitter != null) {
                    entries.reset();
                    splitter.feed(buf, 0, n, Instant.now(), entries);
                    write(entries);
                }
            }
            if (splitter != null) {
                entries.reset();
                splitter.finish(Instant.now(), entries);
                write(entries);
            }
            eof = true;
        } catch (AsynchronousCloseException | InterruptedIOException e) {
            // close(): stop quietly.
        } catch (IOException | RuntimeException e) {
            LOG.warn("reading container output failed", "fifo", reader.path(), "error", e.getMessage());
        } finally {
            reader.close();
            streamEnded(eof);
        }
    }

    private void write(Entries entries) {
        if (entries.size() == 0) {
            return;
        }
        fileLock.lock();
        try {
            if (file == null) {
                return;
            }
            ByteBuffer b = entries.buffer();
            while (b.hasRemaining()) {
                file.write(b);
            }
        } catch (IOException e) {
            // Keep draining: a container must not block because its log cannot be written (disk full).
            if (!warnedWrite) {
                warnedWrite = true;
                LOG.warn("writing the container log failed; output is discarded until it works again",
                        "path", logPath, "error", e.getMessage());
            }
        } finally {
            fileLock.unlock();
        }
    }

    private void streamEnded(boolean eof) {
        if (eof) {
            ended.incrementAndGet();
        }
        if (running.decrementAndGet() > 0) {
            return;
        }
        fileLock.lock();
        try {
            finished = true;
            if (file != null) {
                try {
                    file.close();
                } catch (IOException e) {
                    LOG.warn("closing the container log failed", "path", logPath, "error", e.getMessage());
                }
                file = null;
            }
        } finally {
            fileLock.unlock();
        }
        streamsEnded = true;
        for (SinkQueue s : sinks) {
            s.end();
        }
        if (ended.get() == readers.size()) {
            done.complete(null);
        } else {
            done.completeExceptionally(new CancellationException("container logger for "
                    + (logPath == null ? readers.getFirst().path() : logPath) + " closed before end of output"));
        }
    }

    /**
     * The log file for appending, as root in a directory the pod's users may write to (a hostPath volume can reach
     * it): never through a symbolic link, neither at the file nor at a directory between log_directory and the
     * file (the daemon would append to, or create, a file anywhere), never blocking on a FIFO (StartContainer would
     * hang), only ever a regular file; one that does not exist is created 0640, its missing directories 0755.
     * Each component of {@code log_path} is made and opened relative to its parent's descriptor with O_NOFOLLOW,
     * so a link swapped in meanwhile is refused too.
     *
     * @throws IllegalArgumentException naming {@code log_path} when something else sits on the path
     */
    static FileChannel openLog(LogLocation log) throws IOException {
        Path path = log.path();
        try {
            if (!Files.isDirectory(log.directory())) { // (createDirectories throws twice inside when it exists)
                Files.createDirectories(log.directory()); // kubelet's own directory: its path is trusted as given
            }
            int dirFd = Syscalls.open(log.directory(), Syscalls.O_PATH | Syscalls.O_DIRECTORY | Syscalls.O_CLOEXEC);
            try {
                Path rel = log.relative();
                Path walked = log.directory();
                for (int i = 0; i < rel.getNameCount() - 1; i++) {
                    String name = rel.getName(i).toString();
                    walked = walked.resolve(name);
                    try {
                        Syscalls.mkdirat(dirFd, name, 0755, walked);
                    } catch (Syscalls.ErrnoException e) {
                        if (e.errno() != Syscalls.EEXIST) {
                            throw e;
                        }
                    }
                    int next;
                    try {
                        next = Syscalls.openat(dirFd, name, Syscalls.O_PATH | Syscalls.O_DIRECTORY
                                | Syscalls.O_NOFOLLOW | Syscalls.O_CLOEXEC, 0, walked);
                    } catch (Syscalls.ErrnoException e) {
                        if (e.errno() == Syscalls.ENOTDIR || e.errno() == Syscalls.ELOOP) {
                            throw new IllegalArgumentException("log_path " + path + ": " + walked + " is a symbolic "
                                    + "link or not a directory; the log must stay inside log_directory "
                                    + log.directory(), e);
                        }
                        throw e;
                    }
                    Syscalls.close(dirFd);
                    dirFd = next;
                }
                int fd;
                try {
                    fd = Syscalls.openat(dirFd, rel.getFileName().toString(), Syscalls.O_WRONLY | Syscalls.O_APPEND
                            | Syscalls.O_CREAT | Syscalls.O_NOFOLLOW | Syscalls.O_NONBLOCK | Syscalls.O_NOCTTY
                            | Syscalls.O_CLOEXEC, 0640, path);
                } catch (Syscalls.ErrnoException e) {
                    String kind = switch (e.errno()) {
                        case Syscalls.ELOOP -> "a symbolic link";
                        case Syscalls.EISDIR -> "a directory";
                        case Syscalls.ENXIO -> "a FIFO, socket or device";
                        default -> null;
                    };
                    if (kind == null) {
                        throw e;
                    }
                    throw new IllegalArgumentException("log_path " + path + " is " + kind + ", not a regular file", e);
                }
                try {
                    // through the descriptor: the file opened, whatever is renamed meanwhile
                    Path opened = Path.of("/proc/self/fd/" + fd);
                    refuseUnlessRegular(path, Files.readAttributes(opened, BasicFileAttributes.class));
                    return FileChannel.open(opened, StandardOpenOption.WRITE, StandardOpenOption.APPEND);
                } finally {
                    Syscalls.close(fd);
                }
            } finally {
                Syscalls.close(dirFd);
            }
        } catch (IOException e) {
            throw new IOException("opening container log " + path + ": " + e, e);
        }
    }

    private static void refuseUnlessRegular(Path path, BasicFileAttributes attrs) {
        if (attrs.isRegularFile()) {
            return;
        }
        String kind = attrs.isSymbolicLink() ? "a symbolic link" : attrs.isDirectory() ? "a directory"
                : attrs.isOther() ? "a FIFO, socket or device" : "not a file";
        throw new IllegalArgumentException("log_path " + path + " is " + kind + ", not a regular file");
    }

    /** A reusable byte buffer whose content is written without a copy. */
    private static final class Entries extends ByteArrayOutputStream {
        Entries() {
            super(8192);
        }

        ByteBuffer buffer() {
            return ByteBuffer.wrap(buf, 0, count);
        }
    }
}
