package dev.bollard.cli;

import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

import java.util.List;
import java.util.function.Consumer;
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

    /**
     * Runs one action per ID, as crictl does for its multi-ID commands: every ID is tried, each failure is one
     * line on stderr naming the ID, and the exit code is 1 if any failed.
     */
    protected int eachId(List<String> ids, String doing, Consumer<String> action) {
        int exit = 0;
        for (String id : ids) {
            try {
                action.accept(id);
            } catch (CliException e) {
                spec.commandLine().getErr().println("bollard: " + doing + " \"" + id + "\": " + e.getMessage());
                spec.commandLine().getErr().flush();
                exit = 1;
            }
        }
        return exit;
    }

    /** crictl's rule for commands that take IDs or --all: exactly one of the two. */
    static void idsOrAll(java.util.List<String> ids, boolean all, String what) {
        if (all && !ids.isEmpty()) {
            throw new CliException("cannot specify " + what + "(s) when using --all");
        }
        if (!all && ids.isEmpty()) {
            throw new CliException("you must specify at least one " + what + " or use --all");
        }
    }
}
