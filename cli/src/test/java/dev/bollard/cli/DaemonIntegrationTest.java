package dev.bollard.cli;

import dev.bollard.api.cri.v1.CgroupDriver;
import dev.bollard.api.cri.v1.NetworkConfig;
import dev.bollard.api.cri.v1.RunPodSandboxRequest;
import dev.bollard.api.cri.v1.RuntimeCondition;
import dev.bollard.api.cri.v1.RuntimeConfig;
import dev.bollard.api.cri.v1.RuntimeConfigRequest;
import dev.bollard.api.cri.v1.RuntimeHandler;
import dev.bollard.api.cri.v1.RuntimeServiceGrpc;
import dev.bollard.api.cri.v1.StatusRequest;
import dev.bollard.api.cri.v1.UpdateRuntimeConfigRequest;
import dev.bollard.api.cri.v1.VersionRequest;
import dev.bollard.daemon.linux.Executables;
import dev.bollard.daemon.linux.Systemd;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.unix.DomainSocketAddress;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** One real daemon process, called through a generated gRPC client over its UNIX socket and through the CLI. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@LeakChecked
class DaemonIntegrationTest {

    private Path dir;
    private DaemonProcess daemon;
    private EpollEventLoopGroup group;
    private ManagedChannel channel;
    private RuntimeServiceGrpc.RuntimeServiceBlockingStub runtime;

    @BeforeAll
    void startDaemon() throws Exception {
        dir = Files.createTempDirectory("bollard-it-");
        daemon = DaemonProcess.start(dir, "--log-level", "debug");
        group = new EpollEventLoopGroup(1);
        channel = NettyChannelBuilder.forAddress(new DomainSocketAddress(daemon.socket.toString()))
                .channelType(EpollDomainSocketChannel.class).eventLoopGroup(group).usePlaintext().build();
        // A deadline per call: one set on the stub here would run out for every call 30 s after setup.
        runtime = RuntimeServiceGrpc.newBlockingStub(channel).withInterceptors(new io.grpc.ClientInterceptor() {
            @Override
            public <Q, R> io.grpc.ClientCall<Q, R> interceptCall(io.grpc.MethodDescriptor<Q, R> method,
                                                                 io.grpc.CallOptions options, io.grpc.Channel next) {
                return next.newCall(method, options.withDeadlineAfter(30, TimeUnit.SECONDS));
            }
        });
    }

    @AfterAll
    void stopDaemon() throws Exception {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        if (daemon != null) {
            daemon.close();
        }
        TestFiles.deleteTree(dir);
    }

    @Test
    void socketHasMode0660() throws Exception {
        assertEquals("rw-rw----", PosixFilePermissions.toString(Files.getPosixFilePermissions(daemon.socket)));
        try (var files = Files.list(daemon.socket.getParent())) {
            assertEquals(1, files.count(), "only the socket itself, no temporary bind name left over");
        }
    }

    @Test
    void versionNamesBollard() {
        var v = runtime.version(VersionRequest.newBuilder().setVersion("v1").build());
        assertEquals("0.1.0", v.getVersion());
        assertEquals("bollard", v.getRuntimeName());
        assertEquals("v1", v.getRuntimeApiVersion());
        assertFalse(v.getRuntimeVersion().isEmpty());
        assertNotEquals("unknown", v.getRuntimeVersion());
    }

    @Test
    void statusTellsTheTruth() {
        var s = runtime.status(StatusRequest.newBuilder().setVerbose(true).build());
        var conditions = s.getStatus().getConditionsList();
        RuntimeCondition runtimeReady = conditions.stream().filter(c -> c.getType().equals("RuntimeReady")).findFirst().orElseThrow();
        RuntimeCondition networkReady = conditions.stream().filter(c -> c.getType().equals("NetworkReady")).findFirst().orElseThrow();
        boolean runcInstalled = Executables.find("runc").isPresent() && Executables.find("containerd-shim-runc-v2").isPresent();
        assertEquals(runcInstalled, runtimeReady.getStatus(), runtimeReady.toString());
        if (!runcInstalled) {
            assertFalse(runtimeReady.getReason().isEmpty());
        }
        // The test daemon's CNI directory is empty: not ready, and the message says where it looked.
        assertFalse(networkReady.getStatus());
        assertEquals("NoNetworkConfig", networkReady.getReason());
        assertTrue(networkReady.getMessage().contains(dir.resolve("cni-conf").toString()), networkReady.getMessage());
        assertEquals(java.util.List.of("", "runc", "crun", "runsc", "vm"),
                s.getRuntimeHandlersList().stream().map(RuntimeHandler::getName).toList());
        assertTrue(s.hasFeatures());
        assertTrue(s.getInfoMap().get("config").contains("\"socket\":\"" + daemon.socket + "\""));
        assertTrue(s.getInfoMap().get("handlerChecks").contains("\"name\":\"runc\""));
        assertTrue(s.getInfoMap().containsKey("node"));
        var quiet = runtime.status(StatusRequest.getDefaultInstance());
        assertTrue(quiet.getInfoMap().isEmpty(), "info only when verbose");
    }

