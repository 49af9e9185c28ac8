package dev.bollard.cli;

import dev.bollard.daemon.config.BollardConfig.LogLevel;
import dev.bollard.daemon.server.Daemon;
import dev.bollard.daemon.server.StartupException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.concurrent.Callable;

@Command(name = "daemon", mixinStandardHelpOptions = true,
        description = "Serve the CRI (runtime.v1 RuntimeService and ImageService) on a UNIX socket.")
final class DaemonCommand implements Callable<Integer> {

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
        Daemon daemon;
        try {
            daemon = Daemon.start(new Daemon.Options(config, socket, root, state, level));
        } catch (StartupException e) {
            throw new CliException(e.getMessage());
        }
        // SIGTERM and SIGINT run shutdown hooks: stop serving and remove the socket before the JVM exits.
        Runtime.getRuntime().addShutdownHook(Thread.ofPlatform().name("bollard-shutdown").unstarted(daemon::close));
        daemon.awaitTermination();
        return 0;
    }
}
