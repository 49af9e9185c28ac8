package dev.bollard.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.stream.Stream;

/**
 * What the pod benchmark sets up on the node for both runtimes, and takes down again: one CNI network of its own
 * (a bridge {@code bb<random>} and a 10.x.y.0/24 subnet nobody else on the node uses, host-local addresses under
 * the work directory), the images both runtimes run (busybox and a catatonit pause image, built with
 * {@code bin/bollard image build}), and the pods' cgroup parent {@code /bollard-bench-<random>}. {@link #cleanUp}
 * removes the bridge, the NAT rules and chains of the subnet, the network namespaces and the cgroup tree.
 */
final class PodHost {

    static final String BUSYBOX = "bollard.local/bench/busybox:1";
    static final String PAUSE = "bollard.local/bench/pause:1";
    static final Path CGROUP_ROOT = Path.of("/sys/fs/cgroup");
    static final Path NETNS_DIR = Path.of("/var/run/netns");

    final String suffix;
    final String bridge;
    final String network;
    final String subnetPrefix;
    final String cgroupParent;
    final Path confDir;
    final Path busyboxArchive;
    final Path pauseArchive;
    private final Set<Path> netnsBefore;
    /** The run's directory: shims whose command line names it are the run's. */
    private final Path dir;

    private PodHost(Path dir, String suffix, String subnetPrefix) throws IOException {
        this.dir = dir;
        this.suffix = suffix;
        this.bridge = "bb" + suffix;
        this.network = "bollard-bench-" + suffix;
        this.subnetPrefix = subnetPrefix;
        this.cgroupParent = "/bollard-bench-" + suffix;
        this.confDir = Files.createDirectories(dir.resolve("cni/conf"));
        this.busyboxArchive = dir.resolve("images/busybox.tar");
        this.pauseArchive = dir.resolve("images/pause.tar");
        this.netnsBefore = listing(NETNS_DIR);
    }

    /** Writes the network configuration and builds both image archives with {@code bollard image build}. */
    static PodHost create(Path dir, List<String> bollard) throws IOException, InterruptedException {
        var rnd = ThreadLocalRandom.current();
        String used = Workspace.run(List.of("ip", "-4", "-o", "addr")) + Workspace.run(List.of("ip", "-4", "route"));
        String prefix;
        do {
            prefix = "10." + rnd.nextInt(100, 250) + "." + rnd.nextInt(1, 250);
        } while (used.contains(prefix + "."));
        var b = new byte[3];
        rnd.nextBytes(b);
        var host = new PodHost(dir, HexFormat.of().formatHex(b), prefix);
        host.writeConflist(dir.resolve("cni/ipam"));
        host.buildImages(dir.resolve("images"), bollard);
        return host;
    }

    /** Bridge with masquerading (as Bollard's and containerd's default networks), host-local, portmap, loopback. */
    private void writeConflist(Path ipamDir) throws IOException {
        Files.createDirectories(ipamDir);
        Files.writeString(confDir.resolve("10-bench.conflist"), """
                {"cniVersion": "1.0.0", "name": "%s", "plugins": [
                  {"type": "bridge", "bridge": "%s", "isGateway": true, "ipMasq": true, "hairpinMode": true,
                   "ipam": {"type": "host-local", "dataDir": "%s", "ranges": [[{"subnet": "%s.0/24"}]],
                            "routes": [{"dst": "0.0.0.0/0"}]}},
                  {"type": "portmap", "capabilities": {"portMappings": true}},
                  {"type": "loopback"}]}
                """.formatted(network, bridge, ipamDir, subnetPrefix));
    }

