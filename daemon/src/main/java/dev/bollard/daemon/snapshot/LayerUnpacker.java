package dev.bollard.daemon.snapshot;

import dev.bollard.daemon.store.FileTrees;

import com.github.luben.zstd.ZstdInputStream;
import dev.bollard.daemon.content.Digest;
import dev.bollard.daemon.linux.Syscalls;
import dev.bollard.daemon.log.Log;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;

import java.io.BufferedInputStream;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.security.MessageDigest;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.zip.GZIPInputStream;

/**
 * Applies one OCI image layer (a tar stream, possibly gzip- or zstd-compressed) to an empty directory that becomes
 * this layer's own overlayfs lower directory. It is not merged with the parent layers: whiteouts are translated
 * for overlayfs instead of being applied ({@code .wh.<name>} becomes a 0:0 character device {@code <name>},
 * {@code .wh..wh..opq} becomes {@code trusted.overlay.opaque=y} on its directory; other {@code .wh..wh.*} AUFS
 * metadata is skipped). Per the image spec a whiteout only hides lower layers, so an entry of the same name in this
 * layer wins over it, whichever comes first.
 *
 * <h2>Safety</h2>
 * Nothing is ever written outside {@code target}:
 * <ul>
 *   <li>Names are split on "/" and {@code .}/empty components dropped. A {@code ..} pops a component; one that
 *       would climb above the root is refused. A leading "/" is dropped, so {@code /abs/x} lands at
 *       {@code target/abs/x}: containerd and GNU tar do the same (tar names are relative to the image root). Unlike
 *       containerd, which clamps an escaping {@code ..} at the root, such a layer is refused.</li>
 *   <li>Parent directories are walked one component at a time with lstat; a parent that is a symlink is refused,
 *       wherever it points (in a per-layer directory its target may live in a lower layer, so it could not be
 *       resolved correctly anyway; containerd resolves it scoped to the root). Missing parents are created 0755,
 *       owned by the daemon. The final component is never followed: whatever is there (other than a directory meeting
 *       a directory entry, which merges) is removed first and the new file is created exclusively.</li>
 *   <li>A hard link's target is resolved the same way, must already exist in this layer and not be a directory; a
 *       symlink there is linked itself, not followed. The link entry's own metadata is not applied (GNU tar's rule):
 *       the inode has its first entry's.</li>
 *   <li>Device nodes are refused unless the process runs as root (whiteouts excepted); ownership is only applied as
 *       root.</li>
 *   <li>{@code trusted.overlay.*} xattrs from the archive are dropped: only this class says what is opaque.</li>
 * </ul>
 * This relies on {@code target} being private to the daemon while the layer is applied (no other process racing
 * to swap a directory for a symlink between the check and the use).
 *
 * <h2>Metadata</h2>
 * Owner (lchown) first, since chown clears setuid bits and {@code security.capability}; then xattrs from PAX
 * {@code SCHILY.xattr.*} records, byte for byte ({@link PaxTap}); then all 12 mode bits; then atime/mtime with
 * nanoseconds (atime defaults to mtime). Directories get mode and times after everything else, so that creating
 * their contents does not disturb them. An xattr the file system does not support (EOPNOTSUPP), or a {@code user.*}
 * one on a special file (EPERM), is skipped with a warning, as containerd does; any other xattr failure fails the
 * layer. Global PAX headers apply to the entries after them (POSIX; containerd ignores them). An entry naming the
 * root itself ({@code ./}) is ignored, as in containerd: the root's attributes belong to the snapshot store.
 *
 * <h2>Streams</h2>
 * The compression is taken from the stream's magic bytes, the media type only has to be a known layer type
 * (registries do mislabel). The diff ID is the sha256 of the whole uncompressed stream, read to its end; the
 * compressed stream is drained too, and left open. Sparse entries are refused.
 *
 * <h2>Failure</h2>
 * Once {@code target} is known to be an empty directory, any failure removes it entirely (the directory itself
 * included) before the exception propagates; errors about an entry start with {@code layer entry "<name>": }.
 * Content problems are {@link InvalidLayerException}s; file system errors are plain {@code IOException}s whose cause
 * is usually a {@link Syscalls.ErrnoException}.
 */
