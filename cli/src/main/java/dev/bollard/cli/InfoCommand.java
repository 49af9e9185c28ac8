package dev.bollard.cli;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.gson.JsonPrimitive;
import com.google.gson.JsonSyntaxException;
import dev.bollard.api.cri.v1.StatusRequest;
import dev.bollard.api.cri.v1.StatusResponse;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.util.concurrent.Callable;

@Command(name = "info", mixinStandardHelpOptions = true,
        description = "Show the runtime's status (conditions, handlers, features) and its verbose information.")
final class InfoCommand extends ClientCommand implements Callable<Integer> {

    @Option(names = {"-o", "--output"}, defaultValue = "json", description = "json (default) or yaml.")
    String output;

    @Override
    public Integer call() {
        var format = Output.parse(output);
        StatusResponse status = withClient(c -> c.runtime(stub -> stub.status(StatusRequest.newBuilder().setVerbose(true).build())));
        // Like crictl info: the status, then every verbose info entry decoded from its JSON string.
        var tree = new JsonObject();
        tree.add("status", Output.toJson(status.getStatus()));
        var handlers = new JsonArray();
        status.getRuntimeHandlersList().forEach(h -> handlers.add(Output.toJson(h)));
        tree.add("runtimeHandlers", handlers);
        tree.add("features", Output.toJson(status.getFeatures()));
        status.getInfoMap().forEach((key, value) -> {
            try {
                tree.add(key, JsonParser.parseString(value));
            } catch (JsonSyntaxException e) {
                tree.add(key, new JsonPrimitive(value));
            }
        });
        System.out.print(Output.render(tree, format == Output.Format.TABLE ? Output.Format.JSON : format));
        return 0;
    }
}
