package dev.bollard.cli;

import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;
import dev.bollard.api.cri.v1.Container;
import dev.bollard.api.cri.v1.ContainerConfig;
import dev.bollard.api.cri.v1.ContainerFilter;
import dev.bollard.api.cri.v1.ContainerState;
import dev.bollard.api.cri.v1.ContainerStateValue;
import dev.bollard.api.cri.v1.ContainerStatus;
import dev.bollard.api.cri.v1.ContainerStatusRequest;
import dev.bollard.api.cri.v1.CreateContainerRequest;
import dev.bollard.api.cri.v1.ExecSyncRequest;
import dev.bollard.api.cri.v1.ExecSyncResponse;
import dev.bollard.api.cri.v1.ImageStatusRequest;
import dev.bollard.api.cri.v1.LinuxContainerResources;
import dev.bollard.api.cri.v1.ListContainersRequest;
import dev.bollard.api.cri.v1.ListContainersResponse;
import dev.bollard.api.cri.v1.PodSandboxConfig;
import dev.bollard.api.cri.v1.PullImageRequest;
import dev.bollard.api.cri.v1.RemoveContainerRequest;
import dev.bollard.api.cri.v1.StartContainerRequest;
import dev.bollard.api.cri.v1.StopContainerRequest;
import dev.bollard.api.cri.v1.UpdateContainerResourcesRequest;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.concurrent.Callable;
import java.util.regex.Pattern;

/** crictl's container commands: create, start, stop, rm, ps, inspect, exec, run, update. */
final class ContainerCommands {

    private ContainerCommands() {
    }

    /**
     * CreateContainer as crictl does it: user_specified_image defaults to the image, and the image is pulled
     * first (unless {@code pull} is false or the image is already present), with the pod's config.
     */
    static String create(CriClient client, String podId, ContainerConfig config, PodSandboxConfig podConfig, boolean pull) {
        var builder = config.toBuilder();
        String image = config.getImage().getImage();
        if (builder.getImage().getUserSpecifiedImage().isEmpty()) {
            builder.getImageBuilder().setUserSpecifiedImage(image);
        }
        if (pull) {
            var present = client.image(stub -> stub.imageStatus(
                    ImageStatusRequest.newBuilder().setImage(ImageCommands.spec(image)).build()));
            if (!present.hasImage()) {
                client.imageLong(stub -> stub.pullImage(PullImageRequest.newBuilder()
                        .setImage(config.getImage()).setSandboxConfig(podConfig).build()));
            }
        }
        var request = CreateContainerRequest.newBuilder().setPodSandboxId(podId).setConfig(builder)
                .setSandboxConfig(podConfig).build();
        return client.runtimeLong(stub -> stub.createContainer(request)).getContainerId();
    }

    static void start(CriClient client, String id) {
        client.runtimeLong(stub -> stub.startContainer(StartContainerRequest.newBuilder().setContainerId(id).build()));
    }

    static void stop(CriClient client, String id, long timeoutSeconds) {
        client.runtimeFor(Math.max(timeoutSeconds, 1), stub -> stub.stopContainer(
                StopContainerRequest.newBuilder().setContainerId(id).setTimeout(timeoutSeconds).build()));
    }

    static ContainerStatus status(CriClient client, String id) {
        var response = client.runtime(stub -> stub.containerStatus(
                ContainerStatusRequest.newBuilder().setContainerId(id).build()));
        if (!response.hasStatus()) {
            throw new CliException("the runtime returned no status for container " + id);
        }
        return response.getStatus();
    }

    @Command(name = "create", mixinStandardHelpOptions = true, description = "Create a new container in a pod.")
    static final class Create extends ClientCommand implements Callable<Integer> {
        @Parameters(index = "0", paramLabel = "POD-ID")
        String podId;

        @Parameters(index = "1", paramLabel = "container-config.[json|yaml]")
        Path containerConfig;

