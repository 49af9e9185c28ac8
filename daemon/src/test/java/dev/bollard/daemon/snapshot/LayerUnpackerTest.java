package dev.bollard.daemon.snapshot;

import dev.bollard.daemon.content.Digest;
import dev.bollard.daemon.linux.Syscalls;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Instant;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Runs as root, as CI does: ownership, device nodes, trusted.* xattrs and the overlay mount need it. */
class LayerUnpackerTest {

    @org.junit.jupiter.api.BeforeAll
    static void needsRoot() {
        dev.bollard.daemon.testkit.Root.assume("ownership, device nodes, trusted.* xattrs and overlay mounts");
    }

    private static final LinkOption NOFOLLOW = LinkOption.NOFOLLOW_LINKS;
    private static final String TAR = "application/vnd.oci.image.layer.v1.tar";
    private static final String GZIP = "application/vnd.oci.image.layer.v1.tar+gzip";
    private static final String ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd";

    @TempDir
    Path base;
    Path target;
    Path outside;
    Map<String, String> outsideBefore;

    @BeforeEach
    void setUp() throws IOException {
        target = Files.createDirectory(base.resolve("target"));
        outside = Files.createDirectory(base.resolve("outside"));
        Files.writeString(outside.resolve("sentinel.txt"), "untouched");
        outsideBefore = snapshotOutside();
    }

    /** Everything under {@code base} except itself and the target: path, type, size, mtime and links. */
    private Map<String, String> snapshotOutside() throws IOException {
        var m = new TreeMap<String, String>();
        try (Stream<Path> s = Files.walk(base)) {
            for (Path p : s.filter(p -> !p.equals(base) && !p.startsWith(target)).toList()) {
                var a = Files.readAttributes(p, "unix:mode,size,lastModifiedTime,nlink", NOFOLLOW);
                m.put(base.relativize(p).toString(), a.toString());
            }
        }
        return m;
    }

    private LayerUnpacker.Result unpack(byte[] layer, String mediaType, Path dir) throws IOException {
        return LayerUnpacker.unpack(new ByteArrayInputStream(layer), mediaType, dir);
    }

    private static int attr(Path p, String name) throws IOException {
        return ((Number) Files.getAttribute(p, "unix:" + name, NOFOLLOW)).intValue();
    }

    private static Instant mtime(Path p) throws IOException {
        return Files.getLastModifiedTime(p, NOFOLLOW).toInstant();
    }

    private static String readlink(Path p) throws IOException {
        return Files.readSymbolicLink(p).toString();
    }

    /** A refused layer: the message names the entry, the target is gone and nothing outside changed. */
    private void assertRefused(byte[] layer, String entry, String reason) throws IOException {
        var e = assertThrows(IOException.class, () -> unpack(layer, TAR, target));
        assertTrue(e.getMessage().contains("\"" + entry + "\""), e.getMessage());
        assertTrue(e.getMessage().contains(reason), e.getMessage());
        assertFalse(Files.exists(target, NOFOLLOW), "target removed");
        assertEquals(outsideBefore, snapshotOutside());
        assertEquals("untouched", Files.readString(outside.resolve("sentinel.txt")));
        assertFalse(Files.exists(Path.of("/evil"), NOFOLLOW));
        assertFalse(Files.exists(base.resolve("evil"), NOFOLLOW));
    }

    // ---- file types and metadata ----