public final class LayerUnpacker {

    private static final Log LOG = Log.get("snapshot");

    private static final String WHITEOUT = ".wh.";
    private static final String WHITEOUT_META = ".wh..wh.";
    private static final String OPAQUE = ".wh..wh..opq";
    private static final String OVERLAY_OPAQUE = "trusted.overlay.opaque";
    private static final String PAX_XATTR = "SCHILY.xattr.";
    private static final LinkOption NOFOLLOW = LinkOption.NOFOLLOW_LINKS;

    /** The layer as read: its diff ID (sha256 of the uncompressed tar), uncompressed size and tar entry count. */
    public record Result(Digest diffId, long uncompressedSize, long entries) {
    }

    /** The layer's content is unusable (unsafe path, unsupported entry, corrupt or truncated stream, wrong diff ID). */
    public static final class InvalidLayerException extends IOException {
        public InvalidLayerException(String message) {
            super(message);
        }

        public InvalidLayerException(String message, Throwable cause) {
            super(message, cause);
        }
    }

    public enum Compression { NONE, GZIP, ZSTD }

    private LayerUnpacker() {
    }

    /** The compression a layer media type declares; empty for a type that is not an image layer. */
    public static Optional<Compression> compressionOf(String mediaType) {
        return Optional.ofNullable(switch (mediaType) {
            case "application/vnd.oci.image.layer.v1.tar",
                 "application/vnd.oci.image.layer.nondistributable.v1.tar",
                 "application/vnd.docker.image.rootfs.diff.tar" -> Compression.NONE;
            case "application/vnd.oci.image.layer.v1.tar+gzip",
                 "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
                 "application/vnd.docker.image.rootfs.diff.tar.gzip",
                 "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" -> Compression.GZIP;
            case "application/vnd.oci.image.layer.v1.tar+zstd",
                 "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd" -> Compression.ZSTD;
            default -> null;
        });
    }

    /** {@link #unpack(InputStream, String, Path, Digest)} without a diff ID to check. */
    public static Result unpack(InputStream layer, String mediaType, Path target) throws IOException {
        return unpack(layer, mediaType, target, null);
    }

    /**
     * Applies {@code layer} to {@code target}, an existing empty directory, reading {@code layer} to its end (so that a
     * digest the caller computes over the compressed bytes is complete) without closing it.
     *
     * @param expectedDiffId if not null, a layer whose uncompressed digest differs fails (and is removed)
     * @throws IllegalArgumentException if {@code target} is not an empty directory (then it is left alone)
     */
    public static Result unpack(InputStream layer, String mediaType, Path target, Digest expectedDiffId)
            throws IOException {
        Path root = target.toAbsolutePath().normalize();
        requireEmptyDirectory(root);
        try {
            Compression declared = compressionOf(mediaType).orElseThrow(
                    () -> new InvalidLayerException("unsupported layer media type \"" + mediaType + "\""));
            Result r = new Apply(root, Syscalls.geteuid() == 0).run(layer, declared);
            if (expectedDiffId != null && !expectedDiffId.equals(r.diffId())) {
                throw new InvalidLayerException("layer diff ID is " + r.diffId() + ", expected " + expectedDiffId);
            }
            return r;
        } catch (IOException | RuntimeException | Error e) {
            try {
                FileTrees.deleteTree(root);
            } catch (IOException cleanup) {
                e.addSuppressed(cleanup);
            }
            throw e;
        }
    }

    private static void requireEmptyDirectory(Path root) throws IOException {
        if (!Files.isDirectory(root, NOFOLLOW)) {
            throw new IllegalArgumentException("layer target " + root + " is not a directory");
        }
        try (var s = Files.list(root)) {
            if (s.findAny().isPresent()) {
                throw new IllegalArgumentException("layer target " + root + " is not empty");
            }
        }
    }

