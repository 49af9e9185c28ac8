package dev.bollard.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** The {@code bollard} command: the daemon itself, and a CRI client whose commands follow crictl's. */
@Command(name = "bollard", mixinStandardHelpOptions = true, versionProvider = Main.VersionProvider.class,
        description = "Bollard, a Kubernetes CRI runtime.",
        subcommands = {DaemonCommand.class, VersionCommand.class, InfoCommand.class, ConfigCommand.class,
                ImageCommands.Pull.class, ImageCommands.Images.class, ImageCommands.Inspect.class,
                ImageCommands.Remove.class, ImageCommands.FsInfo.class, ImageArchiveCommands.class,
                PodCommands.Run.class, PodCommands.ListPods.class, PodCommands.Inspect.class, PodCommands.Stop.class,
                PodCommands.Remove.class, ContainerCommands.Create.class, ContainerCommands.Start.class,
                ContainerCommands.Stop.class, ContainerCommands.Remove.class, ContainerCommands.ListContainers.class,
                ContainerCommands.Inspect.class, ContainerCommands.Exec.class, ContainerCommands.Run.class,
                ContainerCommands.Update.class, LogsCommand.class,
                StreamCommands.Attach.class, StreamCommands.PortForward.class,
                StatsCommands.Stats.class, StatsCommands.PodStats.class, StatsCommands.Events.class,
                CheckpointCommand.class})
public final class Main {

    static final String DEFAULT_ENDPOINT = "unix:///run/bollard/bollard.sock";

    // Global options come before the command, as crictl's do: commands have -r (runtime handler) and -t (stop's
    // timeout, logs' timestamps, exec's tty) of their own, with crictl's meanings.
    @Option(names = {"-r", "--runtime-endpoint"},
            description = "CRI endpoint (unix:///path or a socket path). Default: $BOLLARD_ENDPOINT, else "
                    + DEFAULT_ENDPOINT + ".")
    String endpoint;

    @Option(names = {"-t", "--timeout"}, defaultValue = "10",
            description = "Seconds to wait for the runtime to answer (default: ${DEFAULT-VALUE}).")
    int timeoutSeconds;

    String endpoint() {
        if (endpoint != null) {
            return endpoint;
        }
        String env = System.getenv("BOLLARD_ENDPOINT");
        return env != null && !env.isBlank() ? env : DEFAULT_ENDPOINT;
    }

    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs one command line and returns its exit code; a CLI error is one line on stderr. */
    public static int run(String... args) {
        if (args.length > 0 && args[0].equals("daemon")) {
            dev.bollard.daemon.server.StartupWarmUp.begin(); // beside the start's own work: see there
            // The daemon's few options by hand: picocli's model of even this one command (annotations read through
            // reflection proxies) took a quarter of a daemon start's CPU. Anything unusual (--help, a typo) goes
            // to picocli below for its usage and messages.
            DaemonCommand daemon = DaemonCommand.parse(java.util.Arrays.copyOfRange(args, 1, args.length));
            if (daemon != null) {
                try {
                    return daemon.call();
                } catch (CliException e) {
                    System.err.println("bollard: " + e.getMessage());
                    return 1;
                } catch (Exception e) {
                    System.err.println("bollard: " + e.getClass().getSimpleName() + ": " + e.getMessage());
                    if (System.getenv("BOLLARD_DEBUG") != null) {
                        e.printStackTrace();
                    }
                    return 1;
                }
            }
        }
        CommandLine cli;
        if (args.length > 0 && args[0].equals("daemon")) {
            // The daemon alone, for its usage and errors: picocli's model of all ~30 client commands (and the CRI
            // message classes their fields name) took 0.5-1 s of a daemon start's 1.4 s.
            cli = new CommandLine(new DaemonCommand()).setCommandName("bollard daemon");
            args = java.util.Arrays.copyOfRange(args, 1, args.length);
        } else {
            cli = new CommandLine(new Main());
            // exec CONTAINER COMMAND ARG...: the command's own options (sh -c ...) are not bollard's.
            cli.getSubcommands().get("exec").setStopAtPositional(true);
        }
        cli.setExecutionExceptionHandler((ex, commandLine, parseResult) -> {
            if (ex instanceof CliException) {
                commandLine.getErr().println("bollard: " + ex.getMessage());
                return 1;
            }
            // Anything else is unexpected: one line for the operator, the stack trace with BOLLARD_DEBUG set.
            commandLine.getErr().println("bollard: " + ex.getClass().getSimpleName() + ": " + ex.getMessage());
            if (System.getenv("BOLLARD_DEBUG") != null) {
                ex.printStackTrace(commandLine.getErr());
            }
            return 1;
        });
        return cli.execute(args);
    }

    static final class VersionProvider implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            return new String[] {"bollard " + dev.bollard.daemon.BollardVersion.version()};
        }
    }
}
