package dev.bollard.daemon.config;

import dev.bollard.daemon.config.BollardConfig.CgroupDriverSetting;
import dev.bollard.daemon.config.BollardConfig.LogFormat;
import dev.bollard.daemon.config.BollardConfig.LogLevel;
import dev.bollard.daemon.config.ConfigSchema.Section;
import dev.bollard.daemon.streaming.StreamingConfig;
import org.tomlj.TomlParseResult;
import org.tomlj.TomlTable;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * Reads the TOML configuration against {@link ConfigSchema}. Every error names the file, the line and the key,
 * and the first error stops the load: a daemon never starts on a half-understood configuration.
 */
public final class ConfigLoader {

    /** RuntimeClass handler names are DNS labels (Kubernetes validates RuntimeClass.handler the same way). */
    private static final Pattern HANDLER_NAME = Pattern.compile("[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?");

    /** The result of reading a file: the configuration, and whether the file was there at all. */
    public record Loaded(BollardConfig config, boolean fileFound) {
    }

    private ConfigLoader() {
    }

    /** Loads {@code file}; a missing file means the embedded defaults. */
    public static Loaded load(Path file) throws ConfigException {
        String text;
        try {
            text = Files.readString(file);
        } catch (NoSuchFileException e) {
            return new Loaded(defaults(), false);
        } catch (IOException e) {
            throw new ConfigException(file + ": cannot read config: " + describe(e));
        }
        return new Loaded(parse(text, file.toString()), true);
    }

    public static BollardConfig defaults() {
        try {
            return parse("", "<defaults>");
        } catch (ConfigException e) {
            throw new IllegalStateException("embedded defaults do not validate: " + e.getMessage(), e);
        }
    }

    public static BollardConfig parse(String text, String source) throws ConfigException {
        TomlParseResult toml = TomlText.parse(text, source);
        var reader = new Reader(source, toml);
        return reader.read();
    }


    private static String describe(IOException e) {
        return e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
    }

    /** Walks the parsed tree once, checking names and types, then builds the typed records. */
    private static final Pattern DURATION = Pattern.compile("(\\d+)(h|ms|m|s)");

    private static final class Reader {
        private final String source;
        private final TomlParseResult toml;

        Reader(String source, TomlParseResult toml) {
            this.source = source;
            this.toml = toml;
        }

