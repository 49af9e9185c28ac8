package dev.bollard.api.containerd;

import com.google.protobuf.Any;
import com.google.protobuf.Descriptors.Descriptor;
import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.Descriptors.FieldDescriptor.Type;
import com.google.protobuf.Descriptors.MethodDescriptor;
import com.google.protobuf.Descriptors.ServiceDescriptor;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Timestamp;
import dev.bollard.api.containerd.events.TaskEventsProto;
import dev.bollard.api.containerd.events.TaskExit;
import dev.bollard.api.containerd.runc.v1.Options;
import dev.bollard.api.containerd.services.events.v1.ForwardRequest;
import dev.bollard.api.containerd.services.events.v1.TtrpcEventsProto;
import dev.bollard.api.containerd.task.v2.ShimV2Proto;
import dev.bollard.api.containerd.task.v3.ShimV3Proto;
import dev.bollard.api.containerd.types.Envelope;
import dev.bollard.api.containerd.types.Mount;
import dev.bollard.api.containerd.types.task.Status;
import org.junit.jupiter.api.Test;

import java.util.HexFormat;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Guards the containerd shim protos against the published definitions: service and method names (which are the
 * ttrpc service/method strings), field numbers and types, and the Any type-URL conventions the shim relies on.
 */
class ShimProtoTest {

    private static final List<String> TASK_METHODS = List.of(
            "State", "Create", "Start", "Delete", "Pids", "Pause", "Resume", "Checkpoint", "Kill", "Exec",
            "ResizePty", "CloseIO", "Update", "Wait", "Stats", "Connect", "Shutdown");

    private static byte[] hex(String s) {
        return HexFormat.of().parseHex(s.replace(" ", ""));
    }

    private static void assertField(Descriptor message, String name, int number, Type type) {
        FieldDescriptor f = message.findFieldByName(name);
        assertEquals(number, f.getNumber(), message.getFullName() + "." + name + " number");
        assertEquals(type, f.getType(), message.getFullName() + "." + name + " type");
    }

    private static void assertTaskService(ServiceDescriptor task, String pkg) {
        assertEquals(pkg + ".Task", task.getFullName());
        assertEquals(17, task.getMethods().size());
        assertEquals(TASK_METHODS, task.getMethods().stream().map(MethodDescriptor::getName).toList());
        for (MethodDescriptor m : task.getMethods()) {
            assertFalse(m.isClientStreaming() || m.isServerStreaming(), m.getFullName() + " must be unary");
        }
        assertEquals(pkg + ".CreateTaskRequest", task.findMethodByName("Create").getInputType().getFullName());
        assertEquals("google.protobuf.Empty", task.findMethodByName("Kill").getOutputType().getFullName());
        assertEquals(pkg + ".WaitResponse", task.findMethodByName("Wait").getOutputType().getFullName());
    }

    @Test
    void serviceNamesAndMethods() {
        assertTaskService(ShimV2Proto.getDescriptor().findServiceByName("Task"), "containerd.task.v2");
        assertTaskService(ShimV3Proto.getDescriptor().findServiceByName("Task"), "containerd.task.v3");

        ServiceDescriptor events = TtrpcEventsProto.getDescriptor().findServiceByName("Events");
        assertEquals("containerd.services.events.ttrpc.v1.Events", events.getFullName());
        assertEquals(1, events.getMethods().size());
        MethodDescriptor forward = events.findMethodByName("Forward");
        assertEquals("containerd.services.events.ttrpc.v1.ForwardRequest", forward.getInputType().getFullName());
        assertEquals("google.protobuf.Empty", forward.getOutputType().getFullName());
    }

    @Test
    void createTaskRequestFields() {
        for (Descriptor d : List.of(dev.bollard.api.containerd.task.v2.CreateTaskRequest.getDescriptor(),
                dev.bollard.api.containerd.task.v3.CreateTaskRequest.getDescriptor())) {
            assertEquals(10, d.getFields().size());
            assertField(d, "id", 1, Type.STRING);
            assertField(d, "bundle", 2, Type.STRING);
            assertField(d, "rootfs", 3, Type.MESSAGE);
            assertTrue(d.findFieldByName("rootfs").isRepeated());
            assertEquals("containerd.types.Mount", d.findFieldByName("rootfs").getMessageType().getFullName());
            assertField(d, "terminal", 4, Type.BOOL);
            assertField(d, "stdin", 5, Type.STRING);
            assertField(d, "stdout", 6, Type.STRING);
            assertField(d, "stderr", 7, Type.STRING);
            assertField(d, "checkpoint", 8, Type.STRING);
            assertField(d, "parent_checkpoint", 9, Type.STRING);
            assertField(d, "options", 10, Type.MESSAGE);
            assertEquals("google.protobuf.Any", d.findFieldByName("options").getMessageType().getFullName());
        }
        Descriptor mount = Mount.getDescriptor();
        assertField(mount, "type", 1, Type.STRING);
        assertField(mount, "source", 2, Type.STRING);
        assertField(mount, "target", 3, Type.STRING);
        assertField(mount, "options", 4, Type.STRING);
        assertTrue(mount.findFieldByName("options").isRepeated());
    }