    /** Dropping a name's leading "/" and "."s; a ".." that climbs out of the root is refused. */
    static List<String> components(String name) throws InvalidLayerException {
        if (name.indexOf('\0') >= 0) {
            throw new InvalidLayerException("name contains a NUL byte");
        }
        var out = new ArrayList<String>();
        for (String c : name.split("/")) {
            if (c.isEmpty() || c.equals(".")) {
                continue;
            }
            if (c.equals("..")) {
                if (out.isEmpty()) {
                    throw new InvalidLayerException("path \"" + name + "\" escapes the layer root");
                }
                out.removeLast();
            } else {
                out.add(c);
            }
        }
        return out;
    }

    private record DirMeta(int mode, Instant atime, Instant mtime) {
    }

    /** The state of one application. */
    private static final class Apply {
        private final Path root;
        private final boolean privileged;
        /** Directories get their mode and times last, once nothing more is created in them. */
        private final Map<Path, DirMeta> dirs = new LinkedHashMap<>();
        private final byte[] buffer = new byte[64 * 1024];
        private PaxTap tap;

        Apply(Path root, boolean privileged) {
            this.root = root;
            this.privileged = privileged;
        }

        Result run(InputStream layer, Compression declared) throws IOException {
            var shielded = new BufferedInputStream(new FilterInputStream(layer) {
                @Override
                public void close() {
                    // The caller owns the stream.
                }
            }, 64 * 1024);
            Compression actual = sniff(shielded, declared);
            try (InputStream decompressed = decompress(shielded, actual)) {
                var hashed = new HashingStream(decompressed, actual);
                long entries = 0;
                tap = new PaxTap(hashed);
                var tar = new TarArchiveInputStream(tap, StandardCharsets.UTF_8.name());
                TarArchiveEntry entry;
                String previous = null;
                while ((entry = nextEntry(tar, hashed, previous)) != null) {
                    previous = entry.getName();
                    if (Thread.interrupted()) {
                        throw new InterruptedIOException("layer unpack interrupted");
                    }
                    entries++;
                    try {
                        apply(entry, tar);
                    } catch (IOException e) {
                        String prefix = "layer entry \"" + entry.getName() + "\": ";
                        throw e instanceof InvalidLayerException
                                ? new InvalidLayerException(prefix + e.getMessage(), e)
                                : new IOException(prefix + e.getMessage(), e);
                    } catch (IllegalArgumentException e) {
                        // A name or link the OS cannot take (e.g. a NUL byte in a link target).
                        throw new InvalidLayerException("layer entry \"" + entry.getName() + "\": " + e.getMessage(), e);
                    }
                }
                finishDirectories();
                // The diff ID covers the whole uncompressed stream, padding after the end-of-archive marker included;
                // the compressed stream is drained too so that the caller's digest of it is complete.
                hashed.transferTo(OutputStream.nullOutputStream());
                shielded.transferTo(OutputStream.nullOutputStream());
                return new Result(new Digest("sha256", HexFormat.of().formatHex(hashed.digest.digest())),
                        hashed.count, entries);
            }
        }

        private static TarArchiveEntry nextEntry(TarArchiveInputStream tar, HashingStream hashed, String previous)
                throws IOException {
            String where = previous == null ? "at the first entry" : "after entry \"" + previous + "\"";
            try {
                return tar.getNextEntry();
            } catch (InvalidLayerException e) {
                throw new InvalidLayerException(e.getMessage() + " (" + where + ")", e);
            } catch (IOException e) {
                throw new InvalidLayerException("invalid tar stream " + where + ", " + hashed.count + " bytes in: "
                        + e.getMessage(), e);
            }
        }

        /** Magic bytes win over the media type, as in containerd: registries do mislabel layers. */
        private static Compression sniff(BufferedInputStream in, Compression declared) throws IOException {
            in.mark(4);
            byte[] m = in.readNBytes(4);
            in.reset();
            if (m.length >= 2 && (m[0] & 0xff) == 0x1f && (m[1] & 0xff) == 0x8b) {
                return Compression.GZIP;
            }
            if (m.length == 4 && (m[0] & 0xff) == 0x28 && (m[1] & 0xff) == 0xb5 && (m[2] & 0xff) == 0x2f
                    && (m[3] & 0xff) == 0xfd) {
                return Compression.ZSTD;
            }
            if (declared != Compression.NONE) {
                LOG.debug("layer declared compressed but is not; reading it as plain tar", "declared", declared);
            }
            return Compression.NONE;
        }

