package dev.bollard.cli;

import dev.bollard.daemon.config.BollardConfig.LogLevel;
import dev.bollard.daemon.server.Daemon;
import dev.bollard.daemon.server.StartupException;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.concurrent.Callable;

@Command(name = "daemon", mixinStandardHelpOptions = true,
        description = "Serve the CRI (runtime.v1 RuntimeService and ImageService) on a UNIX socket.")
final class DaemonCommand implements Callable<Integer> {

    /** How long a signal during start-up waits for the start to end before the JVM exits anyway. */
    private static final Duration START_WAIT = Duration.ofSeconds(60);

    @Option(names = "--socket", paramLabel = "PATH", description = "Socket to serve on (default from config: /run/bollard/bollard.sock).")
    Path socket;

    @Option(names = "--root", paramLabel = "DIR", description = "Persistent state directory (default from config: /var/lib/bollard).")
    Path root;

    @Option(names = "--state", paramLabel = "DIR", description = "Volatile state directory (default from config: /run/bollard).")
    Path state;

    @Option(names = "--config", paramLabel = "FILE", defaultValue = "/etc/bollard/bollard.toml",
            description = "TOML configuration; a missing file means the embedded defaults (default: ${DEFAULT-VALUE}).")
    Path config;

    @Option(names = "--log-level", paramLabel = "LEVEL", description = "debug, info, warn or error (overrides daemon.log_level).")
    String logLevel;

    /**
     * The options as picocli would set them ({@code --name value} or {@code --name=value}, defaults as declared),
     * or null for anything else (--help, --version, an unknown or incomplete option), which picocli then handles
     * with its usage and messages.
     */
    static DaemonCommand parse(String[] args) {
        var c = new DaemonCommand();
        c.config = Path.of("/etc/bollard/bollard.toml");
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            String name = a;
            String value = null;
            int eq = a.indexOf('=');
            if (a.startsWith("--") && eq > 0) {
                name = a.substring(0, eq);
                value = a.substring(eq + 1);
            } else if (i + 1 < args.length) {
                value = args[++i];
            }
            if (value == null || value.isEmpty()) {
                return null;
            }
            try {
                switch (name) {
                    case "--socket" -> c.socket = Path.of(value);
                    case "--root" -> c.root = Path.of(value);
                    case "--state" -> c.state = Path.of(value);
                    case "--config" -> c.config = Path.of(value);
                    case "--log-level" -> c.logLevel = value;
                    default -> {
                        return null;
                    }
                }
            } catch (java.nio.file.InvalidPathException e) {
                return null;
            }
        }
        return c;
    }

    @Override
    public Integer call() throws Exception {
        LogLevel level = null;
        if (logLevel != null) {
            try {
                level = LogLevel.valueOf(logLevel.toUpperCase(java.util.Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new CliException("--log-level: \"" + logLevel + "\" is not one of debug, info, warn, error");
            }
        }
        // SIGTERM and SIGINT run shutdown hooks: stop serving and remove the socket before the JVM exits. The hook is
        // registered before the start, so a signal during start-up still cleans up: it waits for the start to end
        // (a failed start has rolled back what it created by then) and closes the daemon a successful one returned.
        var started = new CompletableFuture<Daemon>();
        Runtime.getRuntime().addShutdownHook(Thread.ofPlatform().name("bollard-shutdown")
                .unstarted(() -> closeWhenStarted(started)));
        Daemon daemon;
        try {
            daemon = Daemon.start(new Daemon.Options(config, socket, root, state, level));
            started.complete(daemon);
        } catch (StartupException e) {
            started.complete(null);
            throw new CliException(e.getMessage());
        } finally {
            started.complete(null); // no-op after a successful start
        }
        daemon.awaitTermination();
        return 0;
    }

    /** The shutdown hook's body: a start still running is waited for (bounded), then what it returned is closed. */
    static void closeWhenStarted(CompletableFuture<Daemon> started) {
        try {
            Daemon daemon = started.get(START_WAIT.toSeconds(), TimeUnit.SECONDS);
            if (daemon != null) {
                daemon.close();
            }
        } catch (TimeoutException e) {
            System.err.println("bollard: the start-up did not end within " + START_WAIT.toSeconds()
                    + " s of the signal; exiting without cleaning up");
        } catch (ExecutionException e) {
            // the start failed and rolled back itself
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
