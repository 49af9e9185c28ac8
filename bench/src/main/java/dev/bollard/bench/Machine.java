package dev.bollard.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The machine a result was measured on. */
final class Machine {

    private Machine() {
    }

    static Map<String, Object> describe() {
        var m = new LinkedHashMap<String, Object>();
        m.put("nproc", Runtime.getRuntime().availableProcessors());
        m.put("cpu", firstLine("/proc/cpuinfo", "model name"));
        m.put("memTotal", firstLine("/proc/meminfo", "MemTotal"));
        m.put("kernel", Workspace.run(List.of("uname", "-srm")));
        m.put("cgroups", Workspace.run(List.of("sh", "-c",
                "if [ -f /sys/fs/cgroup/cgroup.controllers ]; then echo unified; "
                        + "elif [ -d /sys/fs/cgroup/unified ]; then echo hybrid; else echo legacy; fi")));
        m.put("rootFilesystem", Workspace.run(List.of("findmnt", "-no", "FSTYPE", "-T", "/tmp")));
        String javaHome = System.getenv().getOrDefault("BOLLARD_JAVA_HOME", "/usr/lib/jvm/temurin-25-jdk-amd64");
        m.put("java", Workspace.run(List.of(javaHome + "/bin/java", "-version")).replace('\n', ';'));
        m.put("containerd", Workspace.run(List.of("containerd", "--version")));
        m.put("runc", Workspace.run(List.of("runc", "--version")).lines().findFirst().orElse(""));
        return m;
    }

    private static String firstLine(String file, String key) {
        try {
            return Files.readAllLines(Path.of(file)).stream().filter(l -> l.startsWith(key))
                    .map(l -> l.substring(l.indexOf(':') + 1).trim()).findFirst().orElse("");
        } catch (IOException e) {
            return "";
        }
    }
}
