package dev.bollard.cli;

import com.google.gson.JsonPrimitive;
import dev.bollard.api.cri.v1.ListPodSandboxRequest;
import dev.bollard.api.cri.v1.ListPodSandboxResponse;
import dev.bollard.api.cri.v1.PodSandbox;
import dev.bollard.api.cri.v1.PodSandboxConfig;
import dev.bollard.api.cri.v1.PodSandboxFilter;
import dev.bollard.api.cri.v1.PodSandboxState;
import dev.bollard.api.cri.v1.PodSandboxStateValue;
import dev.bollard.api.cri.v1.PodSandboxStatusRequest;
import dev.bollard.api.cri.v1.RemovePodSandboxRequest;
import dev.bollard.api.cri.v1.RunPodSandboxRequest;
import dev.bollard.api.cri.v1.StopPodSandboxRequest;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import java.util.regex.Pattern;

/** crictl's pod commands: runp, pods, inspectp, stopp, rmp. */
final class PodCommands {

    private PodCommands() {
    }

    /** RunPodSandbox with a loaded config; the pod ID. */
    static String runPod(CriClient client, PodSandboxConfig config, String runtimeHandler) {
        var request = RunPodSandboxRequest.newBuilder().setConfig(config);
        if (runtimeHandler != null) {
            request.setRuntimeHandler(runtimeHandler);
        }
        return client.runtimeLong(stub -> stub.runPodSandbox(request.build())).getPodSandboxId();
    }

