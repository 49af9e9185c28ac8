package dev.bollard.cli;

import dev.bollard.api.cri.v1.CheckpointContainerRequest;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

/** crictl's {@code checkpoint}: CheckpointContainer for one or more running containers, each into an archive. */
@Command(name = "checkpoint", mixinStandardHelpOptions = true,
        description = "Checkpoint one or more running containers (CRIU); they keep running.")
final class CheckpointCommand extends ClientCommand implements Callable<Integer> {

    /** CRIU dumps a container's whole memory, which takes longer than a usual call. */
    static final long CHECKPOINT_SECONDS = 300;

    @Parameters(paramLabel = "CONTAINER-ID", arity = "1..*")
    List<String> ids;

    @Option(names = {"-e", "--export"}, required = true, paramLabel = "FILE",
            description = "The checkpoint archive (tar) to write; with several containers, each gets FILE-<id>.")
    Path export;

    @Override
    public Integer call() {
        String location = export.toAbsolutePath().toString();
        return withClient(c -> eachId(ids, "checkpointing the container", id -> {
            String target = ids.size() == 1 ? location : location + "-" + id;
            c.runtimeFor(CHECKPOINT_SECONDS, stub -> stub.checkpointContainer(CheckpointContainerRequest.newBuilder()
                    .setContainerId(id).setLocation(target).build()));
            System.out.println(id);
        }));
    }
}