    @Test
    void appliesEveryFileTypeWithModesOwnersTimesAndXattrs() throws IOException {
        Instant nanos = Instant.parse("2023-03-04T05:06:07.123456789Z");
        byte[] layer = new TestLayer()
                .dir("etc", 0750, e -> { e.setUserId(1000); e.setGroupId(1001); })
                .file("etc/conf", "hello", 0640, e -> {
                    e.setUserId(33);
                    e.setGroupId(44);
                    e.addPaxHeader("SCHILY.xattr.user.note", "kept");
                    e.addPaxHeader("SCHILY.xattr.trusted.tag", "t");
                    e.addPaxHeader("SCHILY.xattr.trusted.overlay.opaque", "y");
                })
                .file("usr/bin/su", "#!", 04755, null)
                .dir("shared", 02775, null)
                .dir("tmp", 01777, null)
                .pax("mtime", "1677906367.123456789".getBytes(StandardCharsets.UTF_8))
                .pax("atime", "1600000000.5".getBytes(StandardCharsets.UTF_8))
                .file("nanos", "", 0600, null)
                .symlink("etc/link", "conf")
                .symlink("abs", "/etc/passwd")
                .symlink("odd", "a//b/")
                .hardlink("etc/hard", "etc/conf")
                .device("dev/null", TarArchiveEntry.LF_CHR, 1, 3)
                .device("dev/loop9", TarArchiveEntry.LF_BLK, 7, 9)
                .fifo("run/fifo")
                .plain();
        var r = unpack(layer, TAR, target);

        assertEquals(Digest.sha256(layer), r.diffId());
        assertEquals(layer.length, r.uncompressedSize());
        assertEquals(13, r.entries());

        Path etc = target.resolve("etc");
        assertEquals(Syscalls.S_IFDIR | 0750, attr(etc, "mode"));
        assertEquals(1000, attr(etc, "uid"));
        assertEquals(1001, attr(etc, "gid"));
        Path conf = etc.resolve("conf");
        assertEquals("hello", Files.readString(conf));
        assertEquals(Syscalls.S_IFREG | 0640, attr(conf, "mode"));
        assertEquals(33, attr(conf, "uid"));
        assertEquals(44, attr(conf, "gid"));
        assertEquals(TestLayer.MTIME, mtime(conf));
        assertArrayEquals("kept".getBytes(StandardCharsets.UTF_8), Syscalls.lgetxattr(conf, "user.note").orElseThrow());
        assertArrayEquals("t".getBytes(StandardCharsets.UTF_8), Syscalls.lgetxattr(conf, "trusted.tag").orElseThrow());
        assertTrue(Syscalls.lgetxattr(conf, "trusted.overlay.opaque").isEmpty(), "overlay xattrs from the archive are dropped");

        assertEquals(04755, attr(target.resolve("usr/bin/su"), "mode") & 07777);
        assertEquals(0755, attr(target.resolve("usr"), "mode") & 07777, "implicit parents are 0755");
        assertEquals(02775, attr(target.resolve("shared"), "mode") & 07777);
        assertEquals(01777, attr(target.resolve("tmp"), "mode") & 07777);
        assertEquals(nanos, mtime(target.resolve("nanos")));
        assertEquals(Instant.parse("2020-09-13T12:26:40.5Z"),
                ((FileTime) Files.getAttribute(target.resolve("nanos"), "lastAccessTime", NOFOLLOW)).toInstant());

        assertEquals("conf", readlink(etc.resolve("link")));
        assertEquals("/etc/passwd", readlink(target.resolve("abs")));
        assertEquals(5L, Files.readAttributes(target.resolve("odd"), "size", NOFOLLOW).get("size"), "link text verbatim");
        assertEquals(TestLayer.MTIME, mtime(target.resolve("abs")));

        assertEquals(Files.getAttribute(conf, "unix:ino"), Files.getAttribute(etc.resolve("hard"), "unix:ino"));
        assertEquals(2, attr(conf, "nlink"));

        Path dnull = target.resolve("dev/null");
        assertEquals(Syscalls.S_IFCHR | 0640, attr(dnull, "mode"));
        assertEquals(Syscalls.makedev(1, 3), ((Number) Files.getAttribute(dnull, "unix:rdev", NOFOLLOW)).longValue());
        Path loop = target.resolve("dev/loop9");
        assertEquals(Syscalls.S_IFBLK | 0640, attr(loop, "mode"));
        assertEquals(Syscalls.makedev(7, 9), ((Number) Files.getAttribute(loop, "unix:rdev", NOFOLLOW)).longValue());
        assertEquals(Syscalls.S_IFIFO | 0600, attr(target.resolve("run/fifo"), "mode"));
        assertEquals(outsideBefore, snapshotOutside());
    }