        @Parameters(index = "2", paramLabel = "pod-config.[json|yaml]")
        Path podConfig;

        @Option(names = "--no-pull", description = "Do not pull the image when it is missing.")
        boolean noPull;

        @Override
        public Integer call() {
            var container = ConfigFiles.container(containerConfig);
            var pod = ConfigFiles.pod(podConfig);
            String id = withClient(c -> create(c, podId, container, pod, !noPull));
            System.out.println(id);
            return 0;
        }
    }

    @Command(name = "run", mixinStandardHelpOptions = true,
            description = "Run a new container inside a new pod (runp, create and start).")
    static final class Run extends ClientCommand implements Callable<Integer> {
        @Parameters(index = "0", paramLabel = "container-config.[json|yaml]")
        Path containerConfig;

        @Parameters(index = "1", paramLabel = "pod-config.[json|yaml]")
        Path podConfig;

        @Option(names = {"-r", "--runtime"}, paramLabel = "HANDLER", description = "Runtime handler for the pod.")
        String runtime;

        @Option(names = "--no-pull", description = "Do not pull the image when it is missing.")
        boolean noPull;

        @Override
        public Integer call() {
            var container = ConfigFiles.container(containerConfig);
            var pod = ConfigFiles.pod(podConfig);
            String id = withClient(c -> {
                String podId = PodCommands.runPod(c, pod, runtime);
                String containerId;
                try {
                    containerId = create(c, podId, container, pod, !noPull);
                } catch (CliException e) {
                    throw new CliException("creating the container in pod " + podId + ": " + e.getMessage());
                }
                try {
                    start(c, containerId);
                } catch (CliException e) {
                    throw new CliException("starting container " + containerId + ": " + e.getMessage());
                }
                return containerId;
            });
            System.out.println(id);
            return 0;
        }
    }

    @Command(name = "start", mixinStandardHelpOptions = true, description = "Start one or more created containers.")
    static final class Start extends ClientCommand implements Callable<Integer> {
        @Parameters(paramLabel = "CONTAINER-ID", arity = "1..*")
        List<String> ids;

        @Override
        public Integer call() {
            return withClient(c -> eachId(ids, "starting the container", id -> {
                start(c, id);
                System.out.println(id);
            }));
        }
    }

    @Command(name = "stop", mixinStandardHelpOptions = true, description = "Stop one or more running containers.")
    static final class Stop extends ClientCommand implements Callable<Integer> {
        @Parameters(paramLabel = "CONTAINER-ID", arity = "0..*")
        List<String> ids = new ArrayList<>();

        @Option(names = {"-t", "--timeout"}, paramLabel = "SECONDS",
                description = "Seconds to wait to kill the container after a graceful stop is requested (default 0).")
        long timeout;

        @Option(names = {"-a", "--all"}, description = "Stop all running containers.")
        boolean all;

        @Override
        public Integer call() {
            idsOrAll(ids, all, "CONTAINER-ID");
            return withClient(c -> {
                List<String> targets = ids;
                if (all) {
                    var filter = ContainerFilter.newBuilder()
                            .setState(ContainerStateValue.newBuilder().setState(ContainerState.CONTAINER_RUNNING)).build();
                    targets = c.runtime(stub -> stub.listContainers(ListContainersRequest.newBuilder().setFilter(filter).build()))
                            .getContainersList().stream().map(Container::getId).toList();
                    if (targets.isEmpty()) {
                        System.out.println("No running containers found.");
                        return 0;
                    }
                }
                return eachId(targets, "stopping the container", id -> {
                    stop(c, id, timeout);
                    System.out.println(id);
                });
            });
        }
    }

    @Command(name = "rm", mixinStandardHelpOptions = true,
            description = "Remove one or more containers, and their log files unless --keep-logs.")
    static final class Remove extends ClientCommand implements Callable<Integer> {
        @Parameters(paramLabel = "CONTAINER-ID", arity = "0..*")
        List<String> ids = new ArrayList<>();

