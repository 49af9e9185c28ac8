package dev.bollard.daemon.server;

import dev.bollard.api.cri.v1.ImageServiceGrpc;
import dev.bollard.api.cri.v1.RuntimeServiceGrpc;
import dev.bollard.api.cri.v1.ContainerConfig;
import dev.bollard.api.cri.v1.PodSandboxConfig;
import dev.bollard.daemon.store.ProtoJson;
import io.netty.channel.epoll.Epoll;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Class initialisation every daemon start needs, begun on a second thread as the process starts, while the main
 * thread reads the configuration, locks the root and opens the stores: the first lookup of a service or resource
 * that misses (java.util.logging's backend search) opens every jar of the class path; Netty's epoll transport loads
 * its native library; the CRI services' method descriptors initialise the message classes they name (the CRI proto
 * file's descriptor and ~280 default instances). What only a restart with pods to recover needs (the libc downcalls
 * of {@code linux.Syscalls}, protobuf JSON's parser and the CRI proto file's full descriptor) is not done here but
 * once the stores are open and hold pod records ({@link #forRecovery}): on 2 cores, every warm-up at start delays
 * the first answer of a fresh start. A thread that
 * reaches one of them while this one is at it waits for it instead of doing it again, so nothing is done twice and
 * the main thread's path is shorter by what ran beside it (docs/BENCHMARKS.md, "Branch startup", "Branch
 * recovery").
 *
 * <p>In the order the start meets them, so that the two threads enter each chain of static initialisers at the same
 * end. Nothing here can fail the start: whatever fails is done again, and reported, where it is needed.
 */
public final class StartupWarmUp {

    private StartupWarmUp() {
    }

    /** Starts the warm-up thread; returns at once. */
    public static Thread begin() {
        return Thread.ofPlatform().daemon().name("startup-warm-up").start(StartupWarmUp::run);
    }

    static void run() {
        try {
            java.util.logging.LogManager.getLogManager();
            Epoll.isAvailable();
            RuntimeServiceGrpc.getServiceDescriptor();
            ImageServiceGrpc.getServiceDescriptor();
        } catch (RuntimeException | LinkageError e) {
            // the start meets the same failure where it needs the class, and reports it there
        }
    }

    /**
     * What a restart's recovery meets first, on a virtual thread started now, beside the wiring: the records'
     * configs parsed from protobuf JSON (the CRI proto file's full descriptor, JsonFormat's parser, and the field
     * accessors of each message type a config holds: one of each kind of record is parsed, so the nested types
     * real configs use are ready too, not only the top-level ones), and the libc downcalls recovery calls (each
     * linked at its first use otherwise, with every recovering thread waiting for it; only these: the others'
     * linking took CPU from recovery on 2 cores).
     */
    public static Thread forRecovery(Path sandboxRecords, Path containerRecords) {
        return FirstCallsWarmUp.start("recovery-warm-up", List.of(), List.of(
                () -> parseFirstConfig(sandboxRecords, PodSandboxConfig.newBuilder()),
                () -> parseFirstConfig(containerRecords, ContainerConfig.newBuilder()),
                dev.bollard.daemon.linux.Syscalls::linkContainerLogs));
    }

    /** The config of the first record in {@code dir} (an empty one when there is none), parsed and dropped. */
    private static void parseFirstConfig(Path dir, com.google.protobuf.Message.Builder builder) {
        var config = new com.google.gson.JsonObject();
        try (var files = Files.newDirectoryStream(dir, "[!.]*.json")) {
            for (Path f : files) {
                var record = com.google.gson.JsonParser.parseString(Files.readString(f)).getAsJsonObject()
                        .getAsJsonObject("record");
                if (record != null && record.get("config") instanceof com.google.gson.JsonObject c) {
                    config = c;
                }
                break;
            }
        } catch (IOException | RuntimeException e) {
            // recovery reads the records itself and reports what is wrong with them
        }
        try {
            ProtoJson.fromJson(config, builder);
        } catch (com.google.protobuf.InvalidProtocolBufferException e) {
            // a config that does not parse is recovery's to report
        }
    }
}
