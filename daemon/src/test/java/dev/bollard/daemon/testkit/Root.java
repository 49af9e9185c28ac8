package dev.bollard.daemon.testkit;

import org.junit.jupiter.api.Assumptions;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Tests of real pods, mounts and namespaces need root: where it is absent they are skipped, saying why. */
public final class Root {

    private Root() {
    }

    /** Whether this process runs with effective uid 0 (from /proc/self/status). */
    public static boolean isRoot() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("Uid:")) {
                    return line.split("\\s+")[2].equals("0");
                }
            }
        } catch (IOException e) {
            return false;
        }
        return false;
    }

    /** Skips the calling test (or class, from a BeforeAll) unless running as root. */
    public static void assume(String what) {
        Assumptions.assumeTrue(isRoot(), "needs root (" + what + "); skipped as uid " + uid());
    }

    private static String uid() {
        try {
            return Files.readAllLines(Path.of("/proc/self/status")).stream().filter(l -> l.startsWith("Uid:"))
                    .map(l -> l.split("\\s+")[2]).findFirst().orElse("?");
        } catch (IOException e) {
            return "?";
        }
    }
}