        @Option(names = {"-f", "--force"}, description = "Stop a running container before removing it.")
        boolean force;

        @Option(names = {"-a", "--all"}, description = "Remove all containers.")
        boolean all;

        @Option(names = {"-k", "--keep-logs"}, description = "Preserve the container log file and its rotations.")
        boolean keepLogs;

        @Override
        public Integer call() {
            idsOrAll(ids, all, "CONTAINER-ID");
            return withClient(c -> {
                List<String> targets = !all ? ids : c.runtime(stub -> stub.listContainers(
                        ListContainersRequest.getDefaultInstance())).getContainersList().stream().map(Container::getId).toList();
                if (targets.isEmpty()) {
                    spec.commandLine().getErr().println("No containers to remove");
                    return 0;
                }
                return eachId(targets, "removing container", id -> {
                    var status = status(c, id);
                    if (status.getState() == ContainerState.CONTAINER_RUNNING) {
                        if (!force) {
                            throw new CliException("container is running, please stop it first (or use -f)");
                        }
                        stop(c, id, 0);
                        System.out.println(id); // crictl prints the ID once for the stop, once for the removal
                    }
                    c.runtimeLong(stub -> stub.removeContainer(RemoveContainerRequest.newBuilder().setContainerId(id).build()));
                    if (!keepLogs && !status.getLogPath().isEmpty()) {
                        removeLogs(Path.of(status.getLogPath()));
                    }
                    System.out.println(id);
                });
            });
        }

        /** The log file and its rotations ({@code <log>.*}), as crictl removes them. */
        private void removeLogs(Path log) {
            var files = new ArrayList<Path>();
            files.add(log);
            Path dir = log.toAbsolutePath().getParent();
            if (dir != null && Files.isDirectory(dir)) {
                String prefix = log.getFileName() + ".";
                try (DirectoryStream<Path> rotations = Files.newDirectoryStream(dir, p -> p.getFileName().toString().startsWith(prefix))) {
                    rotations.forEach(files::add);
                } catch (IOException e) {
                    spec.commandLine().getErr().println("bollard: listing log rotations in " + dir + ": " + e.getMessage());
                }
            }
            for (Path f : files) {
                try {
                    Files.deleteIfExists(f);
                } catch (IOException e) {
                    spec.commandLine().getErr().println("bollard: removing log file " + f + ": " + e.getMessage());
                }
            }
        }
    }

    /** The filters ps and inspect share. */
    static final class Filter {
        @Option(names = "--id", description = "Filter by container ID (a prefix of it).")
        String id;

        @Option(names = "--name", paramLabel = "REGEX", description = "Filter by container name regular expression pattern.")
        String name;

        @Option(names = "--namespace", paramLabel = "REGEX", description = "Filter by pod namespace regular expression pattern.")
        String namespace;

        @Option(names = {"-p", "--pod"}, paramLabel = "POD-ID", description = "Filter by pod ID.")
        String pod;

        @Option(names = "--image", description = "Filter by container image (compared by image ID).")
        String image;

        @Option(names = {"-s", "--state"}, paramLabel = "STATE",
                description = "Filter by container state: created, running, exited or unknown.")
        String state;

        @Option(names = "--label", paramLabel = "KEY=VALUE", description = "Filter by key=value label (repeatable).")
        List<String> labels;

        @Option(names = {"-a", "--all"}, description = "Show all containers (default: only running ones).")
        boolean all;

        @Option(names = {"-l", "--latest"}, description = "Show the most recently created container (any state).")
        boolean latest;

        @Option(names = {"-n", "--last"}, paramLabel = "N",
                description = "Show the last N recently created containers (any state; 0 for unlimited).")
        int last;