        BollardConfig read() throws ConfigException {
            for (String top : toml.keySet()) {
                var section = ConfigSchema.section(top).orElse(null);
                if (section == null) {
                    throw error(List.of(top), "unknown section or key \"" + top + "\" (known sections: "
                            + String.join(", ", ConfigSchema.sectionNames()) + ")");
                }
                if (!toml.isTable(top)) {
                    throw error(List.of(top), "\"" + top + "\" must be a table ([" + top + "])");
                }
            }
            var daemon = fixed(ConfigSchema.DAEMON);
            var runtime = fixed(ConfigSchema.RUNTIME);
            var runtimes = named(ConfigSchema.RUNTIMES);
            var registry = fixed(ConfigSchema.REGISTRY);
            var cni = fixed(ConfigSchema.CNI);
            var metrics = fixed(ConfigSchema.METRICS);
            String metricsAddress = ((String) metrics.get("address")).strip();
            if (!metricsAddress.isEmpty() && !validHostPort(metricsAddress)) {
                throw error(List.of(ConfigSchema.METRICS, "address"), "metrics.address: \"" + metricsAddress
                        + "\" is not host:port (e.g. 127.0.0.1:9323, [::1]:9323, :9323 for every address)");
            }

            var config = new BollardConfig(
                    new BollardConfig.Daemon(
                            Path.of((String) daemon.get("socket")),
                            Path.of((String) daemon.get("root")),
                            Path.of((String) daemon.get("state")),
                            LogLevel.valueOf(upper(daemon.get("log_level"))),
                            LogFormat.valueOf(upper(daemon.get("log_format"))),
                            (Boolean) daemon.get("stop_pods_on_shutdown")),
                    new BollardConfig.Runtime(
                            CgroupDriverSetting.valueOf(upper(runtime.get("cgroup_driver"))),
                            (String) runtime.get("default_runtime"),
                            (String) runtime.get("sandbox_image"),
                            Math.toIntExact((Long) runtime.get("max_container_log_line_size"))),
                    handlers(runtimes, vmSettings(runtimes)),
                    new BollardConfig.Registry(Path.of((String) registry.get("config_path")),
                            Math.toIntExact((Long) registry.get("max_concurrent_downloads")),
                            (Long) registry.get("pull_progress_timeout_seconds")),
                    new BollardConfig.Cni(Path.of((String) cni.get("conf_dir")),
                            java.util.Arrays.stream(((String) cni.get("bin_dirs")).split(":"))
                                    .filter(s -> !s.isBlank()).map(Path::of).toList(),
                            (Boolean) cni.get("write_default_config"),
                            (String) cni.get("default_bridge"),
                            (String) cni.get("default_subnet"),
                            (Long) cni.get("plugin_timeout_seconds")),
                    new BollardConfig.Metrics(metricsAddress),
                    streaming(fixed(ConfigSchema.STREAMING)),
                    cdi(fixed(ConfigSchema.CDI)),
                    nri(fixed(ConfigSchema.NRI)));
            if (!config.runtimes().containsKey(config.runtime().defaultRuntime())) {
                throw error(List.of(ConfigSchema.RUNTIME, "default_runtime"), "runtime.default_runtime: \""
                        + config.runtime().defaultRuntime() + "\" is not a configured handler (configured: "
                        + String.join(", ", config.runtimes().keySet()) + ")");
            }
            return config;
        }

        /**
         * The VM settings of each VM handler. A VM key on another handler is an error rather than ignored: it would
         * read as if it did something.
         */
        private Map<String, BollardConfig.Vm> vmSettings(Map<String, Map<String, Object>> tables) throws ConfigException {
            var settings = new LinkedHashMap<String, BollardConfig.Vm>();
            TomlTable family = toml.getTable(ConfigSchema.RUNTIMES);
            for (var entry : tables.entrySet()) {
                String name = entry.getKey();
                var values = entry.getValue();
                List<String> tablePath = List.of(ConfigSchema.RUNTIMES, name);
                String prefix = ConfigSchema.RUNTIMES + "." + name + ".";
                if (!ConfigSchema.isVmShim((String) values.get("shim"))) {
                    TomlTable table = family == null ? null : family.getTable(List.of(name));
                    for (String key : ConfigSchema.VM_KEYS) {
                        if (table != null && table.contains(List.of(key))) {
                            throw error(List.of(ConfigSchema.RUNTIMES, name, key), prefix + key
                                    + ": only a VM handler (shim = \"" + ConfigSchema.VM_SHIM + "\") takes this key");
                        }
                    }
                    continue;
                }
                long vcpus = (Long) values.get("vcpus");
                if (vcpus > ConfigSchema.VM_MAX_VCPUS) {
                    throw error(append(tablePath, "vcpus"), prefix + "vcpus: " + vcpus + " is more than "
                            + ConfigSchema.VM_MAX_VCPUS);
                }
                long memory = (Long) values.get("memory_mb");
                if (memory < ConfigSchema.VM_MIN_MEMORY_MB || memory > ConfigSchema.VM_MAX_MEMORY_MB) {
                    throw error(append(tablePath, "memory_mb"), prefix + "memory_mb: " + memory + " is outside "
                            + ConfigSchema.VM_MIN_MEMORY_MB + ".." + ConfigSchema.VM_MAX_MEMORY_MB
                            + " (MiB; the guest's root lives in its RAM)");
                }
                String hypervisor = ((String) values.get("hypervisor")).strip();
                if (hypervisor.contains("/") && !hypervisor.startsWith("/")) {
                    throw error(append(tablePath, "hypervisor"), prefix + "hypervisor: \"" + hypervisor
                            + "\" is neither a name on PATH nor an absolute path");
                }
                String kernel = (String) values.get("kernel");
                String initrd = (String) values.get("initrd");
                settings.put(name, new BollardConfig.Vm(hypervisor,
                        kernel.isEmpty() ? Optional.empty() : Optional.of(Path.of(kernel)),
                        initrd.isEmpty() ? Optional.empty() : Optional.of(Path.of(initrd)),
                        Math.toIntExact(vcpus), Math.toIntExact(memory),
                        BollardConfig.Accelerator.valueOf(upper(values.get("accelerator")))));
            }
            return settings;
        }

