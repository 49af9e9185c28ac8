package dev.bollard.daemon.network;

import java.io.IOException;

/**
 * A CNI plugin call failed: the plugin's error JSON ({@code code}, {@code msg}, {@code details}) when it printed one,
 * else its exit status; its stderr is kept too.
 */
public class CniException extends IOException {

    /** Well-known codes of the CNI spec. */
    public static final int INCOMPATIBLE_VERSION = 1;
    public static final int UNSUPPORTED_FIELD = 2;
    public static final int UNKNOWN_CONTAINER = 3;
    public static final int INVALID_ENVIRONMENT = 4;
    public static final int IO_FAILURE = 5;
    public static final int DECODE_FAILURE = 6;
    public static final int INVALID_NETWORK_CONFIG = 7;
    public static final int TRY_AGAIN_LATER = 11;
    public static final int PLUGIN_NOT_AVAILABLE = 50;
    public static final int LIMITED_CONNECTIVITY = 51;
    /** Not a CNI code: Bollard's own for a plugin that is missing, timed out or printed no error JSON. */
    public static final int RUNTIME_FAILURE = 999;

    private final String plugin;
    private final String command;
    private final int code;
    private final String pluginMessage;
    private final String details;
    private final String stderr;

    public CniException(String plugin, String command, int code, String pluginMessage, String details, String stderr) {
        super(describe(plugin, command, code, pluginMessage, details, stderr));
        this.plugin = plugin;
        this.command = command;
        this.code = code;
        this.pluginMessage = pluginMessage == null ? "" : pluginMessage;
        this.details = details == null ? "" : details;
        this.stderr = stderr == null ? "" : stderr;
    }

    private static String describe(String plugin, String command, int code, String msg, String details,
                                   String stderr) {
        var b = new StringBuilder("CNI plugin ").append(plugin).append(' ').append(command).append(" failed");
        if (code != RUNTIME_FAILURE) {
            b.append(" (code ").append(code).append(')');
        }
        b.append(": ").append(msg == null || msg.isEmpty() ? "(no message)" : msg);
        if (details != null && !details.isEmpty()) {
            b.append(": ").append(details);
        }
        if (stderr != null && !stderr.isBlank()) {
            b.append(" [stderr: ").append(stderr.strip()).append(']');
        }
        return b.toString();
    }

    /** The plugin type (executable name). */
    public String plugin() {
        return plugin;
    }

    /** ADD, DEL, CHECK, STATUS or VERSION. */
    public String command() {
        return command;
    }

    public int code() {
        return code;
    }

    public String pluginMessage() {
        return pluginMessage;
    }

    public String details() {
        return details;
    }

    public String stderr() {
        return stderr;
    }

    /** The plugin never ran (its executable is missing or could not be executed): it did nothing to undo. */
    public static final class NotRun extends CniException {
        public NotRun(String plugin, String command, String message) {
            super(plugin, command, RUNTIME_FAILURE, message, "", "");
        }
    }
}