        ContainerFilter criFilter() {
            var filter = ContainerFilter.newBuilder();
            if (id != null) {
                filter.setId(id);
            }
            if (pod != null) {
                filter.setPodSandboxId(pod);
            }
            ContainerState wanted = null;
            if (state != null) {
                wanted = switch (state.toLowerCase(Locale.ROOT)) {
                    case "created" -> ContainerState.CONTAINER_CREATED;
                    case "running" -> ContainerState.CONTAINER_RUNNING;
                    case "exited" -> ContainerState.CONTAINER_EXITED;
                    case "unknown" -> ContainerState.CONTAINER_UNKNOWN;
                    default -> throw new CliException(
                            "--state should be one of created, running, exited or unknown, not \"" + state + "\"");
                };
            } else if (!all) {
                wanted = ContainerState.CONTAINER_RUNNING;
            }
            // --latest and --last look at every state, as crictl's do.
            if (wanted != null && !latest && last <= 0) {
                filter.setState(ContainerStateValue.newBuilder().setState(wanted));
            }
            filter.putAllLabelSelector(CriText.labels(labels));
            return filter.build();
        }

        List<Container> list(CriClient client) {
            var request = ListContainersRequest.newBuilder().setFilter(criFilter()).build();
            Pattern namePattern = CriText.regex("--name", name);
            Pattern namespacePattern = CriText.regex("--namespace", namespace);
            ListContainersResponse response = client.runtime(stub -> stub.listContainers(request));
            String imageId = image == null ? null : imageId(client, image);
            if (image != null && imageId == null) {
                return List.of(); // an image that is not present matches nothing, as in crictl
            }
            var containers = new ArrayList<Container>();
            for (Container c : response.getContainersList()) {
                if (!CriText.matches(namePattern, c.getMetadata().getName())
                        || !CriText.matches(namespacePattern, CriText.fromLabels(c.getLabelsMap(), CriText.POD_NAMESPACE_LABEL))) {
                    continue;
                }
                if (imageId != null && !imageId.equals(imageId(client, c.getImage().getImage()))) {
                    continue;
                }
                containers.add(c);
            }
            containers.sort(Comparator.comparingLong(Container::getCreatedAt).reversed());
            return CriText.newest(containers, latest, last);
        }

        private static String imageId(CriClient client, String image) {
            var status = client.image(stub -> stub.imageStatus(
                    ImageStatusRequest.newBuilder().setImage(ImageCommands.spec(image)).build()));
            return status.hasImage() ? status.getImage().getId() : null;
        }
    }

    @Command(name = "ps", mixinStandardHelpOptions = true, description = "List containers (running ones unless -a).")
    static final class ListContainers extends ClientCommand implements Callable<Integer> {
        @picocli.CommandLine.Mixin
        Filter filter;

        @Option(names = {"-v", "--verbose"}, description = "Show verbose information for containers.")
        boolean verbose;

        @Option(names = {"-q", "--quiet"}, description = "Only display container IDs.")
        boolean quiet;

        @Option(names = {"-o", "--output"}, defaultValue = "table", description = "json, yaml or table (default).")
        String output;

        @Option(names = "--no-trunc", description = "Show output without truncating the IDs.")
        boolean noTrunc;

        @Override
        public Integer call() {
            var format = Output.parse(output);
            List<Container> containers = withClient(filter::list);
            System.out.print(render(containers, format, quiet, verbose, noTrunc, Instant.now()));
            return 0;
        }