    private void buildImages(Path dir, List<String> bollard) throws IOException, InterruptedException {
        Path busybox = Files.createDirectories(dir.resolve("busybox"));
        for (String d : List.of("bin", "etc", "tmp", "root", "proc", "sys", "dev")) {
            Files.createDirectories(busybox.resolve(d));
        }
        Files.copy(Path.of("/bin/busybox"), busybox.resolve("bin/busybox"));
        for (String applet : Workspace.run(List.of("/bin/busybox", "--list")).split("\n")) {
            Path link = busybox.resolve("bin").resolve(applet.strip());
            if (!applet.isBlank() && !Files.exists(link)) {
                Files.createSymbolicLink(link, Path.of("busybox"));
            }
        }
        Files.writeString(busybox.resolve("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n");
        Files.writeString(busybox.resolve("etc/group"), "root:x:0:\n");
        build(bollard, busybox, BUSYBOX, busyboxArchive, "--cmd", "/bin/sh");

        // the pause image: what Bollard's builtin sandbox image holds (catatonit in pause mode)
        Path pause = Files.createDirectories(dir.resolve("pause"));
        for (String d : List.of("dev", "proc", "sys", "etc")) {
            Files.createDirectories(pause.resolve(d));
        }
        Files.copy(Path.of("/usr/bin/catatonit"), pause.resolve("catatonit"));
        build(bollard, pause, PAUSE, pauseArchive, "--entrypoint", "/catatonit,-P", "--user", "0:0");
    }

    private static void build(List<String> bollard, Path rootfs, String ref, Path out, String... more)
            throws IOException, InterruptedException {
        var cmd = new ArrayList<>(bollard);
        cmd.addAll(List.of("image", "build", rootfs.toString(), "--name", ref, "-o", out.toString()));
        cmd.addAll(List.of(more));
        check(cmd);
    }

    /** Runs {@code cmd}; fails naming the command, its exit code and output. */
    static String check(List<String> cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        int rc = p.waitFor();
        if (rc != 0) {
            throw new IOException(String.join(" ", cmd) + " exited with " + rc + ": " + out.strip());
        }
        return out;
    }

    /** Loads both images into a running daemon (unmeasured). */
    void importInto(DaemonUnderTest d, DaemonUnderTest.Running run, List<String> bollard)
            throws IOException, InterruptedException {
        for (Path archive : List.of(busyboxArchive, pauseArchive)) {
            if (d instanceof ContainerdDaemon c) {
                check(List.of(c.ctr().toString(), "-a", run.socket().toString(), "-n", "k8s.io", "images", "import",
                        "--snapshotter", "overlayfs", archive.toString()));
            } else {
                var cmd = new ArrayList<>(bollard);
                cmd.addAll(List.of("-r", run.endpoint(), "image", "import", archive.toString()));
                check(cmd);
            }
        }
    }

    /** The cgroup (cgroupfs path) of a pod, as kubelet would pass it as the sandbox's cgroup_parent. */
    String podCgroup(String uid) {
        return cgroupParent + "/pod" + uid;
    }

    /**
     * Removes what the runtimes may leave when something failed (normally nothing is left): network namespaces
     * created under /var/run/netns since the start, the bridge, NAT rules and chains of the subnet, and the pods'
     * cgroup tree in every hierarchy. Every pod gets a cgroup_parent below {@link #cgroupParent}, so neither runtime
     * uses its default parent ({@code /k8s.io}, {@code /bollard}): those may hold other users' pods and are never
     * touched. Returns what it had to remove.
     */
    List<String> cleanUp() {
        var removed = new ArrayList<String>();
        // an interrupted run (Ctrl-C, SIGTERM) leaves shims (not our children: they outlive their daemon) and the
        // pods' processes; until they are gone the netns stay mounted and the cgroups busy
        for (long pid : Proc.find(cmd -> !cmd.isEmpty() && cmd.getFirst().contains("containerd-shim")
                && String.join(" ", cmd).contains(dir.toString()))) {
            ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
            removed.add("shim " + pid);
        }
        for (Path hierarchy : listing(CGROUP_ROOT)) {
            Path tree = hierarchy.resolve(cgroupParent.substring(1));
            if (!Files.isDirectory(tree)) {
                continue;
            }
            try (Stream<Path> procs = Files.walk(tree)) {
                for (Path f : procs.filter(f -> f.getFileName().toString().equals("cgroup.procs")).toList()) {
                    for (String pid : Files.readAllLines(f)) {
                        if (!pid.isBlank()) {
                            ProcessHandle.of(Long.parseLong(pid.strip())).ifPresent(h -> {
                                h.destroyForcibly();
                                removed.add("pod process " + h.pid());
                            });
                        }
                    }
                }
            } catch (IOException | RuntimeException e) {
                removed.add("(cannot list the processes of " + tree + ": " + e.getMessage() + ")");
            }
        }
        if (removed.stream().anyMatch(r -> r.startsWith("shim ") || r.startsWith("pod process "))) {
            try {
                Thread.sleep(500); // SIGKILL is asynchronous: let the kernel take the processes away
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        for (Path ns : listing(NETNS_DIR)) {
            if (!netnsBefore.contains(ns) && ns.getFileName().toString().startsWith("cni-")
                    && ours(ns.getFileName().toString())) {
                Workspace.run(List.of("umount", "-l", ns.toString()));
                Workspace.run(List.of("rm", "-f", ns.toString()));
                removed.add("netns " + ns);
            }
        }
        if (Files.exists(Path.of("/sys/class/net", bridge))) {
            Workspace.run(List.of("ip", "link", "del", "dev", bridge));
        }
        removed.addAll(removeNatRules());
        for (Path hierarchy : listing(CGROUP_ROOT)) {
            Path tree = hierarchy.resolve(cgroupParent.substring(1));
            if (Files.isDirectory(tree) && !removeCgroupTree(tree)) {
                removed.add("cgroup (still busy, left) " + tree);
            }
        }
        return removed;
    }

    /**
     * Whether a netns in /var/run/netns is one of this rig's pods' (containerd names them cni-<uuid>): an address of
     * our subnet inside. Other helpers' runtimes make netns there too, at the same time: never touch theirs.
     */
    boolean ours(String netnsName) {
        return Workspace.run(List.of("ip", "-n", netnsName, "-4", "-o", "addr", "show")).contains(" " + subnetPrefix + ".");
    }

    /** The bridge plugin's masquerade rules for our addresses ({@code -s 10.x.y.z/32 ... -j CNI-…}) and chains. */
    private List<String> removeNatRules() {
        var removed = new ArrayList<String>();
        String save = Workspace.run(List.of("iptables-save", "-t", "nat"));
        var chains = new HashSet<String>();
        for (String line : save.split("\n")) {
            if (line.startsWith("-A ") && (line.contains(" " + subnetPrefix + ".") || line.contains(network))) {
                var words = new ArrayList<>(List.of(line.substring(3).split(" ")));
                int j = words.indexOf("-j");
                if (j >= 0 && j + 1 < words.size() && words.get(j + 1).startsWith("CNI-")
                        && !words.get(j + 1).startsWith("CNI-HOSTPORT") && !words.get(j + 1).startsWith("CNI-DN")) {
                    chains.add(words.get(j + 1));
                }
                // the rule as iptables-save prints it, with -A turned into -D (quoted comments need a shell)
                Workspace.run(List.of("sh", "-c", "iptables -t nat -D " + line.substring(3)));
                removed.add("nat rule " + line);
            }
        }
        for (String chain : chains) {
            Workspace.run(List.of("iptables", "-t", "nat", "-F", chain));
            Workspace.run(List.of("iptables", "-t", "nat", "-X", chain));
            removed.add("nat chain " + chain);
        }
        return removed;
    }

    /** rmdir depth-first (a cgroup directory goes only once it has no children and no processes). */
    static boolean removeCgroupTree(Path tree) {
        try (Stream<Path> s = Files.walk(tree)) {
            var dirs = s.filter(Files::isDirectory).sorted((a, b) -> b.getNameCount() - a.getNameCount()).toList();
            for (Path d : dirs) {
                Files.deleteIfExists(d);
            }
            return true;
        } catch (IOException | RuntimeException e) {
            return !Files.exists(tree);
        }
    }

    private static Set<Path> listing(Path dir) {
        try (Stream<Path> s = Files.list(dir)) {
            return new HashSet<>(s.toList());
        } catch (IOException e) {
            return new HashSet<>();
        }
    }
}
