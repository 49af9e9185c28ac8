package dev.bollard.daemon.cri;

import com.google.gson.JsonParser;
import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import com.google.protobuf.util.JsonFormat;
import dev.bollard.api.cri.v1.ContainerConfig;
import dev.bollard.api.cri.v1.PodSandboxConfig;
import dev.bollard.daemon.image.ImageConfigs;
import dev.bollard.daemon.oci.NodeProfile;
import dev.bollard.daemon.oci.PodContext;
import dev.bollard.daemon.oci.RequestBounds;
import dev.bollard.daemon.oci.SpecBuilder;
import dev.bollard.daemon.oci.SpecInputs;
import dev.bollard.daemon.oci.SpecInputsResolver;
import dev.bollard.daemon.testkit.Gen;
import dev.bollard.daemon.testkit.Mutations;
import dev.bollard.daemon.testkit.Outcomes;
import dev.bollard.daemon.testkit.Tries;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * CRI configs are kubelet's (or any local client's) input: random-but-typed PodSandboxConfig and ContainerConfig
 * messages, and a realistic one mutated, go through the checks CreateContainer and RunPodSandbox make
 * ({@link RequestBounds}, {@link MetadataLimits}) and the spec builder. Each either passes or throws
 * IllegalArgumentException with a message (what becomes INVALID_ARGUMENT); nothing else, and never a hang.
 */
class CriConfigProperties {

    private static final NodeProfile NODE = new NodeProfile(0, false, false, true, false, false);
    private static final SpecBuilder BUILDER = new SpecBuilder(NODE);
    private static final ImageConfigs.Parsed IMAGE = new ImageConfigs.Parsed(List.of(), ImageConfigs.User.NONE,
            JsonParser.parseString("{\"config\":{\"Cmd\":[\"/bin/sh\"],\"Env\":[\"PATH=/bin\"]}}")
                    .getAsJsonObject());

    private static final String CONTAINER = """
            {"metadata":{"name":"app","attempt":1},"image":{"image":"sha256:abc"},"command":["/bin/sh"],
             "args":["-c","sleep 1"],"working_dir":"/work","envs":[{"key":"A","value":"b"}],
             "mounts":[{"container_path":"/data","host_path":"/tmp","readonly":true,"propagation":1}],
             "devices":[{"container_path":"/dev/fuse","host_path":"/dev/fuse","permissions":"rwm"}],
             "labels":{"l":"v"},"annotations":{"a":"b"},"log_path":"app/0.log","stdin":true,"tty":false,
             "linux":{"resources":{"cpu_period":100000,"cpu_quota":50000,"cpu_shares":512,
                      "memory_limit_in_bytes":67108864,"oom_score_adj":100,"cpuset_cpus":"0","cpuset_mems":"0",
                      "hugepage_limits":[{"page_size":"2MB","limit":0}],"unified":{"memory.high":"max"},
                      "memory_swap_limit_in_bytes":67108864},
                      "security_context":{"capabilities":{"add_capabilities":["NET_ADMIN"],
                        "drop_capabilities":["ALL"]},"run_as_user":{"value":1000},"run_as_group":{"value":1000},
                        "readonly_rootfs":true,"supplemental_groups":[5,6],"no_new_privs":true,
                        "masked_paths":["/proc/kcore"],"readonly_paths":["/proc/sys"],
                        "seccomp":{"profile_type":0},"namespace_options":{"pid":1,"ipc":0,"network":0},
                        "apparmor":{"profile_type":1},"supplemental_groups_policy":0}},
             "CDI_devices":[],"stop_signal":15}
            """;