        static String render(List<Container> containers, Output.Format format, boolean quiet, boolean verbose,
                             boolean noTrunc, Instant now) {
            if (format != Output.Format.TABLE) {
                return Output.render(Output.toJson(ListContainersResponse.newBuilder().addAllContainers(containers)), format);
            }
            var out = new StringBuilder();
            if (quiet) {
                containers.forEach(c -> out.append(c.getId()).append('\n'));
                return out.toString();
            }
            if (verbose) {
                for (Container c : containers) {
                    out.append("ID: ").append(c.getId()).append('\n');
                    out.append("PodID: ").append(c.getPodSandboxId()).append('\n');
                    out.append("Namespace: ").append(CriText.fromLabels(c.getLabelsMap(), CriText.POD_NAMESPACE_LABEL)).append('\n');
                    if (!c.getMetadata().getName().isEmpty()) {
                        out.append("Name: ").append(c.getMetadata().getName()).append('\n');
                    }
                    out.append("Attempt: ").append(Integer.toUnsignedString(c.getMetadata().getAttempt())).append('\n');
                    out.append("State: ").append(CriText.state(c.getState())).append('\n');
                    if (c.hasImage()) {
                        out.append("Image: ").append(c.getImage().getImage()).append('\n');
                    }
                    out.append("Created: ").append(CriText.ago(c.getCreatedAt(), now)).append('\n');
                    PodCommands.appendMap(out, "Labels", c.getLabelsMap());
                    PodCommands.appendMap(out, "Annotations", c.getAnnotationsMap());
                    out.append('\n');
                }
                return out.toString();
            }
            var table = new Table("CONTAINER", "IMAGE", "CREATED", "STATE", "NAME", "ATTEMPT", "POD ID", "POD", "NAMESPACE")
                    .minWidth(20);
            for (Container c : containers) {
                String image = c.getImage().getImage();
                table.row(noTrunc ? c.getId() : CriText.truncate(c.getId()),
                        noTrunc ? image : CriText.shortImage(image),
                        CriText.ago(c.getCreatedAt(), now), CriText.state(c.getState()), c.getMetadata().getName(),
                        Integer.toUnsignedString(c.getMetadata().getAttempt()),
                        noTrunc ? c.getPodSandboxId() : CriText.truncate(c.getPodSandboxId()),
                        CriText.fromLabels(c.getLabelsMap(), CriText.POD_NAME_LABEL),
                        CriText.fromLabels(c.getLabelsMap(), CriText.POD_NAMESPACE_LABEL));
            }
            return table.render();
        }
    }

    /** crictl's container status document: readable createdAt, startedAt and finishedAt. */
    static JsonObject statusJson(ContainerStatus status) {
        var json = Output.toJson(status).getAsJsonObject();
        json.add("createdAt", new JsonPrimitive(CriText.rfc3339Nano(status.getCreatedAt())));
        boolean started = status.getState() != ContainerState.CONTAINER_CREATED;
        boolean finished = status.getState() == ContainerState.CONTAINER_EXITED
                || (status.getState() == ContainerState.CONTAINER_UNKNOWN && status.getFinishedAt() > 0);
        json.add("startedAt", new JsonPrimitive(started ? CriText.rfc3339Nano(status.getStartedAt()) : CriText.GO_ZERO_TIME));
        json.add("finishedAt", new JsonPrimitive(finished ? CriText.rfc3339Nano(status.getFinishedAt()) : CriText.GO_ZERO_TIME));
        return json;
    }

