package dev.bollard.cli;

import com.google.gson.Gson;
import dev.bollard.api.cri.v1.ContainerEventResponse;
import dev.bollard.api.cri.v1.ContainerStats;
import dev.bollard.api.cri.v1.ContainerStatsFilter;
import dev.bollard.api.cri.v1.ContainerStatsRequest;
import dev.bollard.api.cri.v1.GetEventsRequest;
import dev.bollard.api.cri.v1.ListContainerStatsRequest;
import dev.bollard.api.cri.v1.ListContainerStatsResponse;
import dev.bollard.api.cri.v1.ListPodSandboxStatsRequest;
import dev.bollard.api.cri.v1.ListPodSandboxStatsResponse;
import dev.bollard.api.cri.v1.PodSandboxStats;
import dev.bollard.api.cri.v1.PodSandboxStatsFilter;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/** crictl's {@code stats}, {@code statsp} and {@code events}. */
final class StatsCommands {

    private StatsCommands() {
    }

    @Command(name = "stats", mixinStandardHelpOptions = true,
            description = "List resource usage of containers (running ones; the named ones when IDs are given).")
    static final class Stats extends ClientCommand implements Callable<Integer> {
        @Parameters(paramLabel = "ID", arity = "0..*", description = "Container IDs (or unique prefixes).")
        List<String> ids = new ArrayList<>();

        @Option(names = {"-a", "--all"}, description = "Show all containers' stats (the default without IDs).")
        boolean all;

        @Option(names = {"-p", "--pod"}, paramLabel = "POD-ID", description = "Only the containers of this pod.")
        String pod;

        @Option(names = "--label", paramLabel = "KEY=VALUE", description = "Filter by key=value label (repeatable).")
        List<String> labels;

        @Option(names = {"-o", "--output"}, defaultValue = "table", description = "json, yaml or table (default).")
        String output;

        @Option(names = {"-w", "--watch"}, description = "Print again every second until interrupted.")
        boolean watch;

        @Override
        public Integer call() throws InterruptedException {
            var format = Output.parse(output);
            return withClient(client -> {
                do {
                    var stats = fetch(client);
                    System.out.print(render(stats, format));
                    System.out.flush();
                    if (watch) {
                        sleep();
                    }
                } while (watch);
                return 0;
            });
        }

        private List<ContainerStats> fetch(CriClient client) {
            if (!ids.isEmpty()) {
                var out = new ArrayList<ContainerStats>();
                for (String id : ids) {
                    out.add(client.runtime(stub -> stub.containerStats(
                            ContainerStatsRequest.newBuilder().setContainerId(id).build())).getStats());
                }
                return out;
            }
            var filter = ContainerStatsFilter.newBuilder().putAllLabelSelector(CriText.labels(labels));
            if (pod != null) {
                filter.setPodSandboxId(pod);
            }
            var list = new ArrayList<>(client.runtime(stub -> stub.listContainerStats(
                    ListContainerStatsRequest.newBuilder().setFilter(filter).build())).getStatsList());
            list.sort(Comparator.comparing(s -> s.getAttributes().getMetadata().getName()));
            return list;
        }

        static String render(List<ContainerStats> stats, Output.Format format) {
            if (format != Output.Format.TABLE) {
                return Output.render(Output.toJson(ListContainerStatsResponse.newBuilder().addAllStats(stats)), format);
            }
            var table = new Table("CONTAINER", "NAME", "CPU %", "MEM", "DISK", "INODES");
            for (var s : stats) {
                table.row(CriText.truncate(s.getAttributes().getId()), s.getAttributes().getMetadata().getName(),
                        cpuPercent(s.getCpu().getUsageNanoCores().getValue()),
                        Table.humanSize(s.getMemory().getWorkingSetBytes().getValue()),
                        Table.humanSize(s.getWritableLayer().getUsedBytes().getValue()),
                        Long.toString(s.getWritableLayer().getInodesUsed().getValue()));
            }
            return table.render();
        }
    }

