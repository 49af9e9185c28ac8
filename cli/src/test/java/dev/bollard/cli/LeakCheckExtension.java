package dev.bollard.cli;

import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The leak check of {@link LeakChecked} classes: a {@link LeftoverScan} of every test directory a daemon of this JVM ran
 * on and every ID its logs name, before the class and after it (after its {@code @AfterAll}, which closes its
 * node); what the second has and the first had not is what the class leaked, and the class fails listing it. The
 * baseline keeps an earlier class's leak (already reported there) from failing this one. Surefire runs the classes
 * one after another in one JVM (no forkCount or parallel configured), so nothing of another class runs meanwhile;
 * pods of other JVMs on the machine are never attributed to a class, as only our directories and IDs are looked for.
 */
final class LeakCheckExtension implements BeforeAllCallback, AfterAllCallback {

    /** How long leftovers may take to go (a shim reaped by init, a lazily detached mount) before they count. */
    private static final long SETTLE_MILLIS = 5_000;

    /** Every directory a test daemon was started on, in this JVM. */
    private static final Set<Path> DIRS = ConcurrentHashMap.newKeySet();
    /** Every ID the logs of those daemons named. */
    private static final Set<String> IDS = ConcurrentHashMap.newKeySet();
    /** A directory's CNI files when its last daemon closed: the directory is usually deleted right after. */
    private static final Map<Path, Set<String>> AT_CLOSE = new ConcurrentHashMap<>();

    private static final ExtensionContext.Namespace NS = ExtensionContext.Namespace.create(LeakCheckExtension.class);

    /** A daemon is about to run on {@code dir} (root, state, socket and logs under it). */
    static void track(Path dir) {
        DIRS.add(dir.toAbsolutePath());
    }

    /**
     * A daemon on {@code dir} is closing: the IDs its logs name are remembered, and what it leaves of CNI there (its
     * pods should all be gone by now), as the directory is deleted next.
     */
    static void daemonClosed(Path dir) {
        IDS.addAll(LeftoverScan.loggedIds(dir));
        AT_CLOSE.put(dir.toAbsolutePath(), LeftoverScan.scan(List.of(dir), List.of()).stream()
                .filter(s -> s.startsWith("CNI ") || s.startsWith("IP ")).collect(java.util.stream.Collectors
                        .toCollection(TreeSet::new)));
    }

    /** What is on the node now of every tracked directory and ID. */
    static Set<String> snapshot() {
        for (Path dir : DIRS) {
            if (Files.isDirectory(dir)) {
                IDS.addAll(LeftoverScan.loggedIds(dir));
            }
        }
        var found = new TreeSet<>(LeftoverScan.scan(Set.copyOf(DIRS), Set.copyOf(IDS)));
        AT_CLOSE.forEach((dir, files) -> {
            if (!Files.isDirectory(dir)) {
                files.forEach(f -> found.add(f + " (when its daemon closed)"));
            }
        });
        return found;
    }

    /** What {@code after} has that {@code before} had not. */
    static Set<String> leaked(Set<String> before, Set<String> after) {
        var leaked = new LinkedHashSet<>(after);
        leaked.removeAll(before);
        return leaked;
    }

    /** The failure of a class that leaked, listing what. */
    static AssertionError failure(String testClass, Set<String> leaked) {
        var b = new StringBuilder(testClass).append(" left ").append(leaked.size()).append(" thing(s) behind:");
        leaked.forEach(l -> b.append("\n  ").append(l));
        return new AssertionError(b.toString());
    }

    @Override
    public void beforeAll(ExtensionContext context) {
        context.getStore(NS).put("before", snapshot());
    }

    @Override
    @SuppressWarnings("unchecked")
    public void afterAll(ExtensionContext context) throws Exception {
        Set<String> before = context.getStore(NS).get("before", Set.class);
        long deadline = System.currentTimeMillis() + SETTLE_MILLIS;
        Set<String> leaked = leaked(before, snapshot());
        while (!leaked.isEmpty() && System.currentTimeMillis() < deadline) {
            Thread.sleep(200);
            leaked = leaked(before, snapshot());
        }
        if (!leaked.isEmpty()) {
            throw failure(context.getRequiredTestClass().getSimpleName(), leaked);
        }
    }
}
