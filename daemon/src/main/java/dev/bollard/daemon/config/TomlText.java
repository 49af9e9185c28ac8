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
