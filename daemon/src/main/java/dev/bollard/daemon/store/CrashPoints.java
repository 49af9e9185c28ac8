package dev.bollard.daemon.store;

import java.util.List;

/**
 * Named points inside the state-changing RPCs where a test can make the daemon die as a SIGKILL would: with
 * {@code -Dbollard.crashpoint=NAME} the daemon halts ({@link Runtime#halt}: no shutdown hook, no flush, no
 * unlock) the moment it reaches that point. With {@code -Dbollard.crashpoint=@FILE} the point is the one FILE
 * names when a point is reached (empty or missing: none), so a test arms one call of a daemon it set up with
 * others, and the daemon it restarts needs no other command line. Without the property {@link #hit} is one
 * string check; it is meant for tests only and no configuration key sets it.
 */
public final class CrashPoints {

    public static final String PROPERTY = "bollard.crashpoint";
    /** The exit status of a halt at a crash point: what a SIGKILL gives (128 + 9). */
    public static final int EXIT_STATUS = 137;

    /** Every crash point, by the RPC it lies in, in the order the RPC passes them. */
    public static final List<String> ALL = List.of(
            "RunPodSandbox.afterRecord", "RunPodSandbox.afterNetns", "RunPodSandbox.afterCniAdd",
            "RunPodSandbox.afterShm", "RunPodSandbox.afterShimStart", "RunPodSandbox.afterTaskCreate",
            "RunPodSandbox.afterTaskStart", "RunPodSandbox.afterReady",
            "CreateContainer.afterBundle", "CreateContainer.afterRecord",
            "StartContainer.afterFifos", "StartContainer.afterTaskCreate", "StartContainer.afterTaskStart",
            "StartContainer.afterRecord",
            "StopContainer.afterSignal", "ContainerExit.afterRecord",
            "RemoveContainer.afterTaskDelete", "RemoveContainer.afterDirs",
            "StopPodSandbox.afterContainers", "StopPodSandbox.afterShimShutdown", "StopPodSandbox.afterNetworkDown",
            "StopPodSandbox.afterRecord",
            "RemovePodSandbox.afterContainers", "RemovePodSandbox.afterDirs", "RemovePodSandbox.afterCgroup",
            "PullImage.afterManifest", "PullImage.afterLayers", "PullImage.afterRecord",
            "RemoveImage.afterRecord");

    private static final String ARMED = System.getProperty(PROPERTY, "");

    private CrashPoints() {
    }

    /** Halts the daemon if {@code name} is the armed crash point. */
    public static void hit(String name) {
        if (ARMED.isEmpty() || !name.equals(ARMED.startsWith("@") ? named(ARMED.substring(1)) : ARMED)) {
            return;
        }
        // Said on stderr directly: the logger may buffer, and the test reads this line to know where it died.
        System.err.println("bollard: crash point " + name + " reached; halting");
        System.err.flush();
        Runtime.getRuntime().halt(EXIT_STATUS);
    }

    private static String named(String file) {
        try {
            return java.nio.file.Files.readString(java.nio.file.Path.of(file)).strip();
        } catch (java.io.IOException e) {
            return "";
        }
    }

    /** The armed crash point (or @FILE), or "" (for the start-up log: a daemon with one armed should be obvious). */
    public static String armed() {
        return ARMED;
    }
}
