package dev.bollard.vm;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.protobuf.Timestamp;
import dev.bollard.api.containerd.task.v2.DeleteResponse;
import dev.bollard.daemon.linux.MountInfo;
import dev.bollard.daemon.linux.Syscalls;
import dev.bollard.daemon.log.Log;
import dev.bollard.daemon.shim.ttrpc.TtrpcServer;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * {@code containerd-shim-bollard-vm-v2}: a containerd shim v2 whose pods run in qemu VMs. Invoked as containerd
 * and Bollard invoke shims, with the bundle as working directory and {@code TTRPC_ADDRESS} in the environment:
 * <ul>
 *   <li>{@code -namespace N -address A -publish-binary B -id ID start}: starts (or finds) the pod's shim daemon and
 *       prints its ttrpc address; every container of a pod names the pod in its config's
 *       {@code io.kubernetes.cri.sandbox-id} annotation and so lands in the same shim (and VM);</li>
 *   <li>{@code … -id ID [-bundle DIR] delete}: cleans up after a shim that died (unmounts, kills its qemu and
 *       virtiofsd) and prints a marshalled DeleteResponse;</li>
 *   <li>without an action: the daemon itself, serving the Task API until Shutdown.</li>
 * </ul>
 */
public final class Main {

    /** Initialized on first use, after the daemon has chosen where stderr goes ({@link #logToFifo}). */
    private static final class Logger {
        static final Log LOG = Log.get("vm-shim");
    }
    static final String SANDBOX_ID_ANNOTATION = "io.kubernetes.cri.sandbox-id";
    static final String JVM_FLAGS_PROPERTY = "bollard.vm.jvmFlags";

    private Main() {
    }

    /** The command line as Go's flag package reads it: {@code -name value}, {@code -name=value}, {@code -bool}. */
    record Args(String namespace, String address, String publishBinary, String id, String bundle, boolean debug,
                String action) {

        static Args parse(String[] argv) {
            String namespace = "", address = "", publish = "", id = "", bundle = "", action = "";
            boolean debug = false;
            for (int i = 0; i < argv.length; i++) {
                String a = argv[i];
                if (!a.startsWith("-")) {
                    action = a;
                    continue;
                }
                String name = a.replaceFirst("^--?", "");
                String value = null;
                int eq = name.indexOf('=');
                if (eq >= 0) {
                    value = name.substring(eq + 1);
                    name = name.substring(0, eq);
                }
                if (name.equals("debug") || name.equals("v")) {
                    debug = value == null || Boolean.parseBoolean(value);
                    continue;
                }
                if (value == null) {
                    if (i + 1 >= argv.length) {
                        throw new IllegalArgumentException("flag -" + name + " needs a value");
                    }
                    value = argv[++i];
                }
                switch (name) {
                    case "namespace" -> namespace = value;
                    case "address" -> address = value;
                    case "publish-binary" -> publish = value;
                    case "id" -> id = value;
                    case "bundle" -> bundle = value;
                    default -> { } // other flags of newer containerds (e.g. -socket) do not matter here
                }
            }
            return new Args(namespace, address, publish, id, bundle, debug, action);
        }

        /** The daemon's command line: the same flags, no action. */
        List<String> daemonArgs() {
            var out = new ArrayList<>(List.of("-namespace", namespace, "-address", address, "-publish-binary",
                    publishBinary, "-id", id));
            if (debug) {
                out.add("-debug");
            }
            return out;
        }
    }