        private static InputStream decompress(InputStream in, Compression c) throws IOException {
            try {
                return switch (c) {
                    case NONE -> in;
                    case GZIP -> new GZIPInputStream(in, 64 * 1024);
                    case ZSTD -> new ZstdInputStream(in);
                };
            } catch (IOException e) {
                throw new InvalidLayerException("corrupt " + c.name().toLowerCase() + " layer stream: " + e.getMessage(), e);
            }
        }

        private void apply(TarArchiveEntry e, TarArchiveInputStream tar) throws IOException {
            if (e.isSparse()) {
                throw new InvalidLayerException("sparse tar entries are not supported");
            }
            PaxTap.Seen seen = tap.next();
            if (seen == null || seen.size() != e.getSize()) {
                throw new InvalidLayerException("tar headers could not be followed"
                        + (tap.broken() != null ? " (" + tap.broken() + ")" : ""));
            }
            List<String> parts = components(e.getName());
            byte type = e.getLinkFlag();
            boolean dir = type == TarArchiveEntry.LF_DIR
                    || (type == TarArchiveEntry.LF_OLDNORM && e.getName().endsWith("/"));
            if (parts.isEmpty()) {
                // The root's attributes belong to the snapshot store, as in containerd.
                if (!dir) {
                    throw new InvalidLayerException("only a directory may name the layer root");
                }
                return;
            }
            String base = parts.getLast();
            Path parent = parents(parts.subList(0, parts.size() - 1), true);
            if (base.equals(OPAQUE)) {
                Syscalls.lsetxattr(parent, OVERLAY_OPAQUE, new byte[] {'y'});
                return;
            }
            if (base.startsWith(WHITEOUT_META)) {
                LOG.debug("ignoring whiteout metadata entry", "entry", e.getName());
                return;
            }
            if (base.startsWith(WHITEOUT)) {
                whiteout(parent, base.substring(WHITEOUT.length()));
                return;
            }
            Path p = parent.resolve(base);
            replaceUnlessBothDirectories(p, dir);
            int perm = e.getMode() & 07777;
            switch (type) {
                case TarArchiveEntry.LF_DIR -> mkdirIfAbsent(p);
                case TarArchiveEntry.LF_OLDNORM, TarArchiveEntry.LF_NORMAL, TarArchiveEntry.LF_CONTIG -> {
                    if (dir) {
                        mkdirIfAbsent(p);
                    } else {
                        writeFile(p, tar, e.getSize());
                    }
                }
                case TarArchiveEntry.LF_SYMLINK -> Syscalls.symlink(e.getLinkName(), p);
                case TarArchiveEntry.LF_LINK -> Files.createLink(p, hardLinkTarget(e.getLinkName()));
                case TarArchiveEntry.LF_CHR, TarArchiveEntry.LF_BLK -> {
                    if (!privileged) {
                        throw new InvalidLayerException("device nodes can only be created as root");
                    }
                    int kind = type == TarArchiveEntry.LF_CHR ? Syscalls.S_IFCHR : Syscalls.S_IFBLK;
                    Syscalls.mknod(p, kind | perm, e.getDevMajor(), e.getDevMinor());
                }
                case TarArchiveEntry.LF_FIFO -> Syscalls.mknod(p, Syscalls.S_IFIFO | perm, 0, 0);
                default -> throw new InvalidLayerException("unsupported tar entry type '" + (char) type + "'");
            }
            // A hard link shares its inode, which already has its own entry's metadata; like GNU tar, the link's
            // header (which cannot legitimately differ) is not applied again.
            if (type != TarArchiveEntry.LF_LINK) {
                metadata(e, seen.xattrs(), p, dir, type == TarArchiveEntry.LF_SYMLINK, perm);
            }
        }

