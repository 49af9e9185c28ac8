package dev.bollard.daemon.nri;

import com.google.protobuf.MessageLite;
import com.google.protobuf.Parser;
import dev.bollard.api.nri.v1alpha1.Event;
import dev.bollard.daemon.linux.SocketPairSpawn;
import dev.bollard.daemon.shim.ttrpc.TtrpcException;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * One plugin: its connection, the name and index it registered with, the events it subscribed to, and, for a
 * pre-installed plugin, its process. Notifications go out one at a time in order on a queue of its own, so a slow
 * plugin delays only itself.
 */
final class NriPlugin {

    static final String PLUGIN_SERVICE = "nri.pkg.api.v1alpha1.Plugin";

    /** Every event a plugin can subscribe to (bits 0..13); 0 in ConfigureResponse means all of them. */
    static final int VALID_EVENTS = (1 << (Event.LAST_VALUE - 1)) - 1;

    private final NriConnection connection;
    private final SocketPairSpawn process;
    private final CompletableFuture<Void> registered = new CompletableFuture<>();
    private final ExecutorService notifications = Executors.newSingleThreadExecutor(
            Thread.ofVirtual().name("nri-notify").factory());
    private volatile String name;
    private volatile String index;
    private volatile int events;
    private volatile Duration requestTimeout;
    private final CompletableFuture<Void> synchronizedDone = new CompletableFuture<>();

    NriPlugin(NriConnection connection, SocketPairSpawn process, String name, String index, Duration requestTimeout) {
        this.connection = connection;
        this.process = process;
        this.name = name;
        this.index = index;
        this.requestTimeout = requestTimeout;
    }

    NriConnection connection() {
        return connection;
    }

    CompletableFuture<Void> registered() {
        return registered;
    }

    /** RegisterPlugin: an external plugin names itself here; a pre-installed one keeps the name of its file. */
    void register(String pluginName, String pluginIndex) {
        if (process == null) {
            name = pluginName;
            index = pluginIndex;
        }
        registered.complete(null);
    }

    String name() {
        return index + "-" + name;
    }

    String index() {
        return index;
    }

    boolean external() {
        return process == null;
    }

    void subscribe(int mask) {
        events = mask == 0 ? VALID_EVENTS : mask;
    }

    int events() {
        return events;
    }

    boolean subscribed(Event event) {
        return (events & (1 << (event.getNumber() - 1))) != 0;
    }

    <T> T call(String method, MessageLite request, Parser<T> parser) throws TtrpcException, InterruptedException {
        return connection.call(PLUGIN_SERVICE, method, request, parser, requestTimeout);
    }

    <T> T call(String method, MessageLite request, Parser<T> parser, Duration timeout)
            throws TtrpcException, InterruptedException {
        return connection.call(PLUGIN_SERVICE, method, request, parser, timeout);
    }

    /** Runs {@code task} in the notification queue (after what is queued, before what follows). */
    <T> CompletableFuture<T> submit(java.util.concurrent.Callable<T> task) {
        var result = new CompletableFuture<T>();
        notify(() -> {
            try {
                result.complete(task.call());
            } catch (Exception e) {
                result.completeExceptionally(e);
            }
        });
        if (notifications.isShutdown()) {
            result.completeExceptionally(new java.io.IOException("plugin " + name() + " is closed"));
        }
        return result;
    }

    void synchronizedNow() {
        synchronizedDone.complete(null);
    }

    boolean synchronizedDone() {
        return synchronizedDone.isDone() && !synchronizedDone.isCompletedExceptionally();
    }

    /** Whether Synchronize has finished, waiting for it at most the request timeout (a create during it waits). */
    boolean awaitSynchronized() throws InterruptedException {
        try {
            synchronizedDone.get(requestTimeout.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
            return true;
        } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
            return false;
        }
    }

    void notify(Runnable task) {
        try {
            notifications.execute(task);
        } catch (java.util.concurrent.RejectedExecutionException e) {
            // closed: the plugin is gone
        }
    }

    boolean isOpen() {
        return connection.isOpen();
    }

    /** Disconnects; a pre-installed plugin's process is killed and reaped. */
    void close() {
        synchronizedDone.completeExceptionally(new java.io.IOException("closed"));
        connection.close();
        notifications.shutdownNow();
        if (process != null) {
            process.kill();
            process.waitFor();
        }
    }

    @Override
    public String toString() {
        return (external() ? "external:" : "pre-installed:") + name();
    }
}
