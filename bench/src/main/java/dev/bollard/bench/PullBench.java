package dev.bollard.bench;

import dev.bollard.api.cri.v1.ImageSpec;
import dev.bollard.api.cri.v1.ImageStatusRequest;
import dev.bollard.api.cri.v1.PullImageRequest;
import dev.bollard.api.cri.v1.RemoveImageRequest;
import dev.bollard.cli.CriClient;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * The image pull workload: one generated multi-layer image in a local registry, pulled cold by each runtime in
 * turn (Bollard, containerd, Bollard, containerd, …), each pull by a daemon started for it on an empty root, so
 * nothing is cached and no garbage collection is in the way. Measured per pull: wall-clock time of the CRI
 * PullImage call, the daemon's RSS just before, its peak RSS during (VmRSS sampled every {@code --sample-ms}
 * ms, and VmHWM), its CPU time (and the registry's), and the bytes its root holds afterwards.
 */
@Command(name = "pull", mixinStandardHelpOptions = true,
        description = "Cold image pull from a local registry: Bollard and containerd alternating, fresh roots each pull.")
final class PullBench implements Callable<Integer> {

    @Mixin
    CommonOptions common;

    @Option(names = "--rounds", defaultValue = "3", description = "Pulls per runtime (default: ${DEFAULT-VALUE}).")
    int rounds;

    @Option(names = "--layers", defaultValue = "8", description = "Image layers (default: ${DEFAULT-VALUE}).")
    int layers;

    @Option(names = "--layer-mib", defaultValue = "42",
            description = "Uncompressed MiB per layer (default: ${DEFAULT-VALUE}).")
    int layerMiB;

    @Option(names = "--random-percent", defaultValue = "30",
            description = "Share of 4 KiB chunks that are random bytes; the rest is text (default: ${DEFAULT-VALUE}).")
    int randomPercent;

    @Option(names = "--seed", defaultValue = "42", description = "Content generator seed (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--sample-ms", defaultValue = "50", description = "RSS sampling interval (default: ${DEFAULT-VALUE}).")
    long sampleMs;

    @Option(names = "--settle-ms", defaultValue = "2000",
            description = "Idle time between a daemon answering and its pull (default: ${DEFAULT-VALUE}).")
    long settleMs;

    @Option(names = "--pull-timeout", defaultValue = "900",
            description = "Seconds a pull may take before it counts as failed (default: ${DEFAULT-VALUE}).")
    int pullTimeout;

    @Option(names = "--reuse-daemon",
            description = "Start each daemon once (plus one unmeasured pull) and, before every measured pull, remove "
                    + "the image and wait until its garbage collection has emptied the root: a warm daemon's pull, "
                    + "instead of the default fresh daemon and root per pull.")
    boolean reuseDaemon;

    static final String REPOSITORY = "bench/pull";

    /** The JSON written by the last run (for {@code all}). */
    Path resultFile;

    /** Daemons kept across rounds with --reuse-daemon. */
    private final Map<String, DaemonUnderTest.Running> live = new LinkedHashMap<>();

    /** One measured pull. Sizes in bytes, times in seconds. */
    record Round(String runtime, int round, boolean ok, String error, double pullSeconds, long rssBefore,
                 long peakRss, long hwm, int rssSamples, double cpuSeconds, double registryCpuSeconds,
                 long rootBytes, long reportedImageSize, Map<String, Double> cpuByThread, String logLine) {
    }

    @Override
    public Integer call() throws Exception {
        List<DaemonUnderTest> daemons = common.daemons();
        var spec = new BenchImage.Spec(layers, layerMiB, randomPercent, seed);
        long t0 = System.nanoTime();
        BenchImage.Built image = BenchImage.get(spec, common.cacheDir);
        System.out.printf("image: %d layers, %.1f MB compressed (gzip), %.1f MB uncompressed, %d files%s%n",
                layers, image.compressedBytes() / 1e6, image.uncompressedBytes() / 1e6, image.files(),
                image.fromCache() ? " (cached " + common.cacheDir.resolve(spec.key()) + ")"
                        : " (generated in %.1f s)".formatted((System.nanoTime() - t0) / 1e9));

        var all = new ArrayList<Round>();
        try (var ws = new Workspace(common.workDir, common.keep)) {
            Registry registry = Registry.start(ws);
            String tag = "v" + image.manifestDigest().substring(7, 19);
            t0 = System.nanoTime();
            registry.pushBlob(REPOSITORY, image.configDigest(), writeTemp(ws, image.config()));
            for (var l : image.layers()) {
                registry.pushBlob(REPOSITORY, l.digest(), l.file());
            }
            registry.pushManifest(REPOSITORY, tag, BenchImage.MANIFEST_TYPE, image.manifest());
            String ref = registry.host() + "/" + REPOSITORY + ":" + tag;
            System.out.printf("registry: docker-registry on http://%s, pushed %s in %.1f s%n", registry.host(), ref,
                    (System.nanoTime() - t0) / 1e9);

            Path certsD = ws.path("certs.d");
            Files.createDirectories(certsD.resolve(registry.host()));
            // The [host] table repeats the server: containerd 1.6 refuses a hosts.toml without one ("invalid `host`
            // tree", containerd#10027, fixed in 1.7/2.0) and silently falls back to its defaults.
            Files.writeString(certsD.resolve(registry.host()).resolve("hosts.toml"), """
                    server = "http://%1$s"

                    [host."http://%1$s"]
                      capabilities = ["pull", "resolve"]
                    """.formatted(registry.host()));

            for (DaemonUnderTest d : daemons) {
                d.prepare(ws, certsD);
                if (reuseDaemon) {
                    var run = d.start(ws, ws.path(d.name().toLowerCase()), certsD);
                    live.put(d.name(), run);
                    try (var client = new CriClient(run.endpoint(), pullTimeout)) {
                        long s0 = System.nanoTime();
                        client.imageLong(s -> s.pullImage(PullImageRequest.newBuilder()
                                .setImage(ImageSpec.newBuilder().setImage(ref)).build()));
                        System.out.printf("%s: started once, unmeasured first pull %.2f s%n", d.name(),
                                (System.nanoTime() - s0) / 1e9);
                    }
                }
            }
            for (int r = 1; r <= rounds; r++) {
                for (DaemonUnderTest d : daemons) {
                    Round round = measure(ws, d, r, ref, registry);
                    all.add(round);
                    System.out.println(round.ok()
                            ? "round %d %-10s pull %6.2f s  peak RSS %6.1f MB (before %5.1f MB)  CPU %6.2f s"
                            .formatted(r, d.name(), round.pullSeconds(), round.peakRss() / 1e6,
                                    round.rssBefore() / 1e6, round.cpuSeconds())
                            : "round %d %-10s FAILED: %s".formatted(r, d.name(), round.error()));
                }
            }
            for (var run : live.values()) {
                run.stop();
            }
            var report = new Report(reuseDaemon ? "pull-warm" : "pull", daemons, all);
            report.put("image", Map.of("reference", ref, "layers", layers, "layerMiB", layerMiB,
                    "randomPercent", randomPercent, "seed", seed, "compressedBytes", image.compressedBytes(),
                    "uncompressedBytes", image.uncompressedBytes(), "files", image.files(),
                    "manifestDigest", image.manifestDigest()));
            var method = new LinkedHashMap<String, Object>();
            method.put("rounds", rounds);
            method.put("order", common.runtimeNames());
            method.put("freshDaemonAndRootPerPull", !reuseDaemon);
            method.put("reusedDaemonImageRemovedAndCollectedBeforeEachPull", reuseDaemon);
            method.put("settleMillis", settleMs);
            method.put("rssSampleMillis", sampleMs);
            method.put("client", "dev.bollard.cli.CriClient (grpc-java over the unix socket), PullImage without deadline below "
                    + pullTimeout + " s");
            method.put("registry", "docker-registry (distribution) " + Workspace.run(List.of(Registry.BINARY.toString(),
                    "--version")) + " on 127.0.0.1, plain http, filesystem storage");
            report.put("method", method);
            report.print(System.out);
            resultFile = report.write(common.resultsDir);
            System.out.println("results: " + resultFile);
        }
        return all.stream().allMatch(Round::ok) ? 0 : 1;
    }

    private static Path writeTemp(Workspace ws, byte[] b) throws IOException {
        Path p = ws.path("blob-" + BenchImage.sha256(b).substring(7));
        Files.write(p, b);
        return p;
    }

    private Round measure(Workspace ws, DaemonUnderTest d, int round, String ref, Registry registry)
            throws IOException, InterruptedException {
        DaemonUnderTest.Running run = live.get(d.name());
        Path dir = run != null ? run.dir() : ws.path(d.name().toLowerCase() + "-" + round);
        if (run == null) {
            try {
                run = d.start(ws, dir, ws.path("certs.d"));
            } catch (IOException e) {
                return failed(d, round, "start: " + e.getMessage(), null);
            }
        }
        long pid = run.pid();
        try (var client = new CriClient(run.endpoint(), pullTimeout)) {
            var spec = ImageSpec.newBuilder().setImage(ref).build();
            // a fresh root holds no image; removing anyway keeps the protocol the same as for a reused daemon
            try {
                client.image(s -> s.removeImage(RemoveImageRequest.newBuilder().setImage(spec).build()));
            } catch (RuntimeException absent) {
                // an absent image may be an error for a runtime; either way it is not there
            }
            if (client.image(s -> s.imageStatus(ImageStatusRequest.newBuilder().setImage(spec).build())).hasImage()) {
                return failed(d, round, "image still present before the pull", run);
            }
            // its layers must be gone too, or the pull would find them (both runtimes collect on RemoveImage)
            long left = treeBytes(dir.resolve("root"));
            for (int i = 0; i < 300 && left > 4L << 20; i++) {
                Thread.sleep(100);
                left = treeBytes(dir.resolve("root"));
            }
            if (left > 4L << 20) {
                return failed(d, round, "after RemoveImage the root still holds %.1f MB after 30 s"
                        .formatted(left / 1e6), run);
            }
            Thread.sleep(settleMs);
            long rssBefore = Proc.rssBytes(pid);
            double cpuBefore = Proc.cpuSeconds(pid);
            double regBefore = registry.cpuSeconds();
            var threadsBefore = Proc.cpuByThreadGroup(pid);
            var sampler = new RssSampler(pid, sampleMs);
            long start = System.nanoTime();
            String error = null;
            try {
                client.imageLong(s -> s.pullImage(PullImageRequest.newBuilder().setImage(spec).build()));
            } catch (RuntimeException e) {
                error = e.getMessage();
            }
            double seconds = (System.nanoTime() - start) / 1e9;
            long peak = sampler.stop();
            var threadsAfter = Proc.cpuByThreadGroup(pid);
            double cpu = Proc.cpuSeconds(pid) - cpuBefore;
            double reg = registry.cpuSeconds() - regBefore;
            long hwm = Proc.hwmBytes(pid);
            if (error != null) {
                return failed(d, round, "PullImage: " + error, run);
            }
            var status = client.image(s -> s.imageStatus(ImageStatusRequest.newBuilder().setImage(spec).build()));
            if (!status.hasImage()) {
                return failed(d, round, "PullImage answered but ImageStatus does not know " + ref, run);
            }
            return new Round(d.name(), round, true, null, seconds, rssBefore, peak, hwm, sampler.samples(), cpu, reg,
                    treeBytes(dir.resolve("root")), status.getImage().getSize(),
                    Proc.delta(threadsBefore, threadsAfter), pullLogLine(run));
        } catch (RuntimeException e) {
            return failed(d, round, e.toString(), run);
        } finally {
            if (!live.containsKey(d.name())) {
                run.stop();
                if (!common.keep) {
                    Workspace.removeTree(dir);
                }
            }
        }
    }

    private static Round failed(DaemonUnderTest d, int round, String error, DaemonUnderTest.Running run) {
        String tail = run == null ? "" : DaemonUnderTest.tail(run.log(), 40);
        if (run != null) {
            System.err.println("---- " + d.name() + " log tail (" + run.log() + ") ----\n" + tail + "\n----");
        }
        return new Round(d.name(), round, false, error, 0, 0, 0, 0, 0, 0, 0, 0, 0, Map.of(), tail);
    }

    /** The daemon's own account of the pull, when it logs one (Bollard: "pulled image ... millis=N"). */
    private static String pullLogLine(DaemonUnderTest.Running run) {
        try {
            return Files.readAllLines(run.log()).stream()
                    .filter(l -> l.contains("pulled image") || l.contains("PullImage") && l.contains("returns image"))
                    .reduce((a, b) -> b).orElse(null);
        } catch (IOException e) {
            return null;
        }
    }

    /** Apparent size of the regular files under {@code root} (the daemon's content, snapshots and metadata). */
    static long treeBytes(Path root) throws IOException {
        long[] sum = {0};
        if (!Files.exists(root)) {
            return 0;
        }
        Files.walkFileTree(root, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) {
                if (attrs.isRegularFile()) {
                    sum[0] += attrs.size();
                }
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult visitFileFailed(Path file, IOException exc) {
                return FileVisitResult.CONTINUE;
            }
        });
        return sum[0];
    }
}