    @Test
    void killWaitStateFields() {
        Descriptor kill = dev.bollard.api.containerd.task.v2.KillRequest.getDescriptor();
        assertField(kill, "id", 1, Type.STRING);
        assertField(kill, "exec_id", 2, Type.STRING);
        assertField(kill, "signal", 3, Type.UINT32);
        assertField(kill, "all", 4, Type.BOOL);
        // 1:"c" | 3:varint 9 | 4:true
        var k = dev.bollard.api.containerd.task.v2.KillRequest.newBuilder().setId("c").setSignal(9).setAll(true).build();
        assertArrayEquals(hex("0a0163 1809 2001"), k.toByteArray());

        Descriptor wait = dev.bollard.api.containerd.task.v3.WaitResponse.getDescriptor();
        assertField(wait, "exit_status", 1, Type.UINT32);
        assertField(wait, "exited_at", 2, Type.MESSAGE);
        assertEquals("google.protobuf.Timestamp", wait.findFieldByName("exited_at").getMessageType().getFullName());

        Descriptor state = dev.bollard.api.containerd.task.v2.StateResponse.getDescriptor();
        assertField(state, "status", 4, Type.ENUM);
        assertEquals("containerd.v1.types.Status", state.findFieldByName("status").getEnumType().getFullName());
        assertField(state, "exec_id", 11, Type.STRING);
        assertEquals(5, Status.PAUSING.getNumber());
    }

    @Test
    void taskExitEventFields() {
        Descriptor exit = TaskExit.getDescriptor();
        assertEquals("containerd.events.TaskExit", exit.getFullName());
        assertEquals(5, exit.getFields().size());
        assertField(exit, "container_id", 1, Type.STRING);
        assertField(exit, "id", 2, Type.STRING);
        assertField(exit, "pid", 3, Type.UINT32);
        assertField(exit, "exit_status", 4, Type.UINT32);
        assertField(exit, "exited_at", 5, Type.MESSAGE);
        assertEquals(11, TaskEventsProto.getDescriptor().getMessageTypes().size());

        Descriptor env = Envelope.getDescriptor();
        assertEquals("containerd.types.Envelope", env.getFullName());
        assertField(env, "timestamp", 1, Type.MESSAGE);
        assertField(env, "namespace", 2, Type.STRING);
        assertField(env, "topic", 3, Type.STRING);
        assertField(env, "event", 4, Type.MESSAGE);
        assertField(ForwardRequest.getDescriptor(), "envelope", 1, Type.MESSAGE);
    }

    @Test
    void runcOptionsFields() {
        Descriptor d = Options.getDescriptor();
        assertEquals("containerd.runc.v1.Options", d.getFullName());
        assertField(d, "no_pivot_root", 1, Type.BOOL);
        assertField(d, "shim_cgroup", 3, Type.STRING);
        assertField(d, "binary_name", 6, Type.STRING);
        assertField(d, "root", 7, Type.STRING);
        assertTrue(d.isReservedNumber(8), "8 was criu_path");
        assertField(d, "systemd_cgroup", 9, Type.BOOL);
        assertField(d, "task_api_address", 12, Type.STRING);
        assertField(d, "task_api_version", 13, Type.UINT32);
        // 6:"runc" | 7:"/r" | 9:true
        var o = Options.newBuilder().setBinaryName("runc").setRoot("/r").setSystemdCgroup(true).build();
        assertArrayEquals(hex("3204 72756e63 3a02 2f72 4801"), o.toByteArray());
    }

    @Test
    void anyPackedRuncOptionsRoundTrip() throws InvalidProtocolBufferException {
        Options opts = Options.newBuilder().setBinaryName("runc").setRoot("/run/bollard/runc").setSystemdCgroup(true).build();

        // protobuf-java's Any.pack uses the "type.googleapis.com/" prefix.
        Any packed = Any.pack(opts);
        assertEquals("type.googleapis.com/containerd.runc.v1.Options", packed.getTypeUrl());
        assertEquals(opts, packed.unpack(Options.class));

        // containerd itself sends the bare full name, "containerd.runc.v1.Options", with no
        // "type.googleapis.com/" prefix (Go typeurl uses proto.MessageName), so Bollard builds the Any by hand to
        // match it. Anys coming back from shims (Envelope.event, ProcessInfo.info, Stats) use the same bare form,
        // which protobuf-java's Any.is()/unpack() do not recognise: match the type URL and parse the value instead.
        Any bare = Any.newBuilder().setTypeUrl("containerd.runc.v1.Options").setValue(opts.toByteString()).build();
        assertFalse(bare.is(Options.class));
        assertThrows(InvalidProtocolBufferException.class, () -> bare.unpack(Options.class));
        assertEquals(Options.getDescriptor().getFullName(), bare.getTypeUrl());
        assertEquals(opts, Options.parseFrom(bare.getValue()));

        // The same bytes travel inside CreateTaskRequest.options (field 10).
        var create = dev.bollard.api.containerd.task.v2.CreateTaskRequest.newBuilder()
                .setId("c1").setBundle("/b").setOptions(bare).build();
        var decoded = dev.bollard.api.containerd.task.v2.CreateTaskRequest.parseFrom(create.toByteArray());
        assertEquals("containerd.runc.v1.Options", decoded.getOptions().getTypeUrl());
        assertEquals(opts, Options.parseFrom(decoded.getOptions().getValue()));

        // An event as a shim forwards it: topic "/tasks/exit", event Any "containerd.events.TaskExit".
        TaskExit exit = TaskExit.newBuilder().setContainerId("c1").setId("c1").setPid(42).setExitStatus(137)
                .setExitedAt(Timestamp.newBuilder().setSeconds(1)).build();
        var fwd = ForwardRequest.newBuilder().setEnvelope(Envelope.newBuilder()
                .setNamespace("k8s.io").setTopic("/tasks/exit")
                .setEvent(Any.newBuilder().setTypeUrl("containerd.events.TaskExit").setValue(exit.toByteString())))
                .build();
        Any event = ForwardRequest.parseFrom(fwd.toByteArray()).getEnvelope().getEvent();
        assertEquals(TaskExit.getDescriptor().getFullName(), event.getTypeUrl());
        assertEquals(exit, TaskExit.parseFrom(event.getValue()));
    }
}