        private static List<String> append(List<String> path, String key) {
            var out = new ArrayList<>(path);
            out.add(key);
            return out;
        }

        private Map<String, BollardConfig.RuntimeHandler> handlers(Map<String, Map<String, Object>> tables,
                                                                   Map<String, BollardConfig.Vm> vms)
                throws ConfigException {
            var handlers = new LinkedHashMap<String, BollardConfig.RuntimeHandler>();
            for (var table : tables.entrySet()) {
                String name = table.getKey();
                var values = table.getValue();
                String root = (String) values.get("root");
                long podsPerShim = (Long) values.get("pods_per_shim");
                String binaryName = (String) values.get("binary_name");
                String shim = (String) values.get("shim");
                // runsc through the runc shim and the VM shim hold a sandbox (a gVisor kernel, a VM) per pod in
                // their shim process: sharing it would share the sandbox. (Same tests as RuntimeHandlers' isRunsc
                // and isVmShim, on the configured names.)
                boolean perPodShim = Path.of(binaryName).getFileName().toString().startsWith("runsc")
                        || Path.of(shim).getFileName().toString().startsWith("containerd-shim-bollard-vm");
                if (podsPerShim > 1 && perPodShim) {
                    throw error(List.of(ConfigSchema.RUNTIMES, name, "pods_per_shim"), ConfigSchema.RUNTIMES + "."
                            + name + ".pods_per_shim: " + podsPerShim + " is not possible for this handler ("
                            + (binaryName.contains("runsc") ? "runsc: gVisor" : "the VM shim")
                            + " runs one sandbox per shim process); leave it at 1");
                }
                if (podsPerShim > 10_000) {
                    throw error(List.of(ConfigSchema.RUNTIMES, name, "pods_per_shim"), ConfigSchema.RUNTIMES + "."
                            + name + ".pods_per_shim: " + podsPerShim + " is more than 10000");
                }
                handlers.put(name, new BollardConfig.RuntimeHandler(name, shim, binaryName,
                        root.isEmpty() ? Optional.empty() : Optional.of(Path.of(root)),
                        (Boolean) values.get("systemd_cgroup"),
                        (Boolean) values.get("privileged_without_host_devices"),
                        java.util.Arrays.stream(((String) values.get("runtime_flags")).trim().split("\\s+"))
                                .filter(f -> !f.isEmpty()).toList(),
                        (int) podsPerShim, (String) values.get("shim_grouping"),
                        Optional.ofNullable(vms.get(name))));
            }
            return handlers;
        }

        private BollardConfig.Cdi cdi(Map<String, Object> values) throws ConfigException {
            var dirs = new ArrayList<Path>();
            for (String dir : ((String) values.get("spec_dirs")).split(":")) {
                if (dir.isBlank()) {
                    continue;
                }
                if (!dir.startsWith("/")) {
                    throw error(List.of(ConfigSchema.CDI, "spec_dirs"), ConfigSchema.CDI + ".spec_dirs: \"" + dir
                            + "\" is not an absolute path");
                }
                dirs.add(Path.of(dir));
            }
            return new BollardConfig.Cdi((Boolean) values.get("enable"), dirs);
        }