    @Test
    void directoryTimesAreSetAfterTheirContents() throws IOException {
        byte[] layer = new TestLayer()
                .dir("a", 0555, null)
                .file("a/one", "1")
                .dir("a/b")
                .file("a/b/two", "2")
                .fifo("a/b/.wh.gone")
                .plain();
        unpack(layer, TAR, target);
        assertEquals(TestLayer.MTIME, mtime(target.resolve("a")));
        assertEquals(TestLayer.MTIME, mtime(target.resolve("a/b")));
        assertEquals(0555, attr(target.resolve("a"), "mode") & 07777);
    }

    @Test
    void longNamesInGnuAndPaxForm() throws IOException {
        String deep = "d".repeat(120) + "/" + "e".repeat(110);
        String longName = deep + "/" + "f".repeat(200);
        String longLink = "../" + "x".repeat(150);
        for (int mode : new int[] {TarArchiveOutputStream.LONGFILE_GNU, TarArchiveOutputStream.LONGFILE_POSIX}) {
            Path t = Files.createDirectory(base.resolve("long-" + mode));
            byte[] layer = new TestLayer(mode)
                    .file(longName, "deep")
                    .symlink(deep + "/s", longLink)
                    .hardlink(deep + "/h", longName)
                    .file("ünïcode-名前", "u")
                    .plain();
            unpack(layer, TAR, t);
            assertEquals("deep", Files.readString(t.resolve(longName)));
            assertEquals(longLink, readlink(t.resolve(deep + "/s")));
            assertEquals(Files.getAttribute(t.resolve(longName), "unix:ino"), Files.getAttribute(t.resolve(deep + "/h"), "unix:ino"));
            assertEquals("u", Files.readString(t.resolve("ünïcode-名前")));
        }
    }

    @Test
    void gzipZstdAndPlainGiveTheSameTreeAndDiffId() throws IOException {
        byte[] plain = new TestLayer().dir("a").file("a/f", "x".repeat(100_000)).symlink("a/l", "f").plain();
        var results = new java.util.ArrayList<LayerUnpacker.Result>();
        for (var c : List.of(Map.entry(TAR, plain), Map.entry(GZIP, TestLayer.gzip(plain)),
                Map.entry(ZSTD, TestLayer.zstd(plain)))) {
            Path t = Files.createDirectory(base.resolve("c" + results.size()));
            var in = new ByteArrayInputStream(c.getValue());
            results.add(LayerUnpacker.unpack(in, c.getKey(), t));
            assertEquals(0, in.available(), "the compressed stream is read to its end");
            assertEquals("x".repeat(100_000), Files.readString(t.resolve("a/f")));
        }
        assertEquals(new LayerUnpacker.Result(Digest.sha256(plain), plain.length, 3), results.get(0));
        assertEquals(results.get(0), results.get(1));
        assertEquals(results.get(0), results.get(2));
    }

    @Test
    void mislabelledCompressionIsDetectedFromMagicBytes() throws IOException {
        byte[] plain = new TestLayer().file("f", "x").plain();
        assertEquals(Digest.sha256(plain), unpack(plain, GZIP, target).diffId());
        Path t2 = Files.createDirectory(base.resolve("t2"));
        assertEquals(Digest.sha256(plain), unpack(TestLayer.gzip(plain), TAR, t2).diffId());
    }

    @Test
    void globalPaxHeadersApplyToLaterEntries() throws IOException {
        // git archive writes one ("comment=<commit>"); commons-compress applies globals per POSIX, and so do xattrs.
        byte[] layer = new TestLayer()
                .globalPax("comment", "0123abcd")
                .globalPax("SCHILY.xattr.user.g", "1")
                .file("a", "a")
                .pax("SCHILY.xattr.user.g", "2".getBytes(StandardCharsets.UTF_8))
                .file("b", "b")
                .plain();
        assertEquals(2, unpack(layer, TAR, target).entries());
        assertArrayEquals("1".getBytes(StandardCharsets.UTF_8), Syscalls.lgetxattr(target.resolve("a"), "user.g").orElseThrow());
        assertArrayEquals("2".getBytes(StandardCharsets.UTF_8), Syscalls.lgetxattr(target.resolve("b"), "user.g").orElseThrow());
    }

