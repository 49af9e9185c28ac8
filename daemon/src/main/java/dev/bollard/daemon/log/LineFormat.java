package dev.bollard.daemon.log;

import dev.bollard.daemon.config.BollardConfig.LogLevel;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.time.Instant;
import java.util.Locale;

/** Renders one log event as a logfmt or JSON line. Pure functions, so they are unit-tested directly. */
final class LineFormat {

    private LineFormat() {
    }

    static String logfmt(Instant time, LogLevel level, String logger, String msg, Throwable cause, Object... kv) {
        var sb = new StringBuilder(128);
        sb.append("time=").append(time).append(" level=").append(level.name().toLowerCase(Locale.ROOT))
                .append(" logger=").append(logfmtValue(logger))
                .append(" msg=").append(logfmtValue(msg));
        for (int i = 0; i + 1 < kv.length; i += 2) {
            sb.append(' ').append(kv[i]).append('=').append(logfmtValue(String.valueOf(kv[i + 1])));
        }
        if (cause != null) {
            sb.append(" error=").append(logfmtValue(String.valueOf(cause)));
            sb.append(" stack=").append(logfmtValue(stack(cause)));
        }
        return sb.toString();
    }

    static String json(Instant time, LogLevel level, String logger, String msg, Throwable cause, Object... kv) {
        var sb = new StringBuilder(160);
        sb.append("{\"time\":\"").append(time).append("\",\"level\":\"").append(level.name().toLowerCase(Locale.ROOT))
                .append("\",\"logger\":").append(jsonString(logger))
                .append(",\"msg\":").append(jsonString(msg));
        for (int i = 0; i + 1 < kv.length; i += 2) {
            sb.append(',').append(jsonString(String.valueOf(kv[i]))).append(':');
            Object v = kv[i + 1];
            sb.append(v instanceof Number || v instanceof Boolean ? String.valueOf(v) : jsonString(String.valueOf(v)));
        }
        if (cause != null) {
            sb.append(",\"error\":").append(jsonString(String.valueOf(cause)))
                    .append(",\"stack\":").append(jsonString(stack(cause)));
        }
        return sb.append('}').toString();
    }

    private static String stack(Throwable t) {
        var sw = new StringWriter();
        t.printStackTrace(new PrintWriter(sw));
        return sw.toString().stripTrailing();
    }

    static String logfmtValue(String s) {
        if (s == null) {
            return "\"\"";
        }
        boolean plain = !s.isEmpty();
        for (int i = 0; i < s.length() && plain; i++) {
            char c = s.charAt(i);
            plain = c > ' ' && c != '"' && c != '=' && c != '\\' && c < 0x7f;
        }
        return plain ? s : jsonString(s);
    }

    static String jsonString(String s) {
        if (s == null) {
            return "null";
        }
        var sb = new StringBuilder(s.length() + 2).append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                default -> {
                    if (c < 0x20) {
                        sb.append(String.format("\\u%04x", (int) c));
                    } else {
                        sb.append(c);
                    }
                }
            }
        }
        return sb.append('"').toString();
    }
}