    public static void main(String[] argv) {
        int code;
        try {
            Args args = Args.parse(argv);
            if (args.namespace().isEmpty() || args.id().isEmpty()) {
                throw new IllegalArgumentException("-namespace and -id are required");
            }
            VmConfig config = VmConfig.fromEnvironment(System.getenv());
            Path cwd = Path.of("").toAbsolutePath();
            code = switch (args.action()) {
                case "start" -> start(args, config, cwd);
                case "delete" -> delete(args, config, cwd);
                case "" -> serve(args, config, cwd);
                default -> throw new IllegalArgumentException("unknown action " + args.action()
                        + " (start, delete, or none for the daemon)");
            };
        } catch (IllegalArgumentException e) {
            System.err.println("containerd-shim-bollard-vm-v2: " + e.getMessage());
            code = 2;
        } catch (Exception e) {
            System.err.println("containerd-shim-bollard-vm-v2: " + e.getMessage());
            code = 1;
        }
        System.out.flush();
        System.exit(code);
    }

    /** The pod this bundle's container belongs to (its sandbox id annotation), or the container itself. */
    static String groupId(Path bundle, String id) {
        try {
            JsonObject spec = JsonParser.parseString(Files.readString(bundle.resolve("config.json"))).getAsJsonObject();
            if (spec.has("annotations")) {
                JsonObject annotations = spec.getAsJsonObject("annotations");
                if (annotations.has(SANDBOX_ID_ANNOTATION)) {
                    return annotations.get(SANDBOX_ID_ANNOTATION).getAsString();
                }
            }
        } catch (IOException | RuntimeException e) {
            // no readable config: the container is its own group
        }
        return id;
    }