    private static final String POD = """
            {"metadata":{"name":"web","namespace":"prod","uid":"u-1","attempt":0},"hostname":"web-0",
             "log_directory":"/var/log/pods/prod_web_u-1","dns_config":{"servers":["10.0.0.10"],
             "searches":["prod.svc.cluster.local"],"options":["ndots:5"]},
             "port_mappings":[{"protocol":0,"container_port":80,"host_port":8080,"host_ip":"127.0.0.1"}],
             "labels":{"app":"web"},"annotations":{"a":"b"},
             "linux":{"cgroup_parent":"/kubepods/podu-1","sysctls":{"net.ipv4.ip_forward":"1"},
                      "security_context":{"namespace_options":{"network":0,"pid":1,"ipc":0},
                        "run_as_user":{"value":0},"readonly_rootfs":false,"supplemental_groups":[1],
                        "seccomp":{"profile_type":0}},
                      "overhead":{"cpu_period":100000},"resources":{"cpu_quota":100000}}}
            """;

    /** The seed of a random config, or of a valid config's structural mutations, and how many. */
    record Config(long seed, boolean random, int mutations) {
    }

    @TestFactory
    Stream<DynamicTest> randomContainerConfigsBuildASpecOrAreRefused() {
        var outcomes = new Outcomes();
        return Stream.concat(Tries.forAll(400, Gen.longs(), seed -> {
            var builder = ContainerConfig.newBuilder();
            fill(builder, new Random(seed), 0);
            checkContainer(builder.build(), outcomes);
        }), Stream.of(outcomes.seen("built", "refused")));
    }

    @TestFactory
    Stream<DynamicTest> mutatedContainerConfigsBuildASpecOrAreRefused() {
        var outcomes = new Outcomes();
        Gen<Integer> mutations = Gen.ints(0, 6);
        return Stream.concat(Tries.forAll(400, r -> new Config(r.nextLong(), false, mutations.next(r)), c -> {
            var config = ContainerConfig.newBuilder();
            if (!mergeMutated(CONTAINER, c.seed(), c.mutations(), config)) {
                outcomes.count("not a ContainerConfig");
                return; // the gRPC layer never hands such bytes on
            }
            checkContainer(config.build(), outcomes);
        }), Stream.of(outcomes.seen("built", "refused")));
    }

    @TestFactory
    Stream<DynamicTest> randomAndMutatedPodConfigsBuildASpecOrAreRefused() {
        var outcomes = new Outcomes();
        Gen<Integer> mutations = Gen.ints(1, 6);
        return Stream.concat(Tries.forAll(300, r -> new Config(r.nextLong(), r.nextBoolean(), mutations.next(r)), c -> {
            var pod = PodSandboxConfig.newBuilder();
            if (c.random()) {
                fill(pod, new Random(c.seed()), 0);
            } else if (!mergeMutated(POD, c.seed(), c.mutations(), pod)) {
                outcomes.count("not a PodSandboxConfig");
                return;
            }
            var config = pod.build();
            refusedOnlyAsInvalid(() -> {
                RequestBounds.checkPodSandbox(config);
                MetadataLimits.check(config);
                BUILDER.sandboxSpec(context(config), "sb1", List.of("/pause"), SpecInputs.Sandbox.NONE);
            }, outcomes);
        }), Stream.of(outcomes.seen("built", "refused")));
    }

    private static void checkContainer(ContainerConfig config, Outcomes outcomes) {
        var pod = context(PodSandboxConfig.newBuilder().build());
        refusedOnlyAsInvalid(() -> {
            RequestBounds.checkContainer(config);
            MetadataLimits.check(config);
            var inputs = SpecInputsResolver.container(pod, config, path -> Optional.empty(), 0,
                    SpecInputs.Handler.DEFAULT);
            BUILDER.containerSpec(pod, "c1", config, IMAGE, inputs);
        }, outcomes);
    }

    private interface Step {
        void run() throws Exception;
    }

    private static void refusedOnlyAsInvalid(Step step, Outcomes outcomes) {
        String outcome = assertTimeoutPreemptively(Duration.ofSeconds(10), () -> {
            try {
                step.run();
                return "built";
            } catch (IllegalArgumentException e) {
                assertTrue(e.getMessage() != null && !e.getMessage().isBlank(), "a refusal without a message");
                return "refused";
            }
        });
        outcomes.count(outcome);
    }

