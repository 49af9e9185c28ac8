package dev.bollard.daemon.streaming;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;

import java.nio.charset.StandardCharsets;
import java.util.OptionalInt;

/**
 * The outcome written on the error stream: for v4+ a metav1.Status JSON (exit code as the {@code ExitCode}
 * cause, as kubelet writes it and client-go reads it), for older protocols a text message (empty for success).
 */
public final class ExitStatus {

    private ExitStatus() {
    }

    public static byte[] encode(RemoteCommandProtocol protocol, int exitCode) {
        if (!protocol.jsonStatus()) {
            return exitCode == 0 ? new byte[0]
                    : ("command terminated with non-zero exit code: " + exitCode).getBytes(StandardCharsets.UTF_8);
        }
        var status = new JsonObject();
        status.add("metadata", new JsonObject());
        if (exitCode == 0) {
            status.addProperty("status", "Success");
        } else {
            status.addProperty("status", "Failure");
            status.addProperty("message", "command terminated with non-zero exit code: " + exitCode);
            status.addProperty("reason", "NonZeroExitCode");
            var cause = new JsonObject();
            cause.addProperty("reason", "ExitCode");
            cause.addProperty("message", Integer.toString(exitCode));
            var causes = new JsonArray();
            causes.add(cause);
            var details = new JsonObject();
            details.add("causes", causes);
            status.add("details", details);
        }
        return status.toString().getBytes(StandardCharsets.UTF_8);
    }

    /** A failure that is not an exit code (container not running, internal error). */
    public static byte[] encodeFailure(RemoteCommandProtocol protocol, String message) {
        if (!protocol.jsonStatus()) {
            return message.getBytes(StandardCharsets.UTF_8);
        }
        var status = new JsonObject();
        status.add("metadata", new JsonObject());
        status.addProperty("status", "Failure");
        status.addProperty("message", message);
        status.addProperty("reason", "InternalError");
        return status.toString().getBytes(StandardCharsets.UTF_8);
    }

    /** What a client makes of the error stream's content. */
    public sealed interface Outcome {
        record Exited(int code) implements Outcome {}
        record Failed(String message) implements Outcome {}
    }

    public static Outcome decode(RemoteCommandProtocol protocol, byte[] body) {
        String text = new String(body, StandardCharsets.UTF_8).strip();
        if (text.isEmpty()) {
            return new Outcome.Exited(0);
        }
        if (!protocol.jsonStatus()) {
            var code = trailingExitCode(text);
            return code.isPresent() ? new Outcome.Exited(code.getAsInt()) : new Outcome.Failed(text);
        }
        JsonObject status;
        try {
            status = JsonParser.parseString(text).getAsJsonObject();
        } catch (RuntimeException e) {
            return new Outcome.Failed("malformed status on the error stream: " + text);
        }
        if ("Success".equals(string(status.get("status")))) {
            return new Outcome.Exited(0);
        }
        if ("NonZeroExitCode".equals(string(status.get("reason"))) && status.get("details") instanceof JsonObject d
                && d.get("causes") instanceof JsonArray causes) {
            for (JsonElement c : causes) {
                if (c instanceof JsonObject cause && "ExitCode".equals(string(cause.get("reason")))) {
                    try {
                        return new Outcome.Exited(Integer.parseInt(string(cause.get("message"))));
                    } catch (NumberFormatException e) {
                        break;
                    }
                }
            }
        }
        String message = string(status.get("message"));
        return new Outcome.Failed(message == null ? text : message);
    }

    private static OptionalInt trailingExitCode(String text) {
        String prefix = "command terminated with non-zero exit code: ";
        if (text.startsWith(prefix)) {
            try {
                return OptionalInt.of(Integer.parseInt(text.substring(prefix.length()).strip()));
            } catch (NumberFormatException e) {
                return OptionalInt.empty();
            }
        }
        return OptionalInt.empty();
    }

    private static String string(JsonElement e) {
        return e != null && e.isJsonPrimitive() ? e.getAsString() : null;
    }
}
