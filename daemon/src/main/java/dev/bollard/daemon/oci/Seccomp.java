package dev.bollard.daemon.oci;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import dev.bollard.api.cri.v1.SecurityProfile;
import dev.bollard.daemon.linux.RequestedFiles;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Collection;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * Seccomp profiles for linux.seccomp. Profiles may be written in Docker's template form: a rule with
 * {@code includes.caps} applies only when the container holds all of them, one with {@code excludes.caps} only when
 * it holds none; {@code includes.arches} and {@code archMap} are understood for x86 nodes.
 */
public final class Seccomp {

    public static final String DEFAULT_PROFILE_RESOURCE = "seccomp-default.json";

    /** Docker's architecture names that apply to an x86_64 node (its own and the 32-bit ABIs it runs). */
    private static final Set<String> NODE_ARCHES = Set.of("amd64", "x86_64", "x86", "386", "x32");

    private static final JsonObject DEFAULT_TEMPLATE = loadDefault();

    private Seccomp() {
    }

    /** The selected profile after the CRI rules: a SecurityProfile wins over the deprecated path string. */
    public sealed interface Choice {
        record None() implements Choice {
        }

        record RuntimeDefault() implements Choice {
        }

        /** @param field the request field that named the file, for error messages */
        record Localhost(Path path, String field) implements Choice {
        }
    }

    /**
     * @param field names the security context field in error messages
     * @throws IllegalArgumentException for a malformed profile string or a relative localhost path
     */
    public static Choice choose(Optional<SecurityProfile> profile, String legacyPath, String field) {
        if (profile.isPresent()) {
            SecurityProfile p = profile.get();
            if (p.getProfileType() != SecurityProfile.ProfileType.Localhost && !p.getLocalhostRef().isEmpty()) {
                throw new IllegalArgumentException(field + ".seccomp: localhost_ref is only valid with profile_type Localhost");
            }
            return switch (p.getProfileType()) {
                case RuntimeDefault -> new Choice.RuntimeDefault();
                case Unconfined -> new Choice.None();
                case Localhost -> new Choice.Localhost(localPath(p.getLocalhostRef(), field + ".seccomp.localhost_ref"),
                        field + ".seccomp.localhost_ref");
                case UNRECOGNIZED -> throw new IllegalArgumentException(field + ".seccomp: unknown profile_type");
            };
        }
        return switch (legacyPath) {
            case "" , "unconfined" -> new Choice.None();
            case "runtime/default", "docker/default" -> new Choice.RuntimeDefault();
            default -> {
                if (!legacyPath.startsWith("localhost/")) {
                    throw new IllegalArgumentException(field + ".seccomp_profile_path: invalid profile \"" + legacyPath
                            + "\" (want runtime/default, docker/default, unconfined or localhost/<path>)");
                }
                yield new Choice.Localhost(localPath(legacyPath.substring("localhost/".length()),
                        field + ".seccomp_profile_path"), field + ".seccomp_profile_path");
            }
        };
    }

    private static Path localPath(String ref, String field) {
        if (ref.isEmpty() || !ref.startsWith("/")) {
            throw new IllegalArgumentException(field + ": seccomp profile path must be absolute, got \"" + ref + "\"");
        }
        return Path.of(ref);
    }

    /**
     * The linux.seccomp object for a choice, or empty for none. Pure: a localhost profile was read before
     * ({@link #readLocalhost}).
     *
     * @param localhost    the localhost profile's JSON, read by {@link #readLocalhost}; used for a Localhost choice
     * @param capabilities the container's bounding set, which decides the capability-conditional rules
     */
    public static Optional<JsonObject> profile(Choice choice, Optional<JsonObject> localhost,
                                               Collection<String> capabilities) {
        return switch (choice) {
            case Choice.None n -> Optional.empty();
            case Choice.RuntimeDefault d -> Optional.of(resolve(DEFAULT_TEMPLATE, capabilities));
            case Choice.Localhost l -> Optional.of(resolve(localhost.orElseThrow(() -> new IllegalStateException(
                    "seccomp profile " + l.path() + " was not read before the spec was built")), capabilities));
        };
    }

    /** The default profile as shipped (template form). */
    public static JsonObject defaultTemplate() {
        return DEFAULT_TEMPLATE.deepCopy();
    }

    /**
     * Docker's default profile, the largest in common use, is about 20 KiB of JSON; a profile a thousand times
     * its size is no profile but a file meant to exhaust the daemon's memory.
     */
    public static final long MAX_PROFILE_BYTES = 1 << 20;