    @Command(name = "statsp", mixinStandardHelpOptions = true, description = "List resource usage of ready pods.")
    static final class PodStats extends ClientCommand implements Callable<Integer> {
        @Option(names = {"--id"}, paramLabel = "POD-ID", description = "Filter by pod ID (or prefix).")
        String id;

        @Option(names = "--label", paramLabel = "KEY=VALUE", description = "Filter by key=value label (repeatable).")
        List<String> labels;

        @Option(names = {"-o", "--output"}, defaultValue = "table", description = "json, yaml or table (default).")
        String output;

        @Option(names = {"-w", "--watch"}, description = "Print again every second until interrupted.")
        boolean watch;

        @Override
        public Integer call() {
            var format = Output.parse(output);
            var filter = PodSandboxStatsFilter.newBuilder().putAllLabelSelector(CriText.labels(labels));
            if (id != null) {
                filter.setId(id);
            }
            return withClient(client -> {
                do {
                    var stats = client.runtime(stub -> stub.listPodSandboxStats(
                            ListPodSandboxStatsRequest.newBuilder().setFilter(filter).build())).getStatsList();
                    System.out.print(render(stats, format));
                    System.out.flush();
                    if (watch) {
                        sleep();
                    }
                } while (watch);
                return 0;
            });
        }

        static String render(List<PodSandboxStats> stats, Output.Format format) {
            if (format != Output.Format.TABLE) {
                return Output.render(Output.toJson(ListPodSandboxStatsResponse.newBuilder().addAllStats(stats)), format);
            }
            var table = new Table("POD", "POD ID", "CPU %", "MEM", "PROCS", "RX", "TX");
            for (var s : stats) {
                var l = s.getLinux();
                var net = l.getNetwork().getDefaultInterface();
                table.row(s.getAttributes().getMetadata().getName(), CriText.truncate(s.getAttributes().getId()),
                        cpuPercent(l.getCpu().getUsageNanoCores().getValue()),
                        Table.humanSize(l.getMemory().getWorkingSetBytes().getValue()),
                        Long.toString(l.getProcess().getProcessCount().getValue()),
                        Table.humanSize(net.getRxBytes().getValue()), Table.humanSize(net.getTxBytes().getValue()));
            }
            return table.render();
        }
    }

    @Command(name = "events", mixinStandardHelpOptions = true,
            description = "Follow container lifecycle events (one line each) until interrupted.")
    static final class Events extends ClientCommand implements Callable<Integer> {
        @Option(names = {"-o", "--output"}, defaultValue = "table",
                description = "json (one object a line) or table (default: time, type, container, pod).")
        String output;

        @Override
        public Integer call() {
            var format = Output.parse(output);
            if (format == Output.Format.YAML) {
                throw new CliException("-o: events prints json or table, not yaml");
            }
            return withClient(client -> client.runtimeUnbounded(stub -> {
                var it = stub.getContainerEvents(GetEventsRequest.getDefaultInstance());
                while (it.hasNext()) {
                    System.out.println(line(it.next(), format));
                    System.out.flush();
                }
                return 0;
            }));
        }

        static String line(ContainerEventResponse e, Output.Format format) {
            if (format == Output.Format.JSON) {
                return new Gson().toJson(Output.toJson(e)); // compact: one event a line
            }
            String type = e.getContainerEventType().name().replaceFirst("^CONTAINER_", "").replaceFirst("_EVENT$", "")
                    .toLowerCase(Locale.ROOT);
            return CriText.rfc3339Nano(e.getCreatedAt()) + " " + type + " " + e.getContainerId()
                    + (e.hasPodSandboxStatus() ? " pod=" + e.getPodSandboxStatus().getId() : "");
        }
    }

    /** crictl's CPU %: nanocores as a percentage of one core. */
    static String cpuPercent(long nanoCores) {
        return String.format(Locale.ROOT, "%.2f", nanoCores / 1e7);
    }

    private static void sleep() {
        try {
            Thread.sleep(1000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CliException("interrupted");
        }
    }
}
