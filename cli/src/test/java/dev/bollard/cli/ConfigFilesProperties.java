package dev.bollard.cli;

import dev.bollard.daemon.testkit.Gen;
import dev.bollard.daemon.testkit.Mutations;
import dev.bollard.daemon.testkit.Outcomes;
import dev.bollard.daemon.testkit.Tries;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.function.Function;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * crictl-style config files (JSON or YAML PodSandboxConfig / ContainerConfig) are whatever a user or a script
 * wrote: mutated documents, byte-level or structural, either give a config or a {@link CliException} naming the
 * file, never another exception (a stack trace instead of a message) and never a hang.
 */
class ConfigFilesProperties {

    private static final String POD_JSON = """
            {"metadata":{"name":"web","namespace":"default","uid":"u-1","attempt":1},
             "log_directory":"/tmp/logs","hostname":"web","dns_config":{"servers":["10.0.0.10"]},
             "port_mappings":[{"container_port":80,"host_port":8080}],"labels":{"app":"web"},
             "linux":{"security_context":{"namespace_options":{"network":"POD"}}}}
            """;
    private static final String CONTAINER_JSON = """
            {"metadata":{"name":"app"},"image":{"image":"busybox"},"command":["sh","-c","sleep 1"],
             "envs":[{"key":"A","value":"b"}],"mounts":[{"container_path":"/data","host_path":"/tmp"}],
             "log_path":"app/0.log","linux":{"resources":{"memory_limit_in_bytes":67108864},
             "security_context":{"run_as_user":{"value":1000},"capabilities":{"drop_capabilities":["ALL"]}}}}
            """;
    private static final String POD_YAML = """
            metadata:
              name: web
              namespace: default
              attempt: 1
            log_directory: /tmp/logs
            dns_config:
              servers: [10.0.0.10]
            labels: &l
              app: web
            annotations: *l
            linux:
              security_context:
                namespace_options: {network: POD}
            """;
    private static final String CONTAINER_YAML = """
            metadata: {name: app}
            image:
              image: busybox
            command: [sh, -c, "sleep 1"]
            envs:
              - key: A
                value: b
            mounts:
              - container_path: /data
                host_path: /tmp
                readonly: true
            """;

    enum Doc { POD_JSON, CONTAINER_JSON, POD_YAML, CONTAINER_YAML }

    /** A document, and the seed and count of its mutations. */
    record Mutated(Doc doc, long seed, int mutations) {
    }

    @TestFactory
    Stream<DynamicTest> mutatedBytesGiveAConfigOrAMessage() {
        var outcomes = new Outcomes();
        Gen<Doc> docs = Gen.enums(Doc.class);
        Gen<Integer> mutations = Gen.ints(0, 8);
        return Stream.concat(Tries.forAll(400, r -> new Mutated(docs.next(r), r.nextLong(), mutations.next(r)), m -> {
            byte[] bytes = Mutations.bytes(text(m.doc()).getBytes(StandardCharsets.UTF_8), m.seed(), m.mutations());
            read(m.doc(), bytes, outcomes);
        }), Stream.of(outcomes.seen("read", "refused")));
    }

    @TestFactory
    Stream<DynamicTest> mutatedJsonTreesGiveAConfigOrAMessage() {
        var outcomes = new Outcomes();
        Gen<Doc> docs = Gen.oneOf(Doc.POD_JSON, Doc.CONTAINER_JSON);
        Gen<Integer> mutations = Gen.ints(1, 6);
        return Stream.concat(Tries.forAll(300, r -> new Mutated(docs.next(r), r.nextLong(), mutations.next(r)), m -> {
            var tree = Mutations.json(com.google.gson.JsonParser.parseString(text(m.doc())), m.seed(), m.mutations());
            read(m.doc(), tree.toString().getBytes(StandardCharsets.UTF_8), outcomes);
        }), Stream.of(outcomes.seen("read", "refused")));
    }

    /** Five fixed hostile documents, each read once (jqwik, before, enumerated these five in its 20 tries). */
    @ParameterizedTest
    @ValueSource(ints = {0, 1, 2, 3, 4})
    void hostileYamlGivesAMessage(int kind) {
        String text = switch (kind) {
            case 0 -> "metadata: " + "[".repeat(20_000) + "]".repeat(20_000); // a deep nest
            case 1 -> "metadata: " + "{a: ".repeat(20_000) + "}".repeat(20_000);
            case 4 -> "metadata: " + "[".repeat(2_000) + "]".repeat(2_000); // deep, yet within the parser's stack
            case 2 -> { // the billion laughs
                var sb = new StringBuilder("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
                for (int i = 1; i < 10; i++) {
                    sb.append("a").append(i).append(": &a").append(i).append(" [");
                    sb.append(("*a" + (i - 1) + ", ").repeat(9)).append("*a").append(i - 1).append("]\n");
                }
                yield sb.append("metadata: {name: *a9}\n").toString();
            }
            case 3 -> "metadata: {name: " + "x".repeat(4 << 20) + "}"; // beyond the size a config may have
            default -> throw new IllegalStateException();
        };
        read(Doc.POD_YAML, text.getBytes(StandardCharsets.UTF_8), new Outcomes());
    }

    private static String text(Doc doc) {
        return switch (doc) {
            case POD_JSON -> POD_JSON;
            case CONTAINER_JSON -> CONTAINER_JSON;
            case POD_YAML -> POD_YAML;
            case CONTAINER_YAML -> CONTAINER_YAML;
        };
    }

    private static void read(Doc doc, byte[] bytes, Outcomes outcomes) {
        boolean pod = doc == Doc.POD_JSON || doc == Doc.POD_YAML;
        String suffix = doc == Doc.POD_JSON || doc == Doc.CONTAINER_JSON ? ".json" : ".yaml";
        Path file;
        try {
            file = Files.createTempFile("bollard-config", suffix);
            Files.write(file, bytes);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        try {
            Function<Path, Object> reader = pod ? ConfigFiles::pod : ConfigFiles::container;
            String outcome = assertTimeoutPreemptively(Duration.ofSeconds(10), () -> {
                try {
                    assertFalse(reader.apply(file) == null);
                    return "read";
                } catch (CliException e) {
                    assertTrue(e.getMessage().contains(file.toString()), e.getMessage());
                    return "refused";
                }
            });
            outcomes.count(outcome);
        } finally {
            try {
                Files.deleteIfExists(file);
            } catch (IOException e) {
                // a temp file left behind is harmless
            }
        }
    }
}
