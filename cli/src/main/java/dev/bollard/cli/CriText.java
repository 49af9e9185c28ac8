package dev.bollard.cli;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.gson.JsonPrimitive;
import com.google.gson.JsonSyntaxException;
import dev.bollard.api.cri.v1.ContainerState;
import dev.bollard.api.cri.v1.PodSandboxState;

import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/** How crictl words and formats pods and containers: states, ages, short IDs, timestamps, status documents. */
final class CriText {

    static final String POD_NAME_LABEL = "io.kubernetes.pod.name";
    static final String POD_NAMESPACE_LABEL = "io.kubernetes.pod.namespace";

    private static final Pattern DIGEST = Pattern.compile("[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-fA-F0-9]{32,}");
    private static final DateTimeFormatter GO_TIME_STRING =
            DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss.SSSSSSSSS xx z");

    private CriText() {
    }

    /** go-units' HumanDuration, which crictl prints as "N units ago". */
    static String humanDuration(Duration d) {
        long seconds = d.toSeconds();
        if (seconds < 1) {
            return "Less than a second";
        }
        if (seconds == 1) {
            return "1 second";
        }
        if (seconds < 60) {
            return seconds + " seconds";
        }
        long minutes = d.toMinutes();
        if (minutes == 1) {
            return "About a minute";
        }
        if (minutes < 60) {
            return minutes + " minutes";
        }
        long hours = (long) (d.toMillis() / 3_600_000.0 + 0.5); // rounded, as go-units does for hours
        if (hours == 1) {
            return "About an hour";
        }
        if (hours < 48) {
            return hours + " hours";
        }
        if (hours < 24 * 7 * 2) {
            return hours / 24 + " days";
        }
        if (hours < 24 * 30 * 2) {
            return hours / 24 / 7 + " weeks";
        }
        if (hours < 24 * 365 * 2) {
            return hours / 24 / 30 + " months";
        }
        return d.toHours() / 24 / 365 + " years";
    }

    static String ago(long createdAtNanos, Instant now) {
        return humanDuration(Duration.between(instant(createdAtNanos), now)) + " ago";
    }

    static Instant instant(long unixNanos) {
        return Instant.ofEpochSecond(Math.floorDiv(unixNanos, 1_000_000_000L), Math.floorMod(unixNanos, 1_000_000_000L));
    }

    /** crictl's 13-character IDs (unless --no-trunc). */
    static String truncate(String id) {
        return id.length() > 13 ? id.substring(0, 13) : id;
    }

    /** An image column: a digest (kubelet passes image IDs) shortened to its first 13 hex digits. */
    static String shortImage(String image) {
        if (DIGEST.matcher(image).matches()) {
            return truncate(image.substring(image.indexOf(':') + 1));
        }
        return image;
    }

    static String state(PodSandboxState state) {
        return switch (state) {
            case SANDBOX_READY -> "Ready";
            case SANDBOX_NOTREADY -> "NotReady";
            case UNRECOGNIZED -> "Unknown";
        };
    }

    static String state(ContainerState state) {
        return switch (state) {
            case CONTAINER_CREATED -> "Created";
            case CONTAINER_RUNNING -> "Running";
            case CONTAINER_EXITED -> "Exited";
            case CONTAINER_UNKNOWN, UNRECOGNIZED -> "Unknown";
        };
    }

    static String fromLabels(Map<String, String> labels, String key) {
        return labels.getOrDefault(key, "unknown");
    }

    /** Go's RFC3339Nano in the local zone: fraction without trailing zeros, "Z" for UTC. */
    static String rfc3339Nano(long unixNanos) {
        return rfc3339Nano(instant(unixNanos), ZoneId.systemDefault());
    }

    static String rfc3339Nano(Instant instant, ZoneId zone) {
        return DateTimeFormatter.ISO_OFFSET_DATE_TIME.format(instant.atZone(zone).toOffsetDateTime());
    }

    /** Go's zero time.Time, which crictl prints for a container's start or finish that has not happened. */
    static final String GO_ZERO_TIME = "0001-01-01T00:00:00Z";

    /** Go's time.Time String() ("2006-01-02 15:04:05.999999999 -0700 MST"), as crictl's -v listings print it. */
    static String goTimeString(long unixNanos) {
        var t = instant(unixNanos).atZone(ZoneId.systemDefault());
        String s = GO_TIME_STRING.format(t);
        // Go drops the fraction's trailing zeros (and the dot with them).
        int dot = s.indexOf('.');
        int end = dot + 10;
        String fraction = s.substring(dot + 1, end).replaceAll("0+$", "");
        return s.substring(0, dot) + (fraction.isEmpty() ? "" : "." + fraction) + s.substring(end);
    }

    /** {@code --label k=v} as crictl parses it: exactly one '='. */
    static Map<String, String> labels(List<String> specs) {
        var labels = new LinkedHashMap<String, String>();
        if (specs == null) {
            return labels;
        }
        for (String s : specs) {
            String[] pair = s.split("=", -1);
            if (pair.length != 2) {
                throw new CliException("incorrectly specified label: " + s + " (expected key=value)");
            }
            labels.put(pair[0], pair[1]);
        }
        return labels;
    }

    /** A --name or --namespace pattern: unanchored like Go's regexp.MatchString; null when not given. */
    static Pattern regex(String flag, String pattern) {
        if (pattern == null || pattern.isEmpty()) {
            return null;
        }
        try {
            return Pattern.compile(pattern);
        } catch (PatternSyntaxException e) {
            throw new CliException(flag + ": invalid regular expression \"" + pattern + "\": " + e.getDescription());
        }
    }

    static boolean matches(Pattern pattern, String value) {
        return pattern == null || pattern.matcher(value).find();
    }

    /** How many of a newest-first list to keep: all, 1 for --latest, N for --last N. */
    static <T> List<T> newest(List<T> sortedNewestFirst, boolean latest, int last) {
        int n = sortedNewestFirst.size();
        if (latest) {
            n = 1;
        }
        if (last > 0) {
            n = last;
        }
        return sortedNewestFirst.subList(0, Math.min(n, sortedNewestFirst.size()));
    }

    /**
     * One entry of crictl's inspect output: {@code status} (timestamps readable), then each verbose info key in
     * sorted order, a value that is a JSON object decoded, any other value a string with its quotes trimmed.
     */
    static JsonObject statusDocument(JsonObject status, Map<String, String> info) {
        var doc = new JsonObject();
        doc.add("status", status);
        new TreeMap<>(info).forEach((key, value) -> {
            JsonElement element = null;
            if (value.startsWith("{")) {
                try {
                    element = JsonParser.parseString(value);
                } catch (JsonSyntaxException e) {
                    element = null;
                }
            }
            doc.add(key, element != null ? element : new JsonPrimitive(trimQuotes(value)));
        });
        return doc;
    }

    private static String trimQuotes(String s) {
        int start = 0;
        int end = s.length();
        while (start < end && s.charAt(start) == '"') {
            start++;
        }
        while (end > start && s.charAt(end - 1) == '"') {
            end--;
        }
        return s.substring(start, end);
    }

    /** One document alone, several as an array (crictl's "old behavior" for a single ID). */
    static String renderStatuses(List<JsonObject> docs, Output.Format format) {
        JsonElement tree;
        if (docs.size() == 1) {
            tree = docs.getFirst();
        } else {
            var array = new JsonArray();
            docs.forEach(array::add);
            tree = array;
        }
        return Output.render(tree, format == Output.Format.TABLE ? Output.Format.JSON : format);
    }
}
