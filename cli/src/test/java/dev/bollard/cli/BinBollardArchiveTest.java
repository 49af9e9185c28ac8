package dev.bollard.cli;

import dev.bollard.daemon.store.FileTrees;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * bin/bollard's choice of archive: the daemon starts from the AOT cache trained at build time only while it is
 * newer than the jar and libjvm (the JVM would refuse a cache of another build or JDK and start from nothing),
 * else from the CDS archive. Runs the script on a copy of its checkout layout with a fake Java that prints its
 * arguments.
 */
class BinBollardArchiveTest {

    private static final Instant BUILT = Instant.parse("2026-01-01T00:00:00Z");
    private Path dir;
    private Path javaHome;

    @BeforeEach
    void layout() throws Exception {
        dir = Files.createTempDirectory("bollard-bin-test-");
        Files.createDirectories(dir.resolve("bin"));
        Files.copy(Path.of("../bin/bollard"), dir.resolve("bin/bollard"));
        touch(Files.createDirectories(dir.resolve("cli/target")).resolve("bollard.jar"), BUILT);
        javaHome = dir.resolve("jdk");
        Files.createDirectories(javaHome.resolve("lib/server"));
        touch(javaHome.resolve("lib/server/libjvm.so"), BUILT);
        Path java = Files.createDirectories(javaHome.resolve("bin")).resolve("java");
        Files.writeString(java, "#!/bin/sh\nfor a in \"$@\"; do echo \"$a\"; done\n");
        Files.setPosixFilePermissions(java, PosixFilePermissions.fromString("rwxr-xr-x"));
    }

    @AfterEach
    void remove() throws Exception {
        FileTrees.deleteTree(dir);
    }

    @Test
    void theDaemonStartsFromAFreshAotCache() throws Exception {
        Path cache = touch(dir.resolve("cli/target/bollard-daemon.aot"), BUILT.plusSeconds(60));
        var args = run(Map.of(), "daemon");
        assertTrue(args.contains("-XX:AOTCache=" + cache), args.toString());
        assertFalse(args.stream().anyMatch(a -> a.startsWith("-XX:SharedArchiveFile")), args.toString());
    }

    @Test
    void onlyTheDaemonRunAsRootStartsWithItsCompilerThreadsAtNiceNineteen() throws Exception {
        boolean root = "root".equals(System.getProperty("user.name"));
        var daemon = run(Map.of(), "daemon");
        assertEquals(root, daemon.contains("-XX:ThreadPriorityPolicy=1"), daemon.toString());
        assertEquals(root, daemon.contains("-XX:CompilerThreadPriority=19"), daemon.toString());
        var client = run(Map.of(), "version");
        assertFalse(client.stream().anyMatch(a -> a.startsWith("-XX:ThreadPriorityPolicy")
                || a.startsWith("-XX:CompilerThreadPriority")), client.toString());
    }

    @Test
    void aCopyOfTheBuildKeepsItsCache() throws Exception {
        // the bench copies the build: new directories, the files' times kept; a lib directory an older build
        // left (the jar holds its libraries now) is no part of it
        Path cache = touch(dir.resolve("cli/target/bollard-daemon.aot"), BUILT.plusSeconds(60));
        touch(dir.resolve("cli/target"), BUILT.plusSeconds(120));
        touch(Files.createDirectories(dir.resolve("cli/target/lib")).resolve("old.jar"), BUILT.plusSeconds(120));
        assertTrue(run(Map.of(), "daemon").contains("-XX:AOTCache=" + cache));
    }

    @Test
    void aCacheOlderThanTheJarOrTheJvmFallsBackToCds() throws Exception {
        touch(dir.resolve("cli/target/bollard-daemon.aot"), BUILT.plusSeconds(60));
        touch(dir.resolve("cli/target/bollard.jar"), BUILT.plusSeconds(120)); // a build after the training
        assertCds(run(Map.of(), "daemon"));

        touch(dir.resolve("cli/target/bollard.jar"), BUILT);
        touch(javaHome.resolve("lib/server/libjvm.so"), BUILT.plusSeconds(120)); // a JDK update
        assertCds(run(Map.of(), "daemon"));
    }

    @Test
    void withoutACacheOrForTheClientOrWhenToldCds() throws Exception {
        assertCds(run(Map.of(), "daemon"));
        touch(dir.resolve("cli/target/bollard-daemon.aot"), BUILT.plusSeconds(60));
        assertCds(run(Map.of(), "version"));
        assertCds(run(Map.of("BOLLARD_ARCHIVE", "cds"), "daemon"));
    }

    @Test
    void trainingWritesTheCacheWhereItIsTold() throws Exception {
        var args = run(Map.of("BOLLARD_ARCHIVE", "train", "BOLLARD_AOT_OUTPUT", "/tmp/x.aot"), "daemon");
        assertTrue(args.contains("-XX:AOTCacheOutput=/tmp/x.aot"), args.toString());
        assertFalse(args.stream().anyMatch(a -> a.startsWith("-XX:SharedArchiveFile")), args.toString());
    }

    private static void assertCds(List<String> args) {
        assertTrue(args.stream().anyMatch(a -> a.startsWith("-XX:SharedArchiveFile=")), args.toString());
        assertFalse(args.stream().anyMatch(a -> a.startsWith("-XX:AOTCache")), args.toString());
    }

    private List<String> run(Map<String, String> env, String... args) throws Exception {
        var cmd = new java.util.ArrayList<>(List.of(dir.resolve("bin/bollard").toString()));
        cmd.addAll(List.of(args));
        var pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().remove("BOLLARD_ARCHIVE");
        pb.environment().remove("BOLLARD_JAVA_OPTS");
        pb.environment().put("BOLLARD_JAVA_HOME", javaHome.toString());
        pb.environment().putAll(env);
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(30, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), out);
        return out.lines().toList();
    }

    private static Path touch(Path file, Instant time) throws Exception {
        if (!Files.exists(file)) {
            Files.createFile(file);
        }
        Files.setLastModifiedTime(file, FileTime.from(time));
        return file;
    }
}
