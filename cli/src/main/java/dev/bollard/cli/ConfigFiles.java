package dev.bollard.cli;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.gson.JsonPrimitive;
import com.google.gson.JsonParseException;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import com.google.protobuf.util.JsonFormat;
import dev.bollard.api.cri.v1.ContainerConfig;
import dev.bollard.api.cri.v1.PodSandboxConfig;
import org.snakeyaml.engine.v2.api.Load;
import org.snakeyaml.engine.v2.api.LoadSettings;
import org.snakeyaml.engine.v2.exceptions.YamlEngineException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Date;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;

/**
 * Pod and container config files as crictl reads them: JSON or YAML of {@code PodSandboxConfig} /
 * {@code ContainerConfig}. Keys may be proto field names ({@code log_directory}, what crictl's examples use) or
 * their JSON names ({@code logDirectory}). Unlike crictl, an unknown key is an error that names it and the file.
 */
final class ConfigFiles {

    private static final JsonFormat.Parser PARSER = JsonFormat.parser();

    private ConfigFiles() {
    }

    static PodSandboxConfig pod(Path file) {
        var builder = PodSandboxConfig.newBuilder();
        merge(file, builder);
        if (!builder.hasMetadata()) {
            throw new CliException(file + ": pod config has no metadata");
        }
        var metadata = builder.getMetadataBuilder();
        if (metadata.getName().isEmpty() || metadata.getNamespace().isEmpty()) {
            throw new CliException(file + ": pod config metadata needs a name and a namespace");
        }
        if (metadata.getUid().isEmpty()) {
            // As crictl does: a pod needs a unique UID, and hand-written configs rarely carry one.
            metadata.setUid(UUID.randomUUID().toString());
        }
        return builder.build();
    }

    static ContainerConfig container(Path file) {
        var builder = ContainerConfig.newBuilder();
        merge(file, builder);
        if (!builder.hasMetadata() || builder.getMetadata().getName().isEmpty()) {
            throw new CliException(file + ": container config metadata needs a name");
        }
        if (builder.getImage().getImage().isEmpty()) {
            throw new CliException(file + ": container config names no image (image: {image: ...})");
        }
        return builder.build();
    }

    /**
     * The largest pod or container config read. Real ones are a few KiB; the YAML parser needs seconds per MiB of a
     * hostile scalar, so a larger file is refused before it is parsed.
     */
    static final long MAX_CONFIG_BYTES = 1 << 20;

    private static void merge(Path file, Message.Builder builder) {
        String text;
        try {
            long size = Files.size(file);
            if (size > MAX_CONFIG_BYTES) {
                throw new CliException(file + ": " + size + " bytes, larger than a config may be ("
                        + MAX_CONFIG_BYTES + ")");
            }
            text = Files.readString(file);
        } catch (NoSuchFileException e) {
            throw new CliException("config at " + file + " not found");
        } catch (IOException e) {
            throw new CliException("cannot read " + file + ": " + e.getMessage());
        }
        JsonElement tree = isJson(file, text) ? parseJson(file, text) : parseYaml(file, text);
        if (!(tree instanceof JsonObject)) {
            throw new CliException(file + ": expected an object of " + builder.getDescriptorForType().getName()
                    + " fields at the top level");
        }
        try {
            PARSER.merge(tree.toString(), builder);
        } catch (InvalidProtocolBufferException e) {
            throw new CliException(file + ": not a valid " + builder.getDescriptorForType().getName() + ": "
                    + e.getMessage());
        }
    }

    private static boolean isJson(Path file, String text) {
        String name = file.getFileName().toString().toLowerCase(Locale.ROOT);
        if (name.endsWith(".json")) {
            return true;
        }
        if (name.endsWith(".yaml") || name.endsWith(".yml")) {
            return false;
        }
        return text.stripLeading().startsWith("{");
    }

    private static JsonElement parseJson(Path file, String text) {
        try {
            return JsonParser.parseString(text);
        } catch (JsonParseException e) {
            throw new CliException(file + ": invalid JSON: " + e.getMessage());
        }
    }

    static JsonElement parseYaml(Path file, String text) {
        try {
            Object doc = new Load(LoadSettings.builder().setLabel(file.toString()).build()).loadFromString(text);
            return toJson(doc);
        } catch (YamlEngineException e) {
            throw new CliException(file + ": invalid YAML: " + e.getMessage().replace('\n', ' '));
        } catch (StackOverflowError e) {
            // snakeyaml-engine has no nesting limit of its own and recurses per level
            throw new CliException(file + ": invalid YAML: nested too deeply");
        }
    }

    /** The YAML document's plain Java values as a JSON tree, which JsonFormat then reads. */
    private static JsonElement toJson(Object value) {
        return switch (value) {
            case null -> JsonNull.INSTANCE;
            case Map<?, ?> map -> {
                var o = new JsonObject();
                map.forEach((k, v) -> o.add(String.valueOf(k), toJson(v)));
                yield o;
            }
            case List<?> list -> {
                var a = new JsonArray();
                list.forEach(v -> a.add(toJson(v)));
                yield a;
            }
            case Number n -> new JsonPrimitive(n);
            case Boolean b -> new JsonPrimitive(b);
            case byte[] bytes -> new JsonPrimitive(java.util.Base64.getEncoder().encodeToString(bytes));
            case Date d -> new JsonPrimitive(d.toInstant().toString());
            default -> new JsonPrimitive(value.toString());
        };
    }
}
