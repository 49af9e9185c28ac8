package dev.bollard.cli;

import picocli.CommandLine.ParentCommand;

import java.util.function.Function;

/** Base of every command that talks CRI to a running daemon: endpoint and timeout come from the top command. */
abstract class ClientCommand {

    @ParentCommand
    Main main;

    /** Opens a client for one command's calls and closes it afterwards. */
    protected <T> T withClient(Function<CriClient, T> body) {
        try (var client = new CriClient(main.endpoint(), main.timeoutSeconds)) {
            return body.apply(client);
        }
    }
}
