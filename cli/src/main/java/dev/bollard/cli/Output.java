package dev.bollard.cli;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.gson.JsonPrimitive;
import com.google.gson.GsonBuilder;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.MessageOrBuilder;
import com.google.protobuf.util.JsonFormat;

import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;

/** Renders results as crictl does: proto JSON (lowerCamel names, zero values included), YAML, or a table. */
final class Output {

    enum Format { JSON, YAML, TABLE }

    private static final JsonFormat.Printer PRINTER = JsonFormat.printer().alwaysPrintFieldsWithNoPresence();
    private static final Pattern PLAIN_YAML = Pattern.compile("[A-Za-z_/][A-Za-z0-9_./-]*(:[A-Za-z0-9_./-]+)*");

    private Output() {
    }

    static Format parse(String value) {
        try {
            return Format.valueOf(value.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new CliException("-o: \"" + value + "\" is not one of json, yaml, table");
        }
    }

    static JsonElement toJson(MessageOrBuilder message) {
        try {
            return JsonParser.parseString(PRINTER.print(message));
        } catch (InvalidProtocolBufferException e) {
            throw new IllegalStateException(e);
        }
    }

    static String render(JsonElement tree, Format format) {
        return switch (format) {
            case JSON, TABLE -> new GsonBuilder().setPrettyPrinting().disableHtmlEscaping().create().toJson(tree) + "\n";
            case YAML -> {
                var sb = new StringBuilder();
                yaml(tree, 0, sb);
                yield sb.toString();
            }
        };
    }

    /**
     * Block-style YAML for a JSON tree, laid out as go-yaml (and so crictl) does: a list's dashes at its key's
     * indentation, and an object in a list starting on the dash's line.
     */
    static void yaml(JsonElement e, int indent, StringBuilder out) {
        String pad = " ".repeat(indent);
        if (e instanceof JsonObject o && !o.isEmpty()) {
            for (Map.Entry<String, JsonElement> entry : o.entrySet()) {
                out.append(pad).append(scalar(new JsonPrimitive(entry.getKey()))).append(':');
                JsonElement v = entry.getValue();
                if (v instanceof JsonObject vo && !vo.isEmpty()) {
                    out.append('\n');
                    yaml(v, indent + 2, out);
                } else if (v instanceof JsonArray va && !va.isEmpty()) {
                    out.append('\n');
                    yaml(v, indent, out);
                } else {
                    out.append(' ').append(inline(v)).append('\n');
                }
            }
        } else if (e instanceof JsonArray a && !a.isEmpty()) {
            for (JsonElement item : a) {
                out.append(pad).append("- ");
                if (item instanceof JsonObject || item instanceof JsonArray) {
                    var nested = new StringBuilder();
                    yaml(item, indent + 2, nested);
                    out.append(nested, indent + 2, nested.length());
                } else {
                    out.append(scalar(item)).append('\n');
                }
            }
        } else {
            out.append(pad).append(inline(e)).append('\n');
        }
    }

    private static String inline(JsonElement e) {
        if (e instanceof JsonObject) {
            return "{}";
        }
        if (e instanceof JsonArray) {
            return "[]";
        }
        return scalar(e);
    }

    private static String scalar(JsonElement e) {
        if (e == null || e.isJsonNull()) {
            return "null";
        }
        var p = e.getAsJsonPrimitive();
        if (!p.isString()) {
            return p.getAsString();
        }
        String s = p.getAsString();
        boolean ambiguous = s.equals("true") || s.equals("false") || s.equals("null") || s.equals("~")
                || s.equalsIgnoreCase("yes") || s.equalsIgnoreCase("no");
        return PLAIN_YAML.matcher(s).matches() && !ambiguous ? s : new JsonPrimitive(s).toString();
    }
}
