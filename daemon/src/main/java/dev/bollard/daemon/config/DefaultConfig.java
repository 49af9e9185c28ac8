package dev.bollard.daemon.config;

import java.util.Map;
import java.util.stream.Collectors;

/** Renders {@link ConfigSchema} as a commented TOML file: the output of {@code bollard config default}. */
public final class DefaultConfig {

    private DefaultConfig() {
    }

    public static String render() {
        var out = new StringBuilder();
        out.append("# Bollard configuration (TOML). Default location: /etc/bollard/bollard.toml; a missing file means\n")
                .append("# exactly these defaults. Every key is optional, and unknown keys are an error.\n");
        for (var section : ConfigSchema.SECTIONS) {
            out.append('\n');
            comment(out, section.doc());
            if (section.named()) {
                section.defaults().forEach((name, overrides) -> table(out, section, section.name() + "." + name, overrides));
            } else {
                table(out, section, section.name(), Map.of());
            }
        }
        return out.toString().replaceAll("\n{3,}", "\n\n").stripTrailing() + "\n";
    }

    private static void table(StringBuilder out, ConfigSchema.Section section, String header, Map<String, Object> overrides) {
        out.append('[').append(header).append("]\n");
        boolean vm = section.name().equals(ConfigSchema.RUNTIMES)
                && ConfigSchema.isVmShim((String) overrides.getOrDefault("shim", section.key("shim").orElseThrow().defaultValue()));
        for (var key : section.keys()) {
            if (section.name().equals(ConfigSchema.RUNTIMES) && !vm && ConfigSchema.VM_KEYS.contains(key.name())) {
                continue;
            }
            comment(out, key.doc());
            if (!key.allowed().isEmpty()) {
                out.append("# One of: ").append(String.join(", ", key.allowed())).append(".\n");
            }
            out.append(key.name()).append(" = ").append(literal(overrides.getOrDefault(key.name(), key.defaultValue())))
                    .append('\n');
        }
        out.append('\n');
    }

    private static void comment(StringBuilder out, String doc) {
        out.append(doc.lines().map(line -> "# " + line).collect(Collectors.joining("\n"))).append('\n');
    }

    private static String literal(Object value) {
        if (value instanceof String s) {
            return '"' + s.replace("\\", "\\\\").replace("\"", "\\\"") + '"';
        }
        return String.valueOf(value);
    }
}