        private BollardConfig.Nri nri(Map<String, Object> values) throws ConfigException {
            for (String key : List.of("socket_path", "plugin_path", "plugin_config_path")) {
                String path = (String) values.get(key);
                if (!path.startsWith("/")) {
                    throw error(List.of(ConfigSchema.NRI, key), ConfigSchema.NRI + "." + key + ": \"" + path
                            + "\" is not an absolute path");
                }
            }
            return new BollardConfig.Nri((Boolean) values.get("enable"), Path.of((String) values.get("socket_path")),
                    Path.of((String) values.get("plugin_path")), Path.of((String) values.get("plugin_config_path")),
                    duration(ConfigSchema.NRI, values, "plugin_registration_timeout"),
                    duration(ConfigSchema.NRI, values, "plugin_request_timeout"),
                    (Boolean) values.get("disable_connections"));
        }

        private StreamingConfig streaming(Map<String, Object> values) throws ConfigException {
            String cert = (String) values.get("tls_cert_file");
            String key = (String) values.get("tls_key_file");
            if (cert.isEmpty() != key.isEmpty()) {
                throw error(List.of(ConfigSchema.STREAMING, cert.isEmpty() ? "tls_key_file" : "tls_cert_file"),
                        "streaming: tls_cert_file and tls_key_file must be set together");
            }
            return new StreamingConfig(((String) values.get("address")).strip(),
                    Math.toIntExact((Long) values.get("port")),
                    cert.isEmpty() ? Optional.empty() : Optional.of(Path.of(cert)),
                    key.isEmpty() ? Optional.empty() : Optional.of(Path.of(key)),
                    duration(values, "idle_timeout"), duration(values, "stream_creation_timeout"),
                    Math.toIntExact((Long) values.get("max_streams")), duration(values, "token_ttl"));
        }

        /** Go-style durations as containerd writes them: "4h", "30s", "1m30s", "250ms". */
        private Duration duration(Map<String, Object> values, String keyName) throws ConfigException {
            return duration(ConfigSchema.STREAMING, values, keyName);
        }

        private Duration duration(String sectionName, Map<String, Object> values, String keyName) throws ConfigException {
            String text = ((String) values.get(keyName)).strip();
            var m = DURATION.matcher(text);
            Duration total = Duration.ZERO;
            int at = 0;
            while (m.find() && m.start() == at) {
                long n = Long.parseLong(m.group(1));
                total = total.plus(switch (m.group(2)) {
                    case "h" -> Duration.ofHours(n);
                    case "m" -> Duration.ofMinutes(n);
                    case "s" -> Duration.ofSeconds(n);
                    default -> Duration.ofMillis(n);
                });
                at = m.end();
            }
            if (text.isEmpty() || at != text.length() || total.isZero()) {
                throw error(List.of(sectionName, keyName), sectionName + "." + keyName + ": \""
                        + text + "\" is not a positive duration (e.g. 4h, 30s, 1m30s, 500ms)");
            }
            return total;
        }

        /** A plain section: key defaults overlaid with what the file says. */
        private Map<String, Object> fixed(String name) throws ConfigException {
            var section = ConfigSchema.section(name).orElseThrow();
            var values = keyDefaults(section, Map.of());
            TomlTable table = toml.getTable(name);
            if (table != null) {
                readKeys(section, List.of(name), table, values);
            }
            return values;
        }

        /** A family of named tables: the embedded entries, overlaid with (and extended by) the file's. */
        private Map<String, Map<String, Object>> named(String name) throws ConfigException {
            var section = ConfigSchema.section(name).orElseThrow();
            var entries = new LinkedHashMap<String, Map<String, Object>>();
            section.defaults().forEach((entry, overrides) -> entries.put(entry, keyDefaults(section, overrides)));
            TomlTable family = toml.getTable(name);
            if (family == null) {
                return entries;
            }
            for (String entry : family.keySet()) {
                var path = List.of(name, entry);
                if (!family.isTable(List.of(entry))) {
                    throw error(path, name + "." + entry + ": expected a table [" + name + "." + entry + "]");
                }
                if (!HANDLER_NAME.matcher(entry).matches()) {
                    throw error(path, name + "." + entry + ": handler names must be DNS labels"
                            + " (lower-case letters, digits and '-', at most 63 characters)");
                }
                var values = entries.computeIfAbsent(entry, e -> keyDefaults(section, Map.of()));
                readKeys(section, path, family.getTable(List.of(entry)), values);
            }
            return entries;
        }

