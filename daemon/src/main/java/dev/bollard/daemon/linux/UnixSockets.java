package dev.bollard.daemon.linux;

import java.io.IOException;
import java.net.ConnectException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/** Facts about UNIX socket paths that the JDK does not offer directly. */
public final class UnixSockets {

    /** sockaddr_un.sun_path is 108 bytes on Linux, one of them the terminating NUL. */
    public static final int MAX_PATH_BYTES = 107;

    private static final int S_IFMT = 0170000;
    private static final int S_IFSOCK = 0140000;

    public enum PathState { ABSENT, LIVE_SOCKET, STALE_SOCKET, NOT_A_SOCKET }

    private UnixSockets() {
    }

    public static int pathBytes(Path path) {
        return path.toString().getBytes(StandardCharsets.UTF_8).length;
    }

    /** Whether something listens on {@code path}: a connect that succeeds says live, a refused one says stale. */
    public static PathState probe(Path path) throws IOException {
        int mode;
        try {
            mode = (Integer) Files.getAttribute(path, "unix:mode", LinkOption.NOFOLLOW_LINKS);
        } catch (NoSuchFileException e) {
            return PathState.ABSENT;
        }
        if ((mode & S_IFMT) != S_IFSOCK) {
            return PathState.NOT_A_SOCKET;
        }
        try (var ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            ch.connect(UnixDomainSocketAddress.of(path));
            return PathState.LIVE_SOCKET;
        } catch (ConnectException e) {
            return PathState.STALE_SOCKET;
        }
    }
}
