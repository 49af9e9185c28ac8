package dev.bollard.cli;

import dev.bollard.daemon.config.ConfigException;
import dev.bollard.daemon.config.ConfigLoader;
import dev.bollard.daemon.config.DefaultConfig;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

@Command(name = "config", mixinStandardHelpOptions = true, description = "Show or check the daemon's configuration.",
        subcommands = {ConfigCommand.Default.class, ConfigCommand.Check.class})
final class ConfigCommand {

    @Command(name = "default", mixinStandardHelpOptions = true,
            description = "Print the full default configuration, every key commented.")
    static final class Default implements Callable<Integer> {
        @Override
        public Integer call() {
            System.out.print(DefaultConfig.render());
            return 0;
        }
    }

    @Command(name = "check", mixinStandardHelpOptions = true,
            description = "Validate a configuration file as the daemon would, without starting it.")
    static final class Check implements Callable<Integer> {
        @Parameters(paramLabel = "FILE", defaultValue = "/etc/bollard/bollard.toml")
        Path file;

        @Override
        public Integer call() {
            if (!Files.exists(file)) {
                throw new CliException(file + ": no such file (the daemon would use the embedded defaults)");
            }
            try {
                ConfigLoader.load(file);
            } catch (ConfigException e) {
                throw new CliException(e.getMessage());
            }
            System.out.println(file + ": OK");
            return 0;
        }
    }
}
