package dev.bollard.cli;

import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

import java.util.function.Function;

/**
 * Base of every command that talks to a running daemon. Endpoint and timeout are options of the root command
 * (inherited by every subcommand, at any depth), so they are read from the root's user object.
 */
abstract class ClientCommand {

    @Spec
    CommandSpec spec;

    Main main() {
        return (Main) spec.root().userObject();
    }

    /** Opens a client for one command's calls and closes it afterwards. */
    protected <T> T withClient(Function<CriClient, T> body) {
        var main = main();
        try (var client = new CriClient(main.endpoint(), main.timeoutSeconds)) {
            return body.apply(client);
        }
    }
}