    static void stopPod(CriClient client, String id) {
        client.runtimeLong(stub -> stub.stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(id).build()));
        System.out.println("Stopped sandbox " + id);
    }

    @Command(name = "runp", mixinStandardHelpOptions = true, description = "Run a new pod.")
    static final class Run extends ClientCommand implements Callable<Integer> {
        @Parameters(paramLabel = "pod-config.[json|yaml]")
        Path config;

        @Option(names = {"-r", "--runtime"}, paramLabel = "HANDLER",
                description = "Runtime handler to use (a RuntimeClass handler of the runtime).")
        String runtime;

        @Override
        public Integer call() {
            var pod = ConfigFiles.pod(config);
            String id = withClient(c -> runPod(c, pod, runtime));
            System.out.println(id);
            return 0;
        }
    }

    /** The filter options pods and inspectp share. */
    static final class Filter {
        @Option(names = "--id", description = "Filter by pod ID (a prefix of it).")
        String id;

        @Option(names = "--name", paramLabel = "REGEX", description = "Filter by pod name regular expression pattern.")
        String name;

        @Option(names = "--namespace", paramLabel = "REGEX",
                description = "Filter by pod namespace regular expression pattern.")
        String namespace;

        @Option(names = {"-s", "--state"}, paramLabel = "ready|notready", description = "Filter by pod state.")
        String state;

        @Option(names = "--label", paramLabel = "KEY=VALUE", description = "Filter by key=value label (repeatable).")
        List<String> labels;

        @Option(names = {"-l", "--latest"}, description = "Show the most recently created pod.")
        boolean latest;

        @Option(names = {"-n", "--last"}, paramLabel = "N",
                description = "Show the last N recently created pods (0 for unlimited).")
        int last;

        /** The filter the runtime applies: ID prefix, state and labels. */
        PodSandboxFilter criFilter() {
            var filter = PodSandboxFilter.newBuilder();
            if (id != null) {
                filter.setId(id);
            }
            if (state != null) {
                var value = switch (state.toLowerCase(Locale.ROOT)) {
                    case "ready" -> PodSandboxState.SANDBOX_READY;
                    case "notready" -> PodSandboxState.SANDBOX_NOTREADY;
                    default -> throw new CliException("--state should be ready or notready, not \"" + state + "\"");
                };
                filter.setState(PodSandboxStateValue.newBuilder().setState(value));
            }
            filter.putAllLabelSelector(CriText.labels(labels));
            return filter.build();
        }

        /** Lists through the runtime, then applies the name/namespace patterns, newest first, --latest/--last. */
        List<PodSandbox> list(CriClient client) {
            var request = ListPodSandboxRequest.newBuilder().setFilter(criFilter()).build();
            Pattern namePattern = CriText.regex("--name", name);
            Pattern namespacePattern = CriText.regex("--namespace", namespace);
            ListPodSandboxResponse response = client.runtime(stub -> stub.listPodSandbox(request));
            var pods = new ArrayList<PodSandbox>();
            for (PodSandbox p : response.getItemsList()) {
                if (CriText.matches(namePattern, p.getMetadata().getName())
                        && CriText.matches(namespacePattern, p.getMetadata().getNamespace())) {
                    pods.add(p);
                }
            }
            pods.sort(Comparator.comparingLong(PodSandbox::getCreatedAt).reversed());
            return CriText.newest(pods, latest, last);
        }
    }

    @Command(name = "pods", mixinStandardHelpOptions = true, description = "List pods.")
    static final class ListPods extends ClientCommand implements Callable<Integer> {
        @picocli.CommandLine.Mixin
        Filter filter;

        @Option(names = {"-v", "--verbose"}, description = "Show verbose information for pods.")
        boolean verbose;

        @Option(names = {"-q", "--quiet"}, description = "List only pod IDs.")
        boolean quiet;

        @Option(names = {"-o", "--output"}, defaultValue = "table", description = "json, yaml or table (default).")
        String output;

        @Option(names = "--no-trunc", description = "Show output without truncating the ID.")
        boolean noTrunc;

        @Override
        public Integer call() {
            var format = Output.parse(output);
            List<PodSandbox> pods = withClient(filter::list);
            System.out.print(render(pods, format, quiet, verbose, noTrunc, Instant.now()));
            return 0;
        }

        static String render(List<PodSandbox> pods, Output.Format format, boolean quiet, boolean verbose,
                             boolean noTrunc, Instant now) {
            if (format != Output.Format.TABLE) {
                return Output.render(Output.toJson(ListPodSandboxResponse.newBuilder().addAllItems(pods)), format);
            }
            var out = new StringBuilder();
            if (quiet) {
                pods.forEach(p -> out.append(p.getId()).append('\n'));
                return out.toString();
            }
            if (verbose) {
                for (PodSandbox p : pods) {
                    out.append("ID: ").append(p.getId()).append('\n');
                    var m = p.getMetadata();
                    if (!m.getName().isEmpty()) {
                        out.append("Name: ").append(m.getName()).append('\n');
                    }
                    if (!m.getUid().isEmpty()) {
                        out.append("UID: ").append(m.getUid()).append('\n');
                    }
                    if (!m.getNamespace().isEmpty()) {
                        out.append("Namespace: ").append(m.getNamespace()).append('\n');
                    }
                    if (m.getAttempt() != 0) {
                        out.append("Attempt: ").append(Integer.toUnsignedString(m.getAttempt())).append('\n');
                    }
                    out.append("Status: ").append(CriText.state(p.getState())).append('\n');
                    out.append("Created: ").append(CriText.goTimeString(p.getCreatedAt())).append('\n');
                    appendMap(out, "Labels", p.getLabelsMap());
                    appendMap(out, "Annotations", p.getAnnotationsMap());
                    out.append("Runtime: ").append(handler(p)).append("\n\n");
                }
                return out.toString();
            }
            var table = new Table("POD ID", "CREATED", "STATE", "NAME", "NAMESPACE", "ATTEMPT", "RUNTIME").minWidth(20);
            for (PodSandbox p : pods) {
                table.row(noTrunc ? p.getId() : CriText.truncate(p.getId()), CriText.ago(p.getCreatedAt(), now),
                        CriText.state(p.getState()), p.getMetadata().getName(), p.getMetadata().getNamespace(),
                        Integer.toUnsignedString(p.getMetadata().getAttempt()), handler(p));
            }
            return table.render();
        }

        private static String handler(PodSandbox p) {
            return p.getRuntimeHandler().isEmpty() ? "(default)" : p.getRuntimeHandler();
        }
    }

    /** crictl's "Labels:" / "Annotations:" blocks: sorted keys, one tab-indented "k -> v" a line. */
    static void appendMap(StringBuilder out, String title, java.util.Map<String, String> map) {
        if (map.isEmpty()) {
            return;
        }
        out.append(title).append(":\n");
        new TreeMap<>(map).forEach((k, v) -> out.append('\t').append(k).append(" -> ").append(v).append('\n'));
    }

    @Command(name = "inspectp", mixinStandardHelpOptions = true,
            description = "Display the status of one or more pods (all matching the filters when no ID is given).")
    static final class Inspect extends ClientCommand implements Callable<Integer> {
        @Parameters(paramLabel = "POD-ID", arity = "0..*")
        List<String> ids = new ArrayList<>();

        @picocli.CommandLine.Mixin
        Filter filter;

        @Option(names = {"-o", "--output"}, defaultValue = "json", description = "json (default) or yaml.")
        String output;

        @Option(names = {"-q", "--quiet"}, description = "Do not show verbose information (no info).")
        boolean quiet;

        @Override
        public Integer call() {
            var format = Output.parse(output);
            return withClient(c -> {
                List<String> targets = ids;
                if (targets.isEmpty()) {
                    targets = filter.list(c).stream().map(PodSandbox::getId).toList();
                    if (targets.isEmpty()) {
                        throw new CliException("no pod IDs given and none matched the filters");
                    }
                }
                var docs = new ArrayList<com.google.gson.JsonObject>();
                for (String id : targets) {
                    var response = c.runtime(stub -> stub.podSandboxStatus(PodSandboxStatusRequest.newBuilder()
                            .setPodSandboxId(id).setVerbose(!quiet).build()));
                    var status = Output.toJson(response.getStatus()).getAsJsonObject();
                    status.add("createdAt", new JsonPrimitive(CriText.rfc3339Nano(response.getStatus().getCreatedAt())));
                    docs.add(CriText.statusDocument(status, response.getInfoMap()));
                }
                System.out.print(CriText.renderStatuses(docs, format));
                return 0;
            });
        }
    }

    @Command(name = "stopp", mixinStandardHelpOptions = true, description = "Stop one or more running pods.")
    static final class Stop extends ClientCommand implements Callable<Integer> {
        @Parameters(paramLabel = "POD-ID", arity = "1..*")
        List<String> ids;

        @Override
        public Integer call() {
            return withClient(c -> eachId(ids, "stopping the pod sandbox", id -> stopPod(c, id)));
        }
    }

    @Command(name = "rmp", mixinStandardHelpOptions = true, description = "Remove one or more pods.")
    static final class Remove extends ClientCommand implements Callable<Integer> {
        @Parameters(paramLabel = "POD-ID", arity = "0..*")
        List<String> ids = new ArrayList<>();

        @Option(names = {"-f", "--force"}, description = "Stop a ready pod before removing it.")
        boolean force;

        @Option(names = {"-a", "--all"}, description = "Remove all pods.")
        boolean all;

        @Override
        public Integer call() {
            idsOrAll(ids, all, "POD-ID");
            return withClient(c -> {
                List<String> targets = !all ? ids : c.runtime(stub -> stub.listPodSandbox(
                        ListPodSandboxRequest.getDefaultInstance())).getItemsList().stream().map(PodSandbox::getId).toList();
                if (targets.isEmpty()) {
                    spec.commandLine().getErr().println("No pods to remove");
                    return 0;
                }
                return eachId(targets, "removing the pod sandbox", id -> {
                    var status = c.runtime(stub -> stub.podSandboxStatus(
                            PodSandboxStatusRequest.newBuilder().setPodSandboxId(id).build()));
                    if (status.getStatus().getState() == PodSandboxState.SANDBOX_READY) {
                        if (!force) {
                            throw new CliException("pod sandbox is running, please stop it first (or use -f)");
                        }
                        stopPod(c, id);
                    }
                    c.runtimeLong(stub -> stub.removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(id).build()));
                    System.out.println("Removed sandbox " + id);
                });
            });
        }
    }
}
