package dev.bollard.daemon.nri;

import dev.bollard.api.nri.v1alpha1.ConfigureRequest;
import dev.bollard.api.nri.v1alpha1.ConfigureResponse;
import dev.bollard.api.nri.v1alpha1.ContainerAdjustment;
import dev.bollard.api.nri.v1alpha1.CreateContainerRequest;
import dev.bollard.api.nri.v1alpha1.CreateContainerResponse;
import dev.bollard.api.nri.v1alpha1.Empty;
import dev.bollard.api.nri.v1alpha1.RegisterPluginRequest;
import dev.bollard.api.nri.v1alpha1.StateChangeEvent;
import dev.bollard.api.nri.v1alpha1.StopContainerRequest;
import dev.bollard.api.nri.v1alpha1.StopContainerResponse;
import dev.bollard.api.nri.v1alpha1.SynchronizeRequest;
import dev.bollard.api.nri.v1alpha1.SynchronizeResponse;
import dev.bollard.daemon.shim.ttrpc.TtrpcHandler;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;

/**
 * An NRI plugin of our own for tests, speaking the protocol from the plugin's side over the same mux code: it
 * serves the Plugin service on mux connection 1 and calls the runtime's RegisterPlugin on connection 2. It records
 * what it is told and answers CreateContainer with a given adjustment, or never (a hanging plugin).
 */
public final class TestNriPlugin implements AutoCloseable {

    private static final String PLUGIN = "nri.pkg.api.v1alpha1.Plugin/";

    public final CompletableFuture<ConfigureRequest> configured = new CompletableFuture<>();
    public final CompletableFuture<SynchronizeRequest> synchronized_ = new CompletableFuture<>();
    public final List<CreateContainerRequest> creates = new CopyOnWriteArrayList<>();
    public final List<StateChangeEvent> stateChanges = new CopyOnWriteArrayList<>();
    public final List<StopContainerRequest> stops = new CopyOnWriteArrayList<>();
    private final NriConnection connection;
    private final CountDownLatch never = new CountDownLatch(1);

    /**
     * @param events     the subscription mask (0: all)
     * @param adjustment CreateContainer's answer; null: the call never returns (a hanging plugin)
     */
    public TestNriPlugin(Path socket, String name, String index, int events, ContainerAdjustment adjustment)
            throws IOException, InterruptedException {
        var channel = SocketChannel.open(StandardProtocolFamily.UNIX);
        channel.connect(UnixDomainSocketAddress.of(socket));
        var trunk = NriConnection.Trunk.of(channel);
        Map<String, TtrpcHandler> methods = Map.of(
                PLUGIN + "Configure", TtrpcHandler.of(ConfigureRequest.parser(), r -> {
                    configured.complete(r);
                    return ConfigureResponse.newBuilder().setEvents(events).build();
                }),
                PLUGIN + "Synchronize", TtrpcHandler.of(SynchronizeRequest.parser(), r -> {
                    synchronized_.complete(r);
                    return SynchronizeResponse.getDefaultInstance();
                }),
                PLUGIN + "CreateContainer", TtrpcHandler.of(CreateContainerRequest.parser(), r -> {
                    creates.add(r);
                    if (adjustment == null) {
                        try {
                            never.await();
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                        }
                    }
                    return CreateContainerResponse.newBuilder()
                            .setAdjust(adjustment == null ? ContainerAdjustment.getDefaultInstance() : adjustment).build();
                }),
                PLUGIN + "StopContainer", TtrpcHandler.of(StopContainerRequest.parser(), r -> {
                    stops.add(r);
                    return StopContainerResponse.getDefaultInstance();
                }),
                PLUGIN + "StateChange", TtrpcHandler.of(StateChangeEvent.parser(), r -> {
                    stateChanges.add(r);
                    return Empty.getDefaultInstance();
                }),
                PLUGIN + "Shutdown", TtrpcHandler.of(Empty.parser(), r -> Empty.getDefaultInstance()));
        connection = new NriConnection(trunk, NriConnection.RUNTIME_SERVICE_CONN, NriConnection.PLUGIN_SERVICE_CONN,
                methods, "test-plugin-" + name).start();
        try {
            connection.call("nri.pkg.api.v1alpha1.Runtime", "RegisterPlugin", RegisterPluginRequest.newBuilder()
                    .setPluginName(name).setPluginIdx(index).build(), Empty.parser(), Duration.ofSeconds(10));
        } catch (dev.bollard.daemon.shim.ttrpc.TtrpcException e) {
            connection.close();
            throw new IOException("registration failed: " + e.getMessage(), e);
        }
    }

    /** The runtime's UpdateContainers, asked unsolicited. */
    public dev.bollard.api.nri.v1alpha1.UpdateContainersResponse updateContainers(
            dev.bollard.api.nri.v1alpha1.UpdateContainersRequest request) throws Exception {
        return connection.call("nri.pkg.api.v1alpha1.Runtime", "UpdateContainers", request,
                dev.bollard.api.nri.v1alpha1.UpdateContainersResponse.parser(), Duration.ofSeconds(10));
    }

    public boolean isOpen() {
        return connection.isOpen();
    }

    public CompletableFuture<Void> closedFuture() {
        return connection.closedFuture();
    }

    @Override
    public void close() {
        never.countDown();
        connection.close();
    }
}