    @Test
    void runtimeConfigReportsTheDriverInUse() {
        var r = runtime.runtimeConfig(RuntimeConfigRequest.getDefaultInstance());
        assertEquals(Systemd.isRunning() ? CgroupDriver.SYSTEMD : CgroupDriver.CGROUPFS, r.getLinux().getCgroupDriver());
    }

    @Test
    void updateRuntimeConfigStoresThePodCidr() throws Exception {
        runtime.updateRuntimeConfig(cidr("10.244.3.0/24"));
        assertEquals("10.244.3.0/24", Files.readString(daemon.root.resolve("pod-cidr")));
        var node = runtime.status(StatusRequest.newBuilder().setVerbose(true).build()).getInfoMap().get("node");
        assertTrue(node.contains("10.244.3.0/24"), node);
        var e = assertThrows(StatusRuntimeException.class, () -> runtime.updateRuntimeConfig(cidr("10.244.3.0/99")));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
        assertTrue(e.getStatus().getDescription().contains("pod_cidr"), e.getStatus().getDescription());
        assertEquals("10.244.3.0/24", Files.readString(daemon.root.resolve("pod-cidr")), "bad input changes nothing");
    }

    private static UpdateRuntimeConfigRequest cidr(String cidr) {
        return UpdateRuntimeConfigRequest.newBuilder().setRuntimeConfig(RuntimeConfig.newBuilder()
                .setNetworkConfig(NetworkConfig.newBuilder().setPodCidr(cidr))).build();
    }

