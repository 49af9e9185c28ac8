package dev.bollard.daemon.config;

import org.tomlj.TomlArray;
import org.tomlj.TomlPosition;
import org.tomlj.TomlTable;

/** How TOML errors name places and values, the same in every file Bollard reads (bollard.toml, hosts.toml). */
public final class TomlText {

    private TomlText() {
    }

    /** {@code file:line}, or just the file when the position is unknown. */
    public static String at(String source, TomlPosition position) {
        return position == null ? source : source + ":" + position.line();
    }

    /**
     * Parses {@code text}, failing with a ConfigException naming {@code source} and the line on a syntax error,
     * including those tomlj throws instead of listing (an invalid escape in a quoted key).
     */
    public static org.tomlj.TomlParseResult parse(String text, String source) throws ConfigException {
        org.tomlj.TomlParseResult toml;
        try {
            toml = org.tomlj.Toml.parse(text);
        } catch (org.tomlj.TomlParseError e) {
            throw new ConfigException(at(source, e.position()) + ": TOML syntax error: " + bare(e.getMessage()));
        } catch (RuntimeException e) {
            throw new ConfigException(source + ": TOML syntax error: " + e.getMessage());
        }
        if (toml.hasErrors()) {
            var error = toml.errors().getFirst();
            throw new ConfigException(at(source, error.position()) + ": TOML syntax error: " + bare(error.getMessage()));
        }
        return toml;
    }

    private static String bare(String message) {
        return String.valueOf(message).replaceFirst(" \\(line \\d+, column \\d+\\)$", "");
    }

    /** A parsed value as an error message names it: {@code the string "x"}, {@code an array}… */
    public static String describe(Object raw) {
        return switch (raw) {
            case String s -> "the string \"" + s + "\"";
            case Boolean b -> "the boolean " + b;
            case Long l -> "the integer " + l;
            case Double d -> "the float " + d;
            case TomlTable t -> "a table";
            case TomlArray a -> "an array";
            case null -> "nothing";
            default -> "a " + raw.getClass().getSimpleName();
        };
    }
}
