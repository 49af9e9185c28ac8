package dev.bollard.daemon.config;

import java.util.List;

/**
 * One documented key of the configuration schema.
 *
 * @param name         the TOML key
 * @param type         what kind of value it takes
 * @param defaultValue the embedded default (String, Boolean or Long)
 * @param doc          one or more lines of documentation, rendered as comments by {@code config default}
 * @param allowed      for string keys with a closed set of values, that set; empty otherwise
 */
public record ConfigKey(String name, Type type, Object defaultValue, String doc, List<String> allowed) {

    public enum Type {
        STRING("a string"), OPTIONAL_STRING("a string (empty for none)"), ABSOLUTE_PATH("an absolute path"), PATH("a path (absolute, or empty for none)"),
        BOOLEAN("true or false"), INTEGER("a positive integer"), PORT("a port number (0..65535)");

        final String description;

        Type(String description) {
            this.description = description;
        }
    }

    public static ConfigKey string(String name, String defaultValue, String doc, String... allowed) {
        return new ConfigKey(name, Type.STRING, defaultValue, doc, List.of(allowed));
    }

    public static ConfigKey optionalString(String name, String defaultValue, String doc) {
        return new ConfigKey(name, Type.OPTIONAL_STRING, defaultValue, doc, List.of());
    }

    public static ConfigKey absolutePath(String name, String defaultValue, String doc) {
        return new ConfigKey(name, Type.ABSOLUTE_PATH, defaultValue, doc, List.of());
    }

    public static ConfigKey optionalPath(String name, String doc) {
        return new ConfigKey(name, Type.PATH, "", doc, List.of());
    }

    public static ConfigKey positiveInt(String name, long defaultValue, String doc) {
        return new ConfigKey(name, Type.INTEGER, defaultValue, doc, List.of());
    }

    /** A TCP port where 0 means "any free port". */
    public static ConfigKey port(String name, long defaultValue, String doc) {
        return new ConfigKey(name, Type.PORT, defaultValue, doc, List.of());
    }

    public static ConfigKey bool(String name, boolean defaultValue, String doc) {
        return new ConfigKey(name, Type.BOOLEAN, defaultValue, doc, List.of());
    }
}