        /**
         * Walks {@code parts} below the root one lstat at a time, creating what is missing when {@code create}; a
         * symlink or a non-directory on the way is refused.
         */
        private Path parents(List<String> parts, boolean create) throws IOException {
            Path p = root;
            for (int i = 0; i < parts.size(); i++) {
                p = p.resolve(parts.get(i));
                BasicFileAttributes a = lstat(p);
                String shown = String.join("/", parts.subList(0, i + 1));
                if (a == null) {
                    if (!create) {
                        throw new InvalidLayerException("\"" + shown + "\" does not exist in this layer");
                    }
                    Files.createDirectory(p);
                    Syscalls.chmod(p, 0755);
                } else if (a.isSymbolicLink()) {
                    throw new InvalidLayerException("parent \"" + shown + "\" is a symbolic link; writing through links is refused");
                } else if (!a.isDirectory()) {
                    throw new InvalidLayerException("parent \"" + shown + "\" is not a directory");
                }
            }
            return p;
        }

        private static BasicFileAttributes lstat(Path p) throws IOException {
            try {
                return Files.readAttributes(p, BasicFileAttributes.class, NOFOLLOW);
            } catch (NoSuchFileException e) {
                return null;
            }
        }

        /**
         * OCI: a whiteout applies to lower layers only, and a file present in the same layer wins over it. So an
         * existing entry of that name stays; a later entry of that name replaces the whiteout.
         */
        private void whiteout(Path parent, String name) throws IOException {
            if (name.isEmpty() || name.equals(".") || name.equals("..")) {
                throw new InvalidLayerException("invalid whiteout name");
            }
            Path p = parent.resolve(name);
            if (lstat(p) == null) {
                Syscalls.mknod(p, Syscalls.S_IFCHR, 0, 0);
            }
        }

        private void replaceUnlessBothDirectories(Path p, boolean dir) throws IOException {
            BasicFileAttributes a = lstat(p);
            if (a != null && !(dir && a.isDirectory())) {
                FileTrees.deleteTree(p);
                dirs.keySet().removeIf(d -> d.startsWith(p)); // gone with it; a later dir of that name starts afresh
            }
        }

        private static void mkdirIfAbsent(Path p) throws IOException {
            if (lstat(p) == null) {
                Files.createDirectory(p);
            }
        }

        private void writeFile(Path p, InputStream tar, long size) throws IOException {
            long written = 0;
            try (var out = Files.newOutputStream(p, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE, NOFOLLOW)) {
                int n;
                while ((n = readContent(tar)) > 0) {
                    out.write(buffer, 0, n);
                    written += n;
                }
            }
            if (written != size) {
                throw new InvalidLayerException("truncated: " + written + " of " + size + " bytes");
            }
        }

        private int readContent(InputStream tar) throws IOException {
            try {
                return tar.read(buffer);
            } catch (InvalidLayerException e) {
                throw e;
            } catch (IOException e) {
                throw new InvalidLayerException("invalid tar stream: " + e.getMessage(), e);
            }
        }

        private Path hardLinkTarget(String linkName) throws IOException {
            List<String> parts;
            try {
                parts = components(linkName);
            } catch (InvalidLayerException e) {
                throw new InvalidLayerException("hard link target: " + e.getMessage());
            }
            if (parts.isEmpty()) {
                throw new InvalidLayerException("hard link to the layer root");
            }
            Path parent;
            try {
                parent = parents(parts.subList(0, parts.size() - 1), false);
            } catch (InvalidLayerException e) {
                throw new InvalidLayerException("hard link target \"" + linkName + "\": " + e.getMessage());
            }
            Path t = parent.resolve(parts.getLast());
            BasicFileAttributes a = lstat(t);
            if (a == null) {
                throw new InvalidLayerException("hard link target \"" + linkName + "\" does not exist in this layer");
            }
            if (a.isDirectory()) {
                throw new InvalidLayerException("hard link target \"" + linkName + "\" is a directory");
            }
            return t;
        }