    /** The pod's state directory: {@code <root>/<sha256(address/namespace/group)>} cut to 32 hex digits. */
    static Path stateDir(VmConfig config, Args args, String group) {
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256").digest(
                    (args.address() + "/" + args.namespace() + "/" + group).getBytes(StandardCharsets.UTF_8));
            return config.stateRoot().resolve(HexFormat.of().formatHex(digest).substring(0, 32));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static int start(Args args, VmConfig config, Path bundle) throws IOException, InterruptedException {
        String group = groupId(bundle, args.id());
        Path state = stateDir(config, args, group);
        Path socket = state.resolve("shim.sock");
        String address = "unix://" + socket;
        if (answers(socket)) {
            Files.writeString(bundle.resolve("address"), address);
            System.out.print(address);
            return 0;
        }
        Files.createDirectories(state);
        Files.deleteIfExists(socket);
        var command = new ArrayList<String>();
        command.add("setsid");
        command.add(ProcessHandle.current().info().command().orElse("java"));
        String flags = System.getProperty(JVM_FLAGS_PROPERTY, "");
        if (!flags.isBlank()) {
            command.addAll(List.of(flags.strip().split("\\s+")));
            command.add("-D" + JVM_FLAGS_PROPERTY + "=" + flags.strip());
        }
        command.addAll(List.of("-cp", System.getProperty("java.class.path"), Main.class.getName()));
        command.addAll(args.daemonArgs());
        // The daemon's stderr starts in a file; the daemon moves its log to the bundle's log FIFO (serve).
        Path bootLog = state.resolve("shim.log");
        Process daemon = new ProcessBuilder(command).directory(bundle.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .redirectError(ProcessBuilder.Redirect.appendTo(bootLog.toFile()))
                .start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (!answers(socket)) {
            if (!daemon.isAlive()) {
                String log = Files.readString(bootLog).strip();
                Files.deleteIfExists(bootLog);
                deleteIfEmpty(state);
                throw new IOException("the shim daemon exited with " + daemon.exitValue() + ": " + log);
            }
            if (System.nanoTime() > deadline) {
                daemon.destroyForcibly();
                throw new IOException("the shim daemon did not serve " + socket + " within 20s");
            }
            Thread.sleep(20);
        }
        Files.writeString(bundle.resolve("address"), address);
        System.out.print(address);
        return 0;
    }

    private static boolean answers(Path socket) {
        if (!Files.exists(socket)) {
            return false;
        }
        try (SocketChannel channel = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            channel.connect(UnixDomainSocketAddress.of(socket));
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    /**
     * After the shim died: unmount the container's rootfs, and for the pod's own (sandbox) container kill the VM and
     * remove the pod's state. Prints the DeleteResponse (SIGKILL's status) as the runc shim does.
     */
    private static int delete(Args args, VmConfig config, Path cwd) throws IOException {
        Path bundle = args.bundle().isEmpty() ? cwd : Path.of(args.bundle());
        String group = groupId(bundle, args.id());
        Path state = stateDir(config, args, group);
        Path share = Vm.shareDir(state).resolve(args.id());
        TaskService.deleteTree(share);
        Path rootfs = bundle.resolve("rootfs");
        if (MountInfo.mountPointsBelow(rootfs).contains(rootfs)) {
            Syscalls.umount2(rootfs, Syscalls.MNT_DETACH);
        }
        if (group.equals(args.id()) && Files.isDirectory(state) && !answers(state.resolve("shim.sock"))) {
            Vm.killByPidFiles(state);
            TaskService.deleteTree(state);
        }
        Instant now = Instant.now();
        DeleteResponse response = DeleteResponse.newBuilder().setExitStatus(128 + 9)
                .setExitedAt(Timestamp.newBuilder().setSeconds(now.getEpochSecond()).setNanos(now.getNano())).build();
        System.out.write(response.toByteArray());
        return 0;
    }

    private static int serve(Args args, VmConfig config, Path bundle) throws IOException, InterruptedException {
        String group = groupId(bundle, args.id());
        Path state = stateDir(config, args, group);
        Files.createDirectories(state);
        logToFifo(bundle.resolve("log"));
        var events = new EventPublisher(args.namespace(), System.getenv("TTRPC_ADDRESS"));
        var done = new CountDownLatch(1);
        var tasks = new TaskService(config, state, events, done::countDown);
        TtrpcServer server = TtrpcServer.start(state.resolve("shim.sock"), tasks.services());
        try {
            tasks.servePortForwards(state.resolve(GuestPortForwards.SOCKET));
        } catch (IOException e) {
            // e.g. a state root so long the socket path does not fit: the pod runs, port-forward fails
            Logger.LOG.warn("no port-forward socket", "error", e.getMessage());
        }
        Runtime.getRuntime().addShutdownHook(new Thread(done::countDown));
        Logger.LOG.info("shim serving", "socket", server.socket(), "pod", group, "namespace", args.namespace());
        done.await();
        Logger.LOG.info("shim exiting", "pod", group);
        server.close();
        tasks.close();
        events.close();
        Files.deleteIfExists(state.resolve("shim.log"));
        deleteIfEmpty(state);
        return 0;
    }

    /**
     * Moves the log to the bundle's {@code log} FIFO, which containerd and Bollard read (as the runc shim logs there).
     * Opening a FIFO for writing blocks until it has a reader, so that happens on a thread of its own, for a
     * bounded time; without a reader the log stays in the state directory's {@code shim.log}. (Probing with a
     * non-blocking open would not do: closing the probe is an EOF for the reader.) Runs before anything logs, since
     * the logger keeps the {@code System.err} it first saw.
     */
    private static void logToFifo(Path fifo) {
        if (!Files.exists(fifo)) {
            return;
        }
        var opened = new java.util.concurrent.CompletableFuture<java.io.FileOutputStream>();
        Thread.ofPlatform().daemon().name("vm-shim-log").start(() -> {
            try {
                opened.complete(new java.io.FileOutputStream(fifo.toFile()));
            } catch (IOException e) {
                opened.completeExceptionally(e);
            }
        });
        try {
            System.setErr(new java.io.PrintStream(opened.get(2, TimeUnit.SECONDS), true, StandardCharsets.UTF_8));
        } catch (Exception e) {
            // no reader: keep logging to shim.log
        }
    }

    private static void deleteIfEmpty(Path dir) {
        try {
            Files.deleteIfExists(dir);
        } catch (IOException e) {
            // not empty: something is still there, leave it
        }
    }
}
