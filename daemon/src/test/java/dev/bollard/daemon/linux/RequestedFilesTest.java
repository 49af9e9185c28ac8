package dev.bollard.daemon.linux;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

@Timeout(60) // a file that blocks shows as a hang: fail instead
class RequestedFilesTest {

    @TempDir
    Path dir;

    private IllegalArgumentException refused(Path path, long max) {
        return assertThrows(IllegalArgumentException.class, () -> RequestedFiles.read(path, max, "some.field"));
    }

    @Test
    void aRegularFileIsReadWhole() throws IOException {
        Path f = Files.writeString(dir.resolve("p.json"), "{\"a\":1}");
        assertEquals("{\"a\":1}", new String(RequestedFiles.read(f, 7, "some.field"), StandardCharsets.UTF_8));
        Path link = Files.createSymbolicLink(dir.resolve("link"), f);
        assertEquals(7, RequestedFiles.read(link, 100, "some.field").length, "a symlink to a regular file is one");
    }

    @Test
    void devZeroIsRefusedBeforeAByteIsRead() {
        var e = refused(Path.of("/dev/zero"), 1 << 20);
        assertTrue(e.getMessage().startsWith("some.field: /dev/zero is not a regular file (a character device)"),
                e.getMessage());
    }

    @Test
    void aFifoWithoutWriterDoesNotBlock() throws IOException {
        Path fifo = dir.resolve("fifo");
        Syscalls.mkfifo(fifo, 0600);
        var e = refused(fifo, 1 << 20);
        assertTrue(e.getMessage().contains(fifo + " is not a regular file (a FIFO)"), e.getMessage());
        Path link = Files.createSymbolicLink(dir.resolve("to-fifo"), fifo);
        assertTrue(refused(link, 1 << 20).getMessage().contains("a FIFO"));
    }

    @Test
    void aFileOverTheCapIsRefused() throws IOException {
        Path f = Files.write(dir.resolve("big"), new byte[1025]);
        var e = refused(f, 1024);
        assertTrue(e.getMessage().contains("larger than 1024 bytes"), e.getMessage());
        assertEquals(1024, RequestedFiles.read(Files.write(dir.resolve("fits"), new byte[1024]), 1024, "f").length);
    }

    @Test
    void missingRelativeAndDirectoryAreRefusedNamingTheField() {
        assertTrue(refused(dir.resolve("none"), 10).getMessage().matches("some\\.field: cannot open .*none: it does not exist"));
        assertTrue(refused(Path.of("rel.json"), 10).getMessage().contains("must be absolute"));
        assertTrue(refused(dir, 10).getMessage().contains("a directory"));
    }
}