    private static PodContext context(PodSandboxConfig config) {
        return new PodContext("sb1", config, Optional.of(Path.of("/run/netns/sb1")), 4242,
                Path.of("/nonexistent/hostname"), Path.of("/nonexistent/hosts"), Path.of("/nonexistent/resolv.conf"),
                Optional.of(Path.of("/run/sb1/shm")), "/kubepods/podabc", "runc", "pause");
    }

    private static boolean mergeMutated(String json, long seed, int mutations, Message.Builder into) {
        var tree = Mutations.json(JsonParser.parseString(json), seed, mutations);
        try {
            JsonFormat.parser().merge(tree.toString(), into);
            return true;
        } catch (InvalidProtocolBufferException | RuntimeException e) {
            return false;
        }
    }

    private static final String[] STRINGS = {"", "a", "app", "/", "/..", "../x", "x/../../y", "/proc/self",
            "\u0000", "a\nb", "/dev/zero", "/dev/null", "runtime/default", "localhost/../../etc/passwd",
            "unconfined", "docker/default", "CAP_SYS_ADMIN", "ALL", "sys_admin", "NET_RAW", "0", "-1", "1e9",
            "rwm", "xyz", "💥", "a=b", "=", "/tmp", "/data:/x", "2MB", "1GB", "memory.max", "cpu.weight", "max",
            "root", "nobody", "0-3", "0,,1", "99999999999", "host", "sha256:abc", "x".repeat(300), "/" + "a/".repeat(200)};

    /** Sets some fields of every type at random, recursing into messages and maps, a few levels deep. */
    private static void fill(Message.Builder b, Random r, int depth) {
        for (FieldDescriptor f : b.getDescriptorForType().getFields()) {
            if (r.nextInt(3) == 0) {
                continue;
            }
            if (f.isMapField()) {
                if (depth < 4) {
                    for (int i = r.nextInt(3); i > 0; i--) {
                        var entry = b.newBuilderForField(f);
                        fill(entry, r, depth + 1);
                        b.addRepeatedField(f, entry.build());
                    }
                }
            } else if (f.isRepeated()) {
                for (int i = r.nextInt(4); i > 0; i--) {
                    Object v = value(b, f, r, depth);
                    if (v != null) {
                        b.addRepeatedField(f, v);
                    }
                }
            } else {
                Object v = value(b, f, r, depth);
                if (v != null) {
                    b.setField(f, v);
                }
            }
        }
    }

    private static Object value(Message.Builder b, FieldDescriptor f, Random r, int depth) {
        return switch (f.getJavaType()) {
            case STRING -> r.nextInt(4) == 0 ? Long.toString(r.nextLong(), 36) : STRINGS[r.nextInt(STRINGS.length)];
            case INT -> switch (r.nextInt(4)) {
                case 0 -> 0;
                case 1 -> -1 - r.nextInt(3);
                case 2 -> r.nextInt(70000);
                default -> r.nextBoolean() ? Integer.MAX_VALUE : Integer.MIN_VALUE;
            };
            case LONG -> switch (r.nextInt(4)) {
                case 0 -> 0L;
                case 1 -> -1L - r.nextInt(3);
                case 2 -> (long) r.nextInt(1 << 30);
                default -> r.nextBoolean() ? Long.MAX_VALUE : Long.MIN_VALUE;
            };
            case BOOLEAN -> r.nextBoolean();
            case FLOAT -> r.nextFloat() * 1e6f;
            case DOUBLE -> r.nextDouble() * 1e300;
            case BYTE_STRING -> com.google.protobuf.ByteString.copyFromUtf8(STRINGS[r.nextInt(STRINGS.length)]);
            case ENUM -> {
                var values = f.getEnumType().getValues();
                yield values.get(r.nextInt(values.size()));
            }
            case MESSAGE -> {
                if (depth >= 5) {
                    yield null;
                }
                var sub = b.newBuilderForField(f);
                fill(sub, r, depth + 1);
                yield sub.build();
            }
        };
    }
}
