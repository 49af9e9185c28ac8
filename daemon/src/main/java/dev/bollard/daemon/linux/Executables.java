package dev.bollard.daemon.linux;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/** Resolves a program name the way exec(3p) does: an absolute path as is, a bare name along PATH. */
public final class Executables {
    private Executables() {
    }

    public static Optional<Path> find(String nameOrPath) {
        return find(nameOrPath, System.getenv("PATH"));
    }

    public static Optional<Path> find(String nameOrPath, String searchPath) {
        if (nameOrPath.contains("/")) {
            Path p = Path.of(nameOrPath);
            return isExecutableFile(p) ? Optional.of(p) : Optional.empty();
        }
        String dirs = searchPath == null || searchPath.isEmpty() ? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" : searchPath;
        for (String dir : dirs.split(File.pathSeparator)) {
            if (dir.isEmpty()) {
                continue;
            }
            Path candidate = Path.of(dir, nameOrPath);
            if (isExecutableFile(candidate)) {
                return Optional.of(candidate);
            }
        }
        return Optional.empty();
    }

    private static boolean isExecutableFile(Path p) {
        return Files.isRegularFile(p) && Files.isExecutable(p);
    }
}