    @Test
    void aReplacedDirectoryForgetsItsDeferredMetadata() throws IOException {
        byte[] layer = new TestLayer()
                .dir("d", 0700, null).dir("d/x", 0700, null)
                .file("d", "a file replaces the tree")
                .dir("d", 0750, null)
                .file("d/x/y", "d/x is an implicit parent now")
                .plain();
        unpack(layer, TAR, target);
        assertEquals(0750, attr(target.resolve("d"), "mode") & 07777);
        assertEquals(0755, attr(target.resolve("d/x"), "mode") & 07777, "not the removed d/x's 0700");
    }

    @Test
    void aFileCannotBeUsedAsAParent() throws IOException {
        assertRefused(new TestLayer().file("d", "f").file("d/x", "x").plain(), "d/x", "parent \"d\" is not a directory");
    }

    @Test
    void mediaTypes() {
        assertEquals(LayerUnpacker.Compression.GZIP,
                LayerUnpacker.compressionOf("application/vnd.docker.image.rootfs.diff.tar.gzip").orElseThrow());
        assertEquals(LayerUnpacker.Compression.ZSTD, LayerUnpacker.compressionOf(ZSTD).orElseThrow());
        assertEquals(LayerUnpacker.Compression.NONE, LayerUnpacker.compressionOf(TAR).orElseThrow());
        assertTrue(LayerUnpacker.compressionOf("application/vnd.oci.image.config.v1+json").isEmpty());
    }

    // ---- whiteouts and overlayfs ----

    @Test
    void whiteoutsBecomeOverlayMarkers() throws IOException {
        byte[] layer = new TestLayer()
                .dir("a")
                .file("a/.wh.gone", "")
                .dir("d")
                .file("d/.wh..wh..opq", "")
                .file("d/new", "n")
                .file(".wh.top", "")
                .file("e/.wh..wh..opq", "")
                .file(".wh..wh.plnk", "")
                .plain();
        var r = unpack(layer, TAR, target);
        assertEquals(8, r.entries());
        Path gone = target.resolve("a/gone");
        assertEquals(Syscalls.S_IFCHR, attr(gone, "mode") & Syscalls.S_IFMT);
        assertEquals(0L, ((Number) Files.getAttribute(gone, "unix:rdev", NOFOLLOW)).longValue());
        assertEquals(Syscalls.S_IFCHR, attr(target.resolve("top"), "mode") & Syscalls.S_IFMT);
        assertArrayEquals(new byte[] {'y'}, Syscalls.lgetxattr(target.resolve("d"), "trusted.overlay.opaque").orElseThrow());
        assertArrayEquals(new byte[] {'y'}, Syscalls.lgetxattr(target.resolve("e"), "trusted.overlay.opaque").orElseThrow());
        assertEquals("n", Files.readString(target.resolve("d/new")));
        assertFalse(Files.exists(target.resolve("a/.wh.gone"), NOFOLLOW));
        assertFalse(Files.exists(target.resolve(".wh..wh.plnk"), NOFOLLOW));
        assertFalse(Files.exists(target.resolve("wh.plnk"), NOFOLLOW));
        assertTrue(Syscalls.lgetxattr(target.resolve("a"), "trusted.overlay.opaque").isEmpty());
    }

    @Test
    void aFileInTheSameLayerWinsOverItsWhiteout() throws IOException {
        byte[] layer = new TestLayer()
                .file("before", "kept")
                .file(".wh.before", "")
                .file(".wh.after", "")
                .file("after", "replaces the whiteout")
                .plain();
        unpack(layer, TAR, target);
        assertEquals("kept", Files.readString(target.resolve("before")));
        assertEquals("replaces the whiteout", Files.readString(target.resolve("after")));
    }

