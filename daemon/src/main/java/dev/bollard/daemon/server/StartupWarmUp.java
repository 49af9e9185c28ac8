package dev.bollard.daemon.server;

import dev.bollard.api.cri.v1.ImageServiceGrpc;
import dev.bollard.api.cri.v1.RuntimeServiceGrpc;
import dev.bollard.api.cri.v1.ContainerConfig;
import dev.bollard.api.cri.v1.PodSandboxConfig;
import dev.bollard.daemon.store.ProtoJson;
import io.netty.channel.epoll.Epoll;

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
     * What a restart's recovery meets first, on a virtual thread started now, beside the wiring: the libc downcalls
     * it calls (each linked at its first use otherwise, with every recovering thread waiting for it; only these: the
     * others' linking took CPU from recovery on 2 cores), and the records' configs
     * parsed from protobuf JSON (the CRI proto file's full descriptor, which the services' marshallers do not build,
     * and JsonFormat's parser).
     */
    public static Thread forRecovery() {
        return FirstCallsWarmUp.start("recovery-warm-up", List.of(),
                List.of(StartupWarmUp::parseEmptyConfigs, dev.bollard.daemon.linux.Syscalls::linkContainerLogs));
    }

    private static void parseEmptyConfigs() {
        try {
            ProtoJson.fromJson(new com.google.gson.JsonObject(), PodSandboxConfig.newBuilder());
            ProtoJson.fromJson(new com.google.gson.JsonObject(), ContainerConfig.newBuilder());
        } catch (com.google.protobuf.InvalidProtocolBufferException e) {
            throw new IllegalStateException(e); // not reachable: the JSON is empty
        }
    }
}