        /** Owner first (chown clears setuid bits and security.capability), then xattrs, then mode and times. */
        private void metadata(TarArchiveEntry e, Map<String, byte[]> xattrs, Path p, boolean dir, boolean symlink,
                int perm) throws IOException {
            if (privileged) {
                Syscalls.lchown(p, id("uid", e.getLongUserId()), id("gid", e.getLongGroupId()));
            }
            xattrs(e.getName(), xattrs, p, dir);
            Instant mtime = e.getLastModifiedTime() != null ? e.getLastModifiedTime().toInstant() : Instant.EPOCH;
            FileTime at = e.getLastAccessTime();
            Instant atime = at != null ? at.toInstant() : mtime;
            if (dir) {
                dirs.put(p, new DirMeta(perm, atime, mtime));
                return;
            }
            if (!symlink) {
                Syscalls.chmod(p, perm);
            }
            Syscalls.utimensat(p, atime, mtime);
        }

        /** (uid_t) -1 would mean "leave unchanged" to lchown, so it is no valid owner. */
        private static int id(String what, long id) throws InvalidLayerException {
            if (id < 0 || id >= 0xffffffffL) {
                throw new InvalidLayerException(what + " " + id + " is out of range");
            }
            return (int) id;
        }

        /** Values come raw from {@link PaxTap}: commons-compress would have decoded them as UTF-8. */
        private void xattrs(String entry, Map<String, byte[]> xattrs, Path p, boolean dir) throws IOException {
            for (var h : xattrs.entrySet()) {
                String name = h.getKey();
                if (name.startsWith("trusted.overlay.")) {
                    LOG.warn("dropping overlayfs xattr from layer", "entry", entry, "xattr", name);
                    continue;
                }
                try {
                    Syscalls.lsetxattr(p, name, h.getValue());
                } catch (Syscalls.ErrnoException x) {
                    // Like containerd: a file system without the namespace, or user.* on a non-regular file, is
                    // skipped with a warning; anything else fails the layer.
                    boolean userOnSpecial = x.errno() == Syscalls.EPERM && name.startsWith("user.") && !dir
                            && !Files.isRegularFile(p, NOFOLLOW);
                    if (x.errno() == Syscalls.EOPNOTSUPP || userOnSpecial) {
                        LOG.warn("ignoring xattr the file system refused", "entry", entry, "xattr", name,
                                "error", x.getMessage());
                        continue;
                    }
                    throw x;
                }
            }
        }

        private void finishDirectories() throws IOException {
            for (var d : dirs.entrySet()) {
                BasicFileAttributes a = lstat(d.getKey());
                if (a == null || !a.isDirectory()) {
                    continue;
                }
                Syscalls.chmod(d.getKey(), d.getValue().mode());
                Syscalls.utimensat(d.getKey(), d.getValue().atime(), d.getValue().mtime());
            }
        }
    }

    /** Hashes and counts the uncompressed stream; read errors say where the stream broke. */
    private static final class HashingStream extends FilterInputStream {
        final MessageDigest digest = Digest.messageDigest("sha256");
        final Compression compression;
        long count;

        HashingStream(InputStream in, Compression compression) {
            super(in);
            this.compression = compression;
        }

        @Override
        public int read() throws IOException {
            byte[] one = new byte[1];
            return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            int n;
            try {
                n = in.read(b, off, len);
            } catch (IOException e) {
                throw new InvalidLayerException("layer stream (" + compression.name().toLowerCase()
                        + ") is corrupt or truncated after " + count + " uncompressed bytes: " + e.getMessage(), e);
            }
            if (n > 0) {
                digest.update(b, off, n);
                count += n;
            }
            return n;
        }

        @Override
        public long skip(long n) throws IOException {
            // Skipping would bypass the digest.
            long done = 0;
            byte[] buf = new byte[(int) Math.min(Math.max(n, 1), 8192)];
            while (done < n) {
                int r = read(buf, 0, (int) Math.min(buf.length, n - done));
                if (r < 0) {
                    break;
                }
                done += r;
            }
            return done;
        }

        @Override
        public boolean markSupported() {
            return false;
        }
    }
}
