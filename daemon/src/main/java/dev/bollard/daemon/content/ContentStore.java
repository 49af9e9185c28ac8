package dev.bollard.daemon.content;

import dev.bollard.daemon.store.AtomicFiles;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Blobs addressed by digest, shared by every image: {@code <root>/blobs/<algorithm>/<hex>}. A blob is written under
 * {@code <root>/ingest/} first and enters {@code blobs/} only after its digest and size check out, by an atomic
 * rename: a blob in the store is always whole and correct. A partial ingest survives a crash and is resumed.
 */
public final class ContentStore {

    private final Path blobs;
    private final Path ingest;
    /** One writer per digest at a time; a second puller of the same blob waits, then finds it present. */
    private final ConcurrentHashMap<Digest, ReentrantLock> ingestLocks = new ConcurrentHashMap<>();
    /** Imports' temporary files being written: not for {@link #pruneIngests} to take. */
    private final java.util.Set<Path> streamsInProgress = ConcurrentHashMap.newKeySet();

    public ContentStore(Path root) throws IOException {
        this.blobs = root.resolve("blobs");
        this.ingest = root.resolve("ingest");
        Files.createDirectories(blobs);
        Files.createDirectories(ingest);
    }

    public Path path(Digest digest) {
        return blobs.resolve(digest.algorithm()).resolve(digest.hex());
    }

    public boolean has(Digest digest) {
        return Files.isRegularFile(path(digest));
    }

