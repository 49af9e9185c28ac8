package dev.bollard.daemon.cdi;

import com.google.gson.JsonObject;
import dev.bollard.daemon.config.BollardConfig;
import dev.bollard.daemon.log.Log;
import dev.bollard.daemon.oci.Devices;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.stream.Stream;

/**
 * The CDI devices of this node: resolves fully qualified device names to the container edits of their spec files
 * in the configured directories. The directories are read at each resolution (only when a container names a
 * device): spec files come and go with drivers, and a handful of small files costs less than watching them.
 */
public final class CdiRegistry {

    private static final Log LOG = Log.get("cdi");

    /** One device found: the spec defining it (its spec-level edits apply too) and its own edits. */
    record Found(CdiSpec spec, JsonObject edits) {
    }

    private final BollardConfig.Cdi config;

    public CdiRegistry(BollardConfig.Cdi config) {
        this.config = config;
    }

    public boolean enabled() {
        return config.enable();
    }

    /**
     * The edits for {@code names}, in the order to apply them: each spec's own edits once, before its first device's;
     * device nodes completed from the host (type, major, minor).
     *
     * @throws IllegalArgumentException for a malformed name, an ambiguous device, or a device node
     *                                  that cannot be completed
     * @throws NoSuchElementException   for a device no spec file defines
     */
    public List<JsonObject> resolve(List<String> names) throws IOException {
        if (names.isEmpty()) {
            return List.of();
        }
        if (!config.enable()) {
            // as containerd with enable_cdi off: the pod may still get its devices the classic way (config.devices)
            LOG.debug("CDI is disabled: ignoring the devices a container names", "devices", names);
            return List.of();
        }
        var parsed = new ArrayList<CdiDeviceName>();
        for (String n : new LinkedHashSet<>(names)) {
            parsed.add(CdiDeviceName.parse(n));
        }
        var errors = new ArrayList<String>();
        var specs = load(config.specDirs(), errors);
        var edits = new ArrayList<JsonObject>();
        var specsApplied = new LinkedHashSet<Path>();
        for (CdiDeviceName name : parsed) {
            Found found = find(specs, name, errors);
            if (specsApplied.add(found.spec().source()) && !found.spec().containerEdits().isEmpty()) {
                edits.add(completed(found.spec().containerEdits(), found.spec().source()));
            }
            edits.add(completed(found.edits(), found.spec().source()));
        }
        return edits;
    }

    /** Every spec file of every directory, by directory in rising priority; broken files go to {@code errors}. */
    static List<List<CdiSpec>> load(List<Path> dirs, List<String> errors) throws IOException {
        var byDir = new ArrayList<List<CdiSpec>>();
        for (Path dir : dirs) {
            var specs = new ArrayList<CdiSpec>();
            List<Path> files;
            try (Stream<Path> s = Files.list(dir)) {
                files = s.filter(p -> {
                    String f = p.getFileName().toString();
                    return (f.endsWith(".json") || f.endsWith(".yaml")) && Files.isRegularFile(p);
                }).sorted().toList();
            } catch (NoSuchFileException e) {
                files = List.of();
            }
            for (Path file : files) {
                try {
                    specs.add(CdiSpec.parse(file, Files.readString(file, StandardCharsets.UTF_8)));
                } catch (IllegalArgumentException e) {
                    LOG.warn("ignoring a CDI spec file", "error", e.getMessage());
                    errors.add(e.getMessage());
                } catch (NoSuchFileException e) {
                    // removed while we read the directory
                }
            }
            byDir.add(specs);
        }
        return byDir;
    }

    /** The device from the last directory that defines it; two files of that directory defining it: ambiguous. */
    static Found find(List<List<CdiSpec>> specs, CdiDeviceName name, List<String> errors) {
        for (int i = specs.size() - 1; i >= 0; i--) {
            var matches = new ArrayList<CdiSpec>();
            for (CdiSpec spec : specs.get(i)) {
                if (spec.kind().equals(name.kind()) && spec.devices().containsKey(name.name())) {
                    matches.add(spec);
                }
            }
            if (matches.size() > 1) {
                throw new IllegalArgumentException("CDI device " + name + " is ambiguous: defined by "
                        + String.join(" and ", matches.stream().map(s -> s.source().toString()).toList()));
            }
            if (matches.size() == 1) {
                return new Found(matches.getFirst(), matches.getFirst().devices().get(name.name()));
            }
        }
        throw new NoSuchElementException("CDI device " + name + " not found: no spec file defines it"
                + (errors.isEmpty() ? "" : " (spec files with errors, ignored: " + String.join("; ", errors) + ")"));
    }

    /** A copy of {@code edits} with each device node's host path, type and numbers filled in from the host. */
    private static JsonObject completed(JsonObject edits, Path source) throws IOException {
        if (!edits.has("deviceNodes")) {
            return edits;
        }
        JsonObject copy = edits.deepCopy();
        for (var e : copy.getAsJsonArray("deviceNodes")) {
            JsonObject node = e.getAsJsonObject();
            String path = node.get("path").getAsString();
            if (!node.has("hostPath") || node.get("hostPath").getAsString().isEmpty()) {
                node.addProperty("hostPath", path);
            }
            String type = node.has("type") ? node.get("type").getAsString() : "";
            long major = node.has("major") ? node.get("major").getAsLong() : 0;
            if (!type.isEmpty() && (major != 0 || type.equals("p"))) {
                continue;
            }
            Devices.Device host = Devices.stat(Path.of(node.get("hostPath").getAsString()),
                    "CDI device node " + path + " (" + source + ")");
            if (!type.isEmpty() && !type.equals(host.type()) && !(type.equals("u") && host.type().equals("c"))) {
                throw new IllegalArgumentException("CDI device node " + path + " (" + source + "): type " + type
                        + " does not match the host's " + host.type());
            }
            if (type.isEmpty()) {
                node.addProperty("type", host.type());
            }
            node.addProperty("major", host.major());
            node.addProperty("minor", host.minor());
        }
        return copy;
    }
}