        private static Map<String, Object> keyDefaults(Section section, Map<String, Object> overrides) {
            var values = new LinkedHashMap<String, Object>();
            for (var key : section.keys()) {
                values.put(key.name(), overrides.getOrDefault(key.name(), key.defaultValue()));
            }
            return values;
        }

        private void readKeys(Section section, List<String> tablePath, TomlTable table, Map<String, Object> into)
                throws ConfigException {
            String prefix = String.join(".", tablePath);
            for (String keyName : table.keySet()) {
                var path = new ArrayList<>(tablePath);
                path.add(keyName);
                var key = section.key(keyName).orElse(null);
                if (key == null) {
                    throw error(path, "unknown key \"" + keyName + "\" in [" + prefix + "] (known: "
                            + String.join(", ", section.keyNames()) + ")");
                }
                into.put(keyName, value(key, prefix + "." + keyName, path, table.get(List.of(keyName))));
            }
        }

        private Object value(ConfigKey key, String dotted, List<String> path, Object raw) throws ConfigException {
            switch (key.type()) {
                case BOOLEAN -> {
                    if (raw instanceof Boolean b) {
                        return b;
                    }
                }
                case INTEGER -> {
                    if (raw instanceof Long l && l > 0) {
                        return l;
                    }
                }
                case PORT -> {
                    if (raw instanceof Long l && l >= 0 && l <= 65535) {
                        return l;
                    }
                }
                case STRING, OPTIONAL_STRING, PATH, ABSOLUTE_PATH -> {
                    if (raw instanceof String s) {
                        return checkString(key, dotted, path, s);
                    }
                }
            }
            throw error(path, dotted + ": expected " + key.type().description + ", got " + TomlText.describe(raw));
        }

        private String checkString(ConfigKey key, String dotted, List<String> path, String s) throws ConfigException {
            if (!key.allowed().isEmpty() && !key.allowed().contains(s)) {
                throw error(path, dotted + ": \"" + s + "\" is not one of " + String.join(", ", key.allowed()));
            }
            boolean mustBeAbsolute = key.type() == ConfigKey.Type.ABSOLUTE_PATH
                    || (key.type() == ConfigKey.Type.PATH && !s.isEmpty());
            if (mustBeAbsolute && !s.startsWith("/")) {
                throw error(path, dotted + ": \"" + s + "\" is not an absolute path");
            }
            if (key.type() == ConfigKey.Type.STRING && key.allowed().isEmpty() && s.isBlank()) {
                throw error(path, dotted + ": must not be empty");
            }
            return s;
        }

        private ConfigException error(List<String> path, String message) {
            return new ConfigException(TomlText.at(source, toml.inputPositionOf(path)) + ": " + message);
        }
    }

    /** host:port with a port 1..65535; the host may be empty (every address) or a bracketed IPv6 literal. */
    static boolean validHostPort(String address) {
        int colon = address.lastIndexOf(':');
        if (colon < 0) {
            return false;
        }
        String host = address.substring(0, colon);
        if (host.contains(":") && !(host.startsWith("[") && host.endsWith("]"))) {
            return false;
        }
        try {
            int port = Integer.parseInt(address.substring(colon + 1));
            return port >= 1 && port <= 65535;
        } catch (NumberFormatException e) {
            return false;
        }
    }

    private static String upper(Object value) {
        return ((String) value).toUpperCase(Locale.ROOT);
    }
}
