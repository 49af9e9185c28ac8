package dev.bollard.daemon.linux;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;

/** What /proc/self/mountinfo says about mount points. */
public final class MountInfo {

    private static final Path MOUNTINFO = Path.of("/proc/self/mountinfo");

    private MountInfo() {
    }

    /** The file system type mounted at exactly {@code mountPoint} (the topmost when stacked), if any. */
    public static Optional<String> fsTypeAt(Path mountPoint) throws IOException {
        String wanted = mountPoint.toAbsolutePath().normalize().toString();
        String type = null;
        for (String line : Files.readAllLines(MOUNTINFO)) {
            // id parent major:minor root mountpoint options [optional...] - fstype source superoptions
            String[] f = line.split(" ");
            if (f.length < 7 || !unescape(f[4]).equals(wanted)) {
                continue;
            }
            for (int i = 6; i < f.length - 1; i++) {
                if (f[i].equals("-")) {
                    type = f[i + 1];
                    break;
                }
            }
        }
        return Optional.ofNullable(type);
    }

    /** Mount points at or below {@code dir}, deepest first (the order to unmount them in). */
    public static List<Path> mountPointsBelow(Path dir) throws IOException {
        Path base = dir.toAbsolutePath().normalize();
        var out = new ArrayList<Path>();
        for (String line : Files.readAllLines(MOUNTINFO)) {
            String[] f = line.split(" ");
            if (f.length > 4) {
                Path p = Path.of(unescape(f[4]));
                if (p.startsWith(base)) {
                    out.add(p);
                }
            }
        }
        out.sort(Comparator.comparingInt(Path::getNameCount).reversed());
        return out;
    }

    /**
     * Unmounts (lazily) whatever is still mounted at or below {@code dir}: what a shim killed before it could
     * unmount a rootfs, a /dev/shm, a netns pin. Returns what it unmounted, for the log.
     */
    public static List<Path> unmountBelow(Path dir) throws IOException {
        var done = new ArrayList<Path>();
        for (Path p : mountPointsBelow(dir)) {
            try {
                Syscalls.umount2(p, Syscalls.MNT_DETACH);
                done.add(p);
            } catch (Syscalls.ErrnoException e) {
                if (e.errno() != Syscalls.EINVAL && e.errno() != Syscalls.ENOENT) {
                    throw e;
                }
            }
        }
        return done;
    }

    /** The kernel writes space, tab, newline and backslash as octal escapes (\040 …). */
    public static String unescape(String s) {
        if (s.indexOf('\\') < 0) {
            return s;
        }
        var b = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\\' && isOctal(s, i + 1) && isOctal(s, i + 2) && isOctal(s, i + 3)) {
                b.append((char) Integer.parseInt(s.substring(i + 1, i + 4), 8));
                i += 3;
            } else {
                b.append(c);
            }
        }
        return b.toString();
    }

    private static boolean isOctal(String s, int i) {
        return i < s.length() && s.charAt(i) >= '0' && s.charAt(i) <= '7';
    }
}