    /**
     * Reads a localhost profile the request names: without blocking on a FIFO, only a regular file, at most
     * {@link #MAX_PROFILE_BYTES}.
     *
     * @throws IllegalArgumentException naming the field and path when the file is missing, no regular file, too
     *                                  large, or not a JSON object
     */
    public static JsonObject readLocalhost(Choice.Localhost choice) throws IOException {
        Path path = choice.path();
        String text = new String(RequestedFiles.read(path, MAX_PROFILE_BYTES, choice.field()),
                StandardCharsets.UTF_8);
        try {
            JsonElement e = JsonParser.parseString(text);
            if (!e.isJsonObject()) {
                throw new IllegalArgumentException(choice.field() + ": seccomp profile " + path
                        + " is not a JSON object");
            }
            return e.getAsJsonObject();
        } catch (JsonParseException e) {
            throw new IllegalArgumentException(choice.field() + ": seccomp profile " + path + " is not valid JSON: "
                    + e.getMessage(), e);
        }
    }

    /** A template resolved for one container: conditional rules kept or dropped, Docker-only keys removed. */
    public static JsonObject resolve(JsonObject template, Collection<String> capabilities) {
        var out = new JsonObject();
        for (String key : List.of("defaultAction", "defaultErrnoRet", "architectures", "flags", "listenerPath",
                "listenerMetadata")) {
            if (template.has(key)) {
                out.add(key, template.get(key).deepCopy());
            }
        }
        if (!out.has("defaultAction")) {
            throw new IllegalArgumentException("seccomp profile has no defaultAction");
        }
        if (!out.has("architectures") && template.has("archMap")) {
            var arches = new JsonArray();
            for (JsonElement m : template.getAsJsonArray("archMap")) {
                JsonObject map = m.getAsJsonObject();
                String arch = map.get("architecture").getAsString();
                if (arch.equals("SCMP_ARCH_X86_64")) {
                    arches.add(arch);
                    if (map.has("subArchitectures")) {
                        map.getAsJsonArray("subArchitectures").forEach(arches::add);
                    }
                }
            }
            out.add("architectures", arches);
        }
        var syscalls = new JsonArray();
        if (template.has("syscalls")) {
            for (JsonElement r : template.getAsJsonArray("syscalls")) {
                JsonObject rule = r.getAsJsonObject();
                if (!applies(rule, capabilities)) {
                    continue;
                }
                var kept = new JsonObject();
                for (var e : rule.entrySet()) {
                    switch (e.getKey()) {
                        case "includes", "excludes", "comment", "comments" -> {
                        }
                        case "name" -> {
                            // Docker's older single-name form
                            var names = new JsonArray();
                            names.add(e.getValue());
                            kept.add("names", names);
                        }
                        default -> kept.add(e.getKey(), e.getValue().deepCopy());
                    }
                }
                syscalls.add(kept);
            }
        }
        out.add("syscalls", syscalls);
        return out;
    }

    private static boolean applies(JsonObject rule, Collection<String> capabilities) {
        if (rule.has("includes")) {
            JsonObject inc = rule.getAsJsonObject("includes");
            if (inc.has("caps")) {
                for (JsonElement c : inc.getAsJsonArray("caps")) {
                    if (!capabilities.contains(c.getAsString())) {
                        return false;
                    }
                }
            }
            if (inc.has("arches")) {
                boolean any = false;
                for (JsonElement a : inc.getAsJsonArray("arches")) {
                    any |= NODE_ARCHES.contains(a.getAsString());
                }
                if (!any) {
                    return false;
                }
            }
        }
        if (rule.has("excludes")) {
            JsonObject exc = rule.getAsJsonObject("excludes");
            if (exc.has("caps")) {
                for (JsonElement c : exc.getAsJsonArray("caps")) {
                    if (capabilities.contains(c.getAsString())) {
                        return false;
                    }
                }
            }
            if (exc.has("arches")) {
                for (JsonElement a : exc.getAsJsonArray("arches")) {
                    if (NODE_ARCHES.contains(a.getAsString())) {
                        return false;
                    }
                }
            }
        }
        return true;
    }

    private static JsonObject loadDefault() {
        try (InputStream in = Seccomp.class.getResourceAsStream(DEFAULT_PROFILE_RESOURCE)) {
            if (in == null) {
                throw new IllegalStateException("resource dev/bollard/daemon/oci/" + DEFAULT_PROFILE_RESOURCE + " is missing");
            }
            return JsonParser.parseString(new String(in.readAllBytes(), StandardCharsets.UTF_8)).getAsJsonObject();
        } catch (IOException e) {
            throw new IllegalStateException("cannot read the default seccomp profile", e);
        }
    }
}
