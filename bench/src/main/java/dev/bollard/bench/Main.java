package dev.bollard.bench;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * {@code bollard-bench}: Bollard beside containerd, measured in one run through one CRI client. Each workload is a
 * subcommand ({@code pull}, {@code pods}, {@code cri}, {@code daemon}; {@code all} runs every one and
 * {@code report} makes one table and the charts from their JSON), built
 * on the same pieces: {@link Workspace} (temporary tree, child processes, cleanup), {@link DaemonUnderTest}
 * (fresh daemons), {@link Proc} / {@link RssSampler} (what the daemons cost) and {@link Report}.
 */
@Command(name = "bollard-bench", mixinStandardHelpOptions = true,
        description = "Benchmarks Bollard against containerd's CRI plugin, side by side.",
        subcommands = {PullBench.class, PodsBench.class, CriCallsBench.class, DaemonBench.class, ColdBench.class, SoakBench.class, VmBench.class, AllBench.class,
                Summary.class})
public final class Main implements Runnable {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    public static void main(String[] args) {
        // options bench/run.sh passes may be given again by the user: the last one wins
        int code = new CommandLine(new Main()).setOverwrittenOptionsAllowed(true).execute(args);
        System.exit(code);
    }

    @Override
    public void run() {
        spec.commandLine().usage(System.err);
    }
}