    public Optional<Long> size(Digest digest) {
        try {
            return Optional.of(Files.size(path(digest)));
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    public byte[] read(Digest digest) throws IOException {
        try {
            return Files.readAllBytes(path(digest));
        } catch (NoSuchFileException e) {
            throw new NoSuchFileException("blob " + digest + " is not in the content store");
        }
    }

    public InputStream open(Digest digest) throws IOException {
        return Files.newInputStream(path(digest));
    }

    /** Stores small content (manifests, configs) whole; a mismatch with {@code expected} stores nothing. */
    public void put(Digest expected, byte[] content) throws IOException {
        try (var w = writer(expected, content.length)) {
            if (w.present()) {
                return;
            }
            if (w.offset() > 0) {
                w.restart();
            }
            w.write(ByteBuffer.wrap(content));
            w.commit();
        }
    }

    /**
     * Stores content whose digest is not known in advance (files of an image archive): written to a temporary
     * file while hashed, then published under the digest it turned out to have.
     *
     * @return the sha256 digest and size of what was read, to the end of {@code in}
     */
    public Digest putStream(InputStream in) throws IOException {
        Path tmp = Files.createTempFile(ingest, "stream-", "");
        streamsInProgress.add(tmp);
        try {
            var hasher = Digest.messageDigest("sha256");
            try (var out = Files.newOutputStream(tmp)) {
                byte[] buf = new byte[64 * 1024];
                for (int n; (n = in.read(buf)) > 0; ) {
                    hasher.update(buf, 0, n);
                    out.write(buf, 0, n);
                }
            }
            Digest digest = new Digest("sha256", java.util.HexFormat.of().formatHex(hasher.digest()));
            ReentrantLock lock = ingestLocks.computeIfAbsent(digest, d -> new ReentrantLock());
            lock.lock();
            try {
                if (!has(digest)) {
                    try (var ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
                        ch.force(true);
                    }
                    Path target = path(digest);
                    Files.createDirectories(target.getParent());
                    Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
                    AtomicFiles.fsyncDirectory(target.getParent());
                }
            } finally {
                lock.unlock();
            }
            return digest;
        } finally {
            Files.deleteIfExists(tmp);
            streamsInProgress.remove(tmp);
        }
    }

    /**
     * Opens the ingest of one blob. Blocks while another writer holds the same digest. If the blob is already
     * present the writer is {@linkplain Writer#present() present} and needs no data. A partial ingest left by an
     * earlier attempt is kept and its bytes re-hashed, so the caller can resume from {@link Writer#offset()}.
     */
    public Writer writer(Digest expected, long expectedSize) throws IOException {
        if (expectedSize < 0) {
            throw new IllegalArgumentException("blob " + expected + ": negative size " + expectedSize);
        }
        ReentrantLock lock = ingestLocks.computeIfAbsent(expected, d -> new ReentrantLock());
        lock.lock();
        try {
            return new Writer(expected, expectedSize, lock);
        } catch (IOException | RuntimeException e) {
            lock.unlock();
            throw e;
        }
    }

    public void delete(Digest digest) throws IOException {
        Files.deleteIfExists(path(digest));
    }

    /** Every blob present, for garbage collection. */
    public List<Digest> list() throws IOException {
        var out = new ArrayList<Digest>();
        try (var algorithms = Files.list(blobs)) {
            for (Path dir : algorithms.toList()) {
                try (var files = Files.list(dir)) {
                    for (Path f : files.toList()) {
                        try {
                            out.add(new Digest(dir.getFileName().toString(), f.getFileName().toString()));
                        } catch (IllegalArgumentException e) {
                            // not a blob name: left for the caller's cleanup to report
                        }
                    }
                }
            }
        }
        return out;
    }

    /**
     * How long a partial download no pull is writing is kept for a retry to resume. kubelet retries a failed pull
     * with a back-off capped at 5 minutes, so an hour covers every retry of that pull; a partial untouched longer
     * belongs to a pull nobody asks for any more.
     */
    public static final java.time.Duration IDLE_INGEST_MAX_AGE = java.time.Duration.ofHours(1);
    /** Idle partial downloads kept together are at most this fraction of the filesystem (the oldest go first). */
    static final int IDLE_INGEST_BUDGET_PERCENT = 10;

    /**
     * Removes partial ingests untouched for {@code maxAge}: a pull that never came back for them. Younger ones stay
     * for the retry that resumes them. One in use is locked and skipped.
     *
     * @return how many were removed
     */
    public int pruneIngests(java.time.Duration maxAge, java.time.Instant now) throws IOException {
        return pruneIngests(maxAge, Long.MAX_VALUE, now);
    }

    /**
     * The rule for idle partial downloads (no pull writing them): kept for a resume while younger than
     * {@link #IDLE_INGEST_MAX_AGE} and, newest first, within {@value #IDLE_INGEST_BUDGET_PERCENT}% of the
     * filesystem; the rest are removed. Ingests being written are never touched.
     */
    public int pruneIdleIngests(java.time.Instant now) throws IOException {
        long total = Files.getFileStore(ingest).getTotalSpace();
        return pruneIngests(IDLE_INGEST_MAX_AGE, total / 100 * IDLE_INGEST_BUDGET_PERCENT, now);
    }

    /** Removes every partial download no pull is writing: what a full disk calls for. */
    public int dropIdleIngests() throws IOException {
        return pruneIngests(java.time.Duration.ZERO, 0, java.time.Instant.MAX);
    }

    /**
     * Removes idle ingests untouched for {@code maxAge}, and then, newest kept first, those beyond {@code budget}
     * bytes in all. An ingest being written (its digest locked, or an import's stream in progress) is skipped.
     *
     * @return how many were removed
     */
    public int pruneIngests(java.time.Duration maxAge, long budget, java.time.Instant now) throws IOException {
        record Idle(Path path, java.time.Instant modified, long size) {
        }
        var idle = new ArrayList<Idle>();
        try (var files = Files.list(ingest)) {
            for (Path p : files.toList()) {
                try {
                    var attrs = Files.readAttributes(p, java.nio.file.attribute.BasicFileAttributes.class);
                    idle.add(new Idle(p, attrs.lastModifiedTime().toInstant(), attrs.size()));
                } catch (NoSuchFileException gone) {
                    // committed or removed meanwhile
                }
            }
        }
        idle.sort(java.util.Comparator.comparing(Idle::modified).reversed());
        int removed = 0;
        long kept = 0;
        for (Idle i : idle) {
            // an import's temporary file is never resumed: one no import is writing goes whatever its age
            boolean young = java.time.Duration.between(i.modified(), now).compareTo(maxAge) < 0
                    && !i.path().getFileName().toString().startsWith("stream-");
            if (young && kept + i.size() <= budget) {
                kept += i.size();
                continue;
            }
            if (removeIfIdle(i.path())) {
                removed++;
            }
        }
        return removed;
    }

    /** Deletes an ingest file unless a writer or an import holds it. */
    private boolean removeIfIdle(Path p) throws IOException {
        if (streamsInProgress.contains(p)) {
            return false;
        }
        String name = p.getFileName().toString();
        int dash = name.indexOf('-');
        ReentrantLock lock = null;
        try {
            lock = ingestLocks.computeIfAbsent(new Digest(name.substring(0, dash), name.substring(dash + 1)),
                    d -> new ReentrantLock());
        } catch (RuntimeException e) {
            // a stray file (or an import's stream, left by a crash): no lock to take
        }
        if (lock != null && (lock.isHeldByCurrentThread() || !lock.tryLock())) {
            return false;
        }
        try {
            return Files.deleteIfExists(p);
        } finally {
            if (lock != null) {
                lock.unlock();
            }
        }
    }

    /** Bytes used by committed blobs and partial ingests. */
    public long usageBytes() throws IOException {
        long total = 0;
        for (Path dir : List.of(blobs, ingest)) {
            try (var walk = Files.walk(dir)) {
                for (Path p : walk.filter(Files::isRegularFile).toList()) {
                    total += Files.size(p);
                }
            }
        }
        return total;
    }

    /** One blob's ingest: append, then commit (verify and publish) or close (keep the partial for a resume). */
    public final class Writer implements AutoCloseable {
        private final Digest expected;
        private final long expectedSize;
        private final ReentrantLock lock;
        private final Path partial;
        private final boolean present;
        private FileChannel channel;
        private MessageDigest hasher;
        private long offset;
        private boolean closed;
        private final Progress progress = new Progress();

        private Writer(Digest expected, long expectedSize, ReentrantLock lock) throws IOException {
            this.expected = expected;
            this.expectedSize = expectedSize;
            this.lock = lock;
            this.partial = ingest.resolve(expected.algorithm() + "-" + expected.hex());
            this.present = has(expected);
            if (present) {
                return;
            }
            this.channel = FileChannel.open(partial, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                    StandardOpenOption.READ);
            this.hasher = expected.newHasher();
            long existing = channel.size();
            if (existing > expectedSize) {
                channel.truncate(0);
                existing = 0;
            }
            // Re-hash what an earlier attempt wrote: the digest covers the whole blob, not only the new bytes.
            var buf = ByteBuffer.allocate(64 * 1024);
            long pos = 0;
            while (pos < existing) {
                buf.clear();
                int n = channel.read(buf, pos);
                if (n < 0) {
                    break;
                }
                buf.flip();
                hasher.update(buf);
                pos += n;
            }
            this.offset = pos;
            channel.position(pos);
        }

        /** Whether the blob was already in the store: nothing to write, commit is a no-op. */
        public boolean present() {
            return present;
        }

        public long offset() {
            return offset;
        }

        /** A copy of the hash state over the bytes written so far: what a resuming download continues from. */
        public MessageDigest prefixHash() {
            try {
                return (MessageDigest) hasher.clone();
            } catch (CloneNotSupportedException e) {
                throw new IllegalStateException("the JDK's SHA digests are cloneable", e);
            }
        }

        /**
         * This writer as a channel for a download: writes append (hashed, counted); rewinding to 0 restarts the
         * ingest, so a downloader can start over from another source after a mismatch.
         */
        public java.nio.channels.SeekableByteChannel channel() {
            return new java.nio.channels.SeekableByteChannel() {
                @Override
                public int read(ByteBuffer dst) {
                    throw new java.nio.channels.NonReadableChannelException();
                }

                @Override
                public int write(ByteBuffer src) throws IOException {
                    int n = src.remaining();
                    Writer.this.write(src);
                    return n;
                }

                @Override
                public long position() {
                    return offset;
                }

                @Override
                public java.nio.channels.SeekableByteChannel position(long newPosition) throws IOException {
                    if (newPosition == 0) {
                        restart();
                    } else if (newPosition != offset) {
                        throw new IOException("blob " + expected + ": an ingest only appends or restarts");
                    }
                    return this;
                }

                @Override
                public long size() {
                    return offset;
                }

                @Override
                public java.nio.channels.SeekableByteChannel truncate(long size) throws IOException {
                    if (size == 0) {
                        restart();
                    } else if (size < offset) {
                        throw new IOException("blob " + expected + ": an ingest only appends or restarts");
                    }
                    return this;
                }

                @Override
                public boolean isOpen() {
                    return !closed && !present;
                }

                @Override
                public void close() {
                    // the Writer owns the file
                }
            };
        }

        /** Drops partial data (e.g. when the source cannot resume from {@link #offset()}). */
        public void restart() throws IOException {
            requireOpen();
            // Followers learn of the restart before the file shrinks: one that then finds the file shorter than
            // what it was told is written also finds the generation changed.
            progress.restarted();
            channel.truncate(0);
            channel.position(0);
            hasher = expected.newHasher();
            offset = 0;
        }

        public void write(ByteBuffer data) throws IOException {
            requireOpen();
            if (offset + data.remaining() > expectedSize) {
                throw new IOException("blob " + expected + ": more data than the expected " + expectedSize + " bytes");
            }
            var forHash = data.duplicate();
            while (data.hasRemaining()) {
                offset += channel.write(data);
            }
            hasher.update(forHash);
            progress.advance(offset);
        }

        /** Verifies size and digest, then publishes the blob atomically. A mismatch deletes the partial data. */
        public void commit() throws IOException {
            if (present) {
                return;
            }
            requireOpen();
            if (offset != expectedSize) {
                throw new IOException("blob " + expected + ": got " + offset + " bytes, expected " + expectedSize);
            }
            if (!expected.matches(hasher.digest())) {
                channel.close();
                Files.deleteIfExists(partial);
                closed = true;
                progress.finish(false);
                throw new IOException("blob " + expected + ": content does not match its digest");
            }
            channel.force(true);
            channel.close();
            Path target = path(expected);
            Files.createDirectories(target.getParent());
            Files.move(partial, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            AtomicFiles.fsyncDirectory(target.getParent());
            closed = true;
            progress.finish(true);
        }

        /** Deletes the partial data: the next attempt starts from zero. */
        public void abort() throws IOException {
            if (!present && !closed) {
                channel.close();
                Files.deleteIfExists(partial);
                closed = true;
                progress.finish(false);
            }
        }

        /** Whether the write started over at least once (a mismatch, another endpoint). */
        public boolean restarted() {
            synchronized (progress) {
                return progress.generation > 0;
            }
        }

        /** Tells followers this write will not complete; the partial data stays for a later resume. */
        public void stopFollowers() {
            progress.finish(false);
        }

        /**
         * Reads the blob while it is being written, from its first byte: what a layer's unpacking reads so that
         * it decompresses while the download goes on, without holding the blob in memory. The stream blocks for
         * bytes not yet written, ends when the blob is committed, and fails if the write fails or restarts (the
         * caller then unpacks the committed blob instead).
         */
        public InputStream follow() throws IOException {
            if (present || closed) {
                throw new IOException("blob " + expected + ": nothing is being written to follow");
            }
            return new Follower(FileChannel.open(partial, StandardOpenOption.READ), progress, expected);
        }

        private void requireOpen() throws IOException {
            if (present || closed) {
                throw new IOException("blob " + expected + ": writer is " + (present ? "for a present blob" : "closed"));
            }
        }

        @Override
        public void close() throws IOException {
            boolean keptPartial = false;
            try {
                if (!present && !closed) {
                    channel.close();
                    closed = true;
                    progress.finish(false);
                    keptPartial = Files.exists(partial);
                }
            } finally {
                lock.unlock();
            }
            if (keptPartial) {
                // the partial stays for a resume, within the bound every idle partial shares
                pruneIdleIngests(java.time.Instant.now());
            }
        }
    }

    /** How far a blob's write has got, for a {@link Follower} on another thread. */
    private static final class Progress {
        private long written;
        private int generation;
        private Boolean committed; // null while writing

        synchronized void advance(long offset) {
            written = offset;
            notifyAll();
        }

        synchronized void restarted() {
            written = 0;
            generation++;
            notifyAll();
        }

        synchronized void finish(boolean ok) {
            if (committed == null) {
                committed = ok;
            }
            notifyAll();
        }
    }

    /** Thrown to a follower whose blob's write started over: what it read so far is not the blob's prefix. */
    public static final class WriteRestartedException extends IOException {
        WriteRestartedException(Digest digest) {
            super("blob " + digest + ": the download started over");
        }
    }

    /** An InputStream over a blob being written: see {@link Writer#follow()}. */
    private static final class Follower extends InputStream {
        private final FileChannel file;
        private final Progress progress;
        private final Digest digest;
        private final int generation;
        private long position;

        Follower(FileChannel file, Progress progress, Digest digest) {
            this.file = file;
            this.progress = progress;
            this.digest = digest;
            synchronized (progress) {
                this.generation = progress.generation;
            }
        }

        @Override
        public int read() throws IOException {
            byte[] one = new byte[1];
            return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            if (len == 0) {
                return 0;
            }
            long available;
            synchronized (progress) {
                while (true) {
                    if (progress.generation != generation) {
                        throw new WriteRestartedException(digest);
                    }
                    if (progress.written > position) {
                        available = progress.written - position;
                        break;
                    }
                    if (progress.committed != null) {
                        if (progress.committed) {
                            return -1;
                        }
                        throw new IOException("blob " + digest + ": the download failed");
                    }
                    try {
                        progress.wait();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        throw new java.io.InterruptedIOException("interrupted waiting for blob " + digest);
                    }
                }
            }
            int n = file.read(ByteBuffer.wrap(b, off, (int) Math.min(len, available)), position);
            if (n < 0) {
                // The file ended before what was written: a restart truncated it between the check and the read.
                // That is no end of the blob, and must not read as one.
                synchronized (progress) {
                    if (progress.generation != generation) {
                        throw new WriteRestartedException(digest);
                    }
                }
                throw new IOException("blob " + digest + ": the partial download is shorter than what was written");
            }
            position += n;
            return n;
        }

        @Override
        public void close() throws IOException {
            file.close();
        }
    }
}