    @Command(name = "inspect", mixinStandardHelpOptions = true,
            description = "Display the status of one or more containers (all matching the filters when no ID is given).")
    static final class Inspect extends ClientCommand implements Callable<Integer> {
        @Parameters(paramLabel = "CONTAINER-ID", arity = "0..*")
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
                    targets = filter.list(c).stream().map(Container::getId).toList();
                    if (targets.isEmpty()) {
                        throw new CliException("no container IDs given and none matched the filters");
                    }
                }
                var docs = new ArrayList<JsonObject>();
                for (String id : targets) {
                    var response = c.runtime(stub -> stub.containerStatus(
                            ContainerStatusRequest.newBuilder().setContainerId(id).setVerbose(!quiet).build()));
                    docs.add(CriText.statusDocument(statusJson(response.getStatus()), response.getInfoMap()));
                }
                System.out.print(CriText.renderStatuses(docs, format));
                return 0;
            });
        }
    }

    @Command(name = "exec", mixinStandardHelpOptions = true,
            description = "Run a command in a running container and exit with its exit code: streamed through the"
                    + " daemon's streaming server (Exec), or with -s/--sync or --timeout through ExecSync.")
    static final class Exec extends ClientCommand implements Callable<Integer> {
        @Parameters(index = "0", paramLabel = "CONTAINER-ID")
        String id;

        @Parameters(index = "1..*", arity = "1..*", paramLabel = "COMMAND [ARG...]")
        List<String> command;

        @Option(names = {"-s", "--sync"}, description = "Run the command synchronously (ExecSync: output captured, then printed).")
        boolean sync;

        @Option(names = "--timeout", paramLabel = "SECONDS", description = "Timeout in seconds (0: none); implies --sync.")
        long timeout;

        @Option(names = {"-i", "--interactive"}, description = "Keep STDIN open and send it to the command.")
        boolean interactive;

        @Option(names = {"-t", "--tty"}, description = "Allocate a pseudo-TTY (the local terminal goes raw).")
        boolean tty;

        @Option(names = "--transport", paramLabel = "spdy|websocket", defaultValue = "spdy",
                description = "Streaming transport (default: ${DEFAULT-VALUE}).")
        String transport;

        @Override
        public Integer call() {
            if (sync || timeout > 0) {
                if (interactive || tty) {
                    throw new CliException("exec: -i/-t cannot be combined with --sync/--timeout (ExecSync has no stdin nor TTY)");
                }
                return execSync();
            }
            return StreamCommands.streamExec(this, id, command, interactive, tty, StreamCommands.transport(transport));
        }

        private int execSync() {
            var request = ExecSyncRequest.newBuilder().setContainerId(id).addAllCmd(command).setTimeout(timeout).build();
            ExecSyncResponse response = withClient(c -> c.runtimeFor(timeout, stub -> stub.execSync(request)));
            System.out.write(response.getStdout().toByteArray(), 0, response.getStdout().size());
            System.out.flush();
            System.err.write(response.getStderr().toByteArray(), 0, response.getStderr().size());
            System.err.flush();
            return response.getExitCode();
        }
    }

    @Command(name = "update", mixinStandardHelpOptions = true,
            description = "Update the resources of one or more running containers (Linux).")
    static final class Update extends ClientCommand implements Callable<Integer> {
        @Parameters(paramLabel = "CONTAINER-ID", arity = "1..*")
        List<String> ids;

        @Option(names = "--cpu-period", description = "CPU CFS period (usecs); 0 for the system default.")
        long cpuPeriod;

        @Option(names = "--cpu-quota", description = "CPU CFS quota (usecs) allowed in a period.")
        long cpuQuota;

        @Option(names = {"--cpu-share", "--cpu-shares"}, description = "CPU shares (relative weight).")
        long cpuShares;

        @Option(names = "--memory", description = "Memory limit in bytes.")
        long memory;

        @Option(names = "--cpuset-cpus", description = "CPUs to use (e.g. 0-2,4).")
        String cpusetCpus;

        @Option(names = "--cpuset-mems", description = "Memory nodes to use.")
        String cpusetMems;

        @Option(names = "--oom-score-adj", description = "OOM killer score adjustment.")
        long oomScoreAdj;

        @Override
        public Integer call() {
            var linux = LinuxContainerResources.newBuilder().setCpuPeriod(cpuPeriod).setCpuQuota(cpuQuota)
                    .setCpuShares(cpuShares).setMemoryLimitInBytes(memory).setOomScoreAdj(oomScoreAdj)
                    .setCpusetCpus(Objects.requireNonNullElse(cpusetCpus, ""))
                    .setCpusetMems(Objects.requireNonNullElse(cpusetMems, "")).build();
            return withClient(c -> eachId(ids, "updating container resources for", id -> {
                c.runtime(stub -> stub.updateContainerResources(UpdateContainerResourcesRequest.newBuilder()
                        .setContainerId(id).setLinux(linux).build()));
                System.out.println(id);
            }));
        }
    }
}
