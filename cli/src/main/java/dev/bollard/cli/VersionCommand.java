package dev.bollard.cli;

import dev.bollard.api.cri.v1.VersionRequest;
import dev.bollard.api.cri.v1.VersionResponse;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.util.concurrent.Callable;

@Command(name = "version", mixinStandardHelpOptions = true, description = "Show the runtime's name and versions.")
final class VersionCommand extends ClientCommand implements Callable<Integer> {

    @Option(names = {"-o", "--output"}, defaultValue = "table", description = "json, yaml or table (default).")
    String output;

    @Override
    public Integer call() {
        var format = Output.parse(output);
        VersionResponse v = withClient(c -> c.runtime(stub -> stub.version(VersionRequest.newBuilder().setVersion("v1").build())));
        if (format == Output.Format.TABLE) {
            // crictl's layout, which scripts grep
            System.out.println("Version:  " + v.getVersion());
            System.out.println("RuntimeName:  " + v.getRuntimeName());
            System.out.println("RuntimeVersion:  " + v.getRuntimeVersion());
            System.out.println("RuntimeApiVersion:  " + v.getRuntimeApiVersion());
        } else {
            System.out.print(Output.render(Output.toJson(v), format));
        }
        return 0;
    }
}