    @Test
    void realOverlayMountShowsTheMergedView() throws IOException {
        Path lower = Files.createDirectory(base.resolve("layer0"));
        Path upper = Files.createDirectory(base.resolve("layer1"));
        unpack(TestLayer.gzip(new TestLayer()
                .dir("a").file("a/keep", "k").file("a/gone", "g")
                .dir("d").file("d/old", "o").dir("d/sub").file("d/sub/deep", "x")
                .file("top", "t")
                .plain()), GZIP, lower);
        unpack(TestLayer.zstd(new TestLayer()
                .dir("a").file("a/.wh.gone", "").file("a/added", "+")
                .dir("d").file("d/.wh..wh..opq", "").file("d/new", "n")
                .file(".wh.top", "")
                .plain()), ZSTD, upper);

        Path mnt = Files.createDirectory(base.resolve("merged"));
        Syscalls.mount("overlay", mnt, "overlay", Syscalls.MS_RDONLY, "lowerdir=" + upper + ":" + lower);
        try {
            assertEquals(List.of("a", "d"), list(mnt));
            assertEquals(List.of("added", "keep"), list(mnt.resolve("a")));
            assertEquals(List.of("new"), list(mnt.resolve("d")));
            assertEquals("k", Files.readString(mnt.resolve("a/keep")));
            assertEquals("n", Files.readString(mnt.resolve("d/new")));
            assertFalse(Files.exists(mnt.resolve("top")));
            assertFalse(Files.exists(mnt.resolve("a/gone")));
        } finally {
            Syscalls.umount2(mnt, Syscalls.MNT_DETACH);
        }
    }