    @Test
    void unknownRpcsAreUnimplementedByName() {
        // A method the service does not know at all (every CRI RPC is built now).
        var unknown = io.grpc.MethodDescriptor.<com.google.protobuf.Empty, com.google.protobuf.Empty>newBuilder()
                .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
                .setFullMethodName("runtime.v1.RuntimeService/NoSuchRpc")
                .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(com.google.protobuf.Empty.getDefaultInstance()))
                .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(com.google.protobuf.Empty.getDefaultInstance()))
                .build();
        var e = assertThrows(StatusRuntimeException.class, () -> io.grpc.stub.ClientCalls.blockingUnaryCall(channel,
                unknown, io.grpc.CallOptions.DEFAULT.withDeadlineAfter(30, TimeUnit.SECONDS),
                com.google.protobuf.Empty.getDefaultInstance()));
        assertEquals(Status.Code.UNIMPLEMENTED, e.getStatus().getCode());
        assertTrue(e.getStatus().getDescription().contains("runtime.v1.RuntimeService/NoSuchRpc"),
                e.getStatus().getDescription());
    }

    @Test
    void podRpcsValidateTheirInput() {
        var e = assertThrows(StatusRuntimeException.class, () -> runtime.runPodSandbox(RunPodSandboxRequest.getDefaultInstance()));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
        assertTrue(e.getStatus().getDescription().contains("config"), e.getStatus().getDescription());
        assertEquals(0, runtime.listContainers(dev.bollard.api.cri.v1.ListContainersRequest.getDefaultInstance())
                .getContainersCount());
    }

    @Test
    void everyCallIsLoggedAtDebugWithLatency() throws Exception {
        runtime.version(VersionRequest.getDefaultInstance());
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        String log;
        do {
            log = daemon.logText();
        } while (!log.contains("method=runtime.v1.RuntimeService/Version") && System.nanoTime() < deadline);
        var line = log.lines().filter(l -> l.contains("method=runtime.v1.RuntimeService/Version")).findFirst().orElseThrow();
        assertTrue(line.contains("level=debug"), line);
        assertTrue(line.matches(".* latency=[0-9.]+ms.*"), line);
        assertTrue(line.contains("code=OK"), line);
    }

    @Test
    void cliVersionAndInfo() throws Exception {
        var v = DaemonProcess.run(dir, "--runtime-endpoint", daemon.endpoint(), "version");
        assertEquals(0, v.exit(), v.err());
        assertTrue(v.out().startsWith("Version:  0.1.0\nRuntimeName:  bollard\nRuntimeVersion:  "), v.out());
        assertTrue(v.out().endsWith("RuntimeApiVersion:  v1\n"), v.out());

        var json = DaemonProcess.run(dir, "-r", daemon.socket.toString(), "version", "-o", "json");
        assertEquals(0, json.exit(), json.err());
        assertTrue(json.out().contains("\"runtimeName\": \"bollard\""), json.out());

        var info = DaemonProcess.run(dir, "-r", daemon.endpoint(), "info");
        assertEquals(0, info.exit(), info.err());
        assertTrue(info.out().contains("\"type\": \"NetworkReady\""), info.out());
        assertTrue(info.out().contains("\"runtimeHandlers\""), info.out());
        assertTrue(info.out().contains("\"cgroupDriver\""), info.out());

        var yaml = DaemonProcess.run(dir, "-r", daemon.endpoint(), "info", "-o", "yaml");
        assertEquals(0, yaml.exit(), yaml.err());
        assertTrue(yaml.out().startsWith("status:\n  conditions:\n  - type: RuntimeReady\n    status: "), yaml.out());
    }

    @Test
    void cliTakesTheEndpointFromTheEnvironment() throws Exception {
        var pb = new ProcessBuilder(DaemonProcess.command("version", "-o", "yaml")).redirectErrorStream(true);
        pb.environment().put("BOLLARD_ENDPOINT", daemon.endpoint());
        var p = pb.start();
        String out = new String(p.getInputStream().readAllBytes());
        assertEquals(0, p.waitFor(), out);
        assertTrue(out.contains("runtimeName: bollard"), out);
    }

    @Test
    void cliWithoutADaemonSaysSoInOneLine() throws Exception {
        var r = DaemonProcess.run(dir, "-r", "unix://" + dir.resolve("nothing.sock"), "version");
        assertEquals(1, r.exit());
        assertEquals("bollard: cannot reach the runtime at unix://" + dir.resolve("nothing.sock") + ": "
                + dir.resolve("nothing.sock") + " does not exist (is `bollard daemon` running?)\n", r.err());
    }

    @Test
    void secondDaemonOnTheSameSocketIsRefused() throws Exception {
        var r = DaemonProcess.run(dir, "daemon", "--socket", daemon.socket.toString(),
                "--root", dir.resolve("root2").toString(), "--state", dir.resolve("state2").toString(),
                "--config", dir.resolve("none.toml").toString());
        assertEquals(1, r.exit());
        assertEquals(1, r.err().lines().count(), r.err());
        assertTrue(r.err().startsWith("bollard: socket " + daemon.socket + " is in use"), r.err());
        assertFalse(Files.exists(dir.resolve("root2")), "nothing created by the refused start");
        assertFalse(Files.exists(dir.resolve("state2")));
        assertTrue(Files.exists(daemon.socket), "the running daemon keeps its socket");
        assertEquals("bollard", runtime.version(VersionRequest.getDefaultInstance()).getRuntimeName());
    }

    @Test
    void secondDaemonOnTheSameRootIsRefused() throws Exception {
        var r = DaemonProcess.run(dir, "daemon", "--socket", dir.resolve("other/b.sock").toString(),
                "--root", daemon.root.toString(), "--state", dir.resolve("state3").toString(),
                "--config", dir.resolve("none.toml").toString());
        assertEquals(1, r.exit());
        assertTrue(r.err().startsWith("bollard: root " + daemon.root + " is in use by another bollard daemon"), r.err());
        assertFalse(Files.exists(dir.resolve("other")), "the socket directory it made is removed again");
        assertFalse(Files.exists(dir.resolve("state3")));
    }
}