    private static List<String> list(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    // ---- malicious layers ----

    @Test
    void refusesDotDotEscape() throws IOException {
        assertRefused(new TestLayer().file("ok", "1").file("../evil", "x").plain(), "../evil", "escapes the layer root");
    }

    @Test
    void refusesNestedDotDotEscape() throws IOException {
        assertRefused(new TestLayer().dir("a").file("a/../../evil", "x").plain(), "a/../../evil", "escapes the layer root");
    }

    @Test
    void refusesRootedDotDotEscape() throws IOException {
        assertRefused(new TestLayer().file("/../evil", "x").plain(), "/../evil", "escapes the layer root");
    }

    /** Documented choice, as containerd and GNU tar: a leading "/" is relative to the layer root. */
    @Test
    void absoluteNamesLandUnderTheRoot() throws IOException {
        byte[] layer = new TestLayer().file("/abs/evil", "inside").file("a/./b/../c", "c").plain();
        unpack(layer, TAR, target);
        assertEquals("inside", Files.readString(target.resolve("abs/evil")));
        assertEquals("c", Files.readString(target.resolve("a/c")));
        assertFalse(Files.exists(Path.of("/abs/evil")));
        assertEquals(outsideBefore, snapshotOutside());
    }

    @Test
    void refusesWritingThroughAnAbsoluteSymlink() throws IOException {
        assertRefused(new TestLayer().symlink("link", outside.toString()).file("link/evil", "x").plain(),
                "link/evil", "is a symbolic link");
    }

    @Test
    void refusesWritingThroughARelativeSymlinkUpwards() throws IOException {
        assertRefused(new TestLayer().symlink("up", "../../..").file("up" + base + "/outside/evil", "x").plain(),
                "up" + base + "/outside/evil", "is a symbolic link");
        setUp2();
        assertRefused(new TestLayer().dir("a").symlink("a/up", "../../outside").dir("a/up/sub").plain(),
                "a/up/sub/", "is a symbolic link");
    }

    /** The target was removed by the previous refusal: make a fresh one. */
    private void setUp2() throws IOException {
        Files.createDirectory(target);
    }

    @Test
    void refusesWritingThroughASymlinkToAnInnerDirectory() throws IOException {
        // Even inside the root: in a per-layer directory the link's target may live in a lower layer.
        assertRefused(new TestLayer().dir("real").symlink("alias", "real").file("alias/f", "x").plain(),
                "alias/f", "is a symbolic link");
    }

    @Test
    void refusesASymlinkThatReplacesADirectoryMidLayer() throws IOException {
        assertRefused(new TestLayer().dir("d").file("d/ok", "ok").symlink("d", outside.toString())
                .file("d/evil", "x").plain(), "d/evil", "is a symbolic link");
    }

    @Test
    void refusesHardLinkToAHostFile() throws IOException {
        int nlink = attr(Path.of("/etc/passwd"), "nlink");
        assertRefused(new TestLayer().hardlink("passwd", "/etc/passwd").plain(), "passwd", "does not exist in this layer");
        assertEquals(nlink, attr(Path.of("/etc/passwd"), "nlink"));
    }

    @Test
    void refusesHardLinkOutOfTheRoot() throws IOException {
        assertRefused(new TestLayer().hardlink("h", "../outside/sentinel.txt").plain(), "h", "escapes the layer root");
    }

    @Test
    void refusesHardLinkThroughASymlink() throws IOException {
        assertRefused(new TestLayer().symlink("link", outside.toString()).hardlink("h", "link/sentinel.txt").plain(),
                "h", "is a symbolic link");
        assertEquals(1, attr(outside.resolve("sentinel.txt"), "nlink"));
    }

    @Test
    void aHardLinkToASymlinkLinksTheSymlinkItself() throws IOException {
        byte[] layer = new TestLayer().symlink("s", outside.resolve("sentinel.txt").toString()).hardlink("h", "s").plain();
        unpack(layer, TAR, target);
        assertTrue(Files.isSymbolicLink(target.resolve("h")));
        assertEquals(Files.getAttribute(target.resolve("s"), "unix:ino", NOFOLLOW),
                Files.getAttribute(target.resolve("h"), "unix:ino", NOFOLLOW));
        assertEquals(outsideBefore, snapshotOutside(), "the sentinel's mode and times are untouched");
    }

    @Test
    void refusesBadWhiteoutNames() throws IOException {
        assertRefused(new TestLayer().file("a/.wh..", "").plain(), "a/.wh..", "invalid whiteout name");
    }

    @Test
    void replacingAnEntryNeverFollowsTheOldOne() throws IOException {
        // A symlink to the outside, then a regular file of the same name: the link is replaced, not written through.
        byte[] layer = new TestLayer().symlink("f", outside.resolve("sentinel.txt").toString()).file("f", "mine").plain();
        unpack(layer, TAR, target);
        assertEquals("mine", Files.readString(target.resolve("f")));
        assertFalse(Files.isSymbolicLink(target.resolve("f")));
        assertEquals(outsideBefore, snapshotOutside());
    }

    // ---- broken streams and preconditions ----

    @Test
    void truncatedGzipFailsClearlyAndCleansUp() throws IOException {
        byte[] gz = TestLayer.gzip(new TestLayer().file("a", "x".repeat(200_000)).file("b", "y").plain());
        byte[] cut = Arrays.copyOf(gz, gz.length / 2);
        var e = assertThrows(LayerUnpacker.InvalidLayerException.class, () -> unpack(cut, GZIP, target));
        assertTrue(e.getMessage().contains("gzip") && e.getMessage().contains("truncated"), e.getMessage());
        assertFalse(Files.exists(target));
    }

    @Test
    void truncatedZstdAndPlainFailAndCleanUp() throws IOException {
        byte[] plain = new TestLayer().file("a", "x".repeat(200_000)).file("b", "y").plain();
        byte[] z = TestLayer.zstd(plain);
        var e = assertThrows(LayerUnpacker.InvalidLayerException.class,
                () -> unpack(Arrays.copyOf(z, z.length / 2), ZSTD, target));
        assertTrue(e.getMessage().contains("zstd"), e.getMessage());
        assertFalse(Files.exists(target));
        setUp2();
        var e2 = assertThrows(LayerUnpacker.InvalidLayerException.class,
                () -> unpack(Arrays.copyOf(plain, 100_000), TAR, target));
        assertTrue(e2.getMessage().contains("layer entry \"a\""), e2.getMessage());
        assertFalse(Files.exists(target));
    }

    @Test
    void aCorruptHeaderNamesWhereTheStreamBroke() throws IOException {
        byte[] plain = new TestLayer().file("first", "1").file("second", "2").plain();
        plain[1024 + 148] ^= 0x7; // the second header's checksum
        var e = assertThrows(LayerUnpacker.InvalidLayerException.class, () -> unpack(plain, TAR, target));
        assertTrue(e.getMessage().startsWith("layer entry \"second\": tar headers could not be followed (header checksum mismatch)"),
                e.getMessage());
        assertFalse(Files.exists(target));
    }

    @Test
    void aNulInALinkTargetIsRefused() throws IOException {
        // Only a PAX record can carry one: the ustar field ends at the first NUL.
        assertRefused(new TestLayer().pax("linkpath", "a\0b".getBytes(StandardCharsets.UTF_8)).symlink("s", "x").plain(),
                "s", "NUL");
    }

    @Test
    void ownersBeyondUidTAreRefused() throws IOException {
        assertRefused(new TestLayer().file("f", "x", 0644, e -> e.setUserId(0xffffffffL)).plain(), "f", "uid 4294967295 is out of range");
        setUp2();
        var r = unpack(new TestLayer().file("f", "x", 0644, e -> e.setGroupId(0xfffffffeL)).plain(), TAR, target);
        assertEquals(1, r.entries());
        assertEquals(0xfffffffeL, attr(target.resolve("f"), "gid") & 0xffffffffL);
    }

    @Test
    void wrongDiffIdFailsAndCleansUp() throws IOException {
        byte[] layer = new TestLayer().file("f", "x").plain();
        Digest wrong = Digest.sha256(new byte[0]);
        var e = assertThrows(LayerUnpacker.InvalidLayerException.class,
                () -> LayerUnpacker.unpack(new ByteArrayInputStream(layer), TAR, target, wrong));
        assertEquals("layer diff ID is " + Digest.sha256(layer) + ", expected " + wrong, e.getMessage());
        assertFalse(Files.exists(target));
    }

    @Test
    void unsupportedMediaTypeFailsAndCleansUp() {
        var e = assertThrows(LayerUnpacker.InvalidLayerException.class,
                () -> unpack(new byte[0], "application/x-rar", target));
        assertEquals("unsupported layer media type \"application/x-rar\"", e.getMessage());
        assertFalse(Files.exists(target));
    }

    @Test
    void aNonEmptyTargetIsRefusedAndLeftAlone() throws IOException {
        Files.writeString(target.resolve("mine"), "keep");
        assertThrows(IllegalArgumentException.class, () -> unpack(new TestLayer().file("f", "x").plain(), TAR, target));
        assertEquals("keep", Files.readString(target.resolve("mine")));
    }

    @Test
    void binaryXattrValuesArriveByteForByte() throws IOException {
        // security.capability v2 for cap_setuid+ep: the 0x80 byte is not UTF-8, which commons-compress would mangle.
        byte[] cap = {1, 0, 0, 2, (byte) 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
        byte[] bin = {0, (byte) 0xff, '\n', '=', ' '};
        byte[] layer = new TestLayer()
                .pax("SCHILY.xattr.security.capability", cap)
                .pax("SCHILY.xattr.user.bin", bin)
                .file("usr/bin/newuidmap", "elf", 0755, e -> { e.setUserId(0); e.setGroupId(0); })
                .file("plain", "no xattrs")
                .plain();
        unpack(layer, TAR, target);
        Path f = target.resolve("usr/bin/newuidmap");
        assertArrayEquals(cap, Syscalls.lgetxattr(f, "security.capability").orElseThrow());
        assertArrayEquals(bin, Syscalls.lgetxattr(f, "user.bin").orElseThrow());
        assertTrue(Syscalls.lgetxattr(target.resolve("plain"), "user.bin").isEmpty(), "PAX records are per entry");
    }
}
