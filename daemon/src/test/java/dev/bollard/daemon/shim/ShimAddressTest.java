package dev.bollard.daemon.shim;

import org.junit.jupiter.api.Test;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ShimAddressTest {

    @Test
    void plainAddressIsTaskApiV2() {
        var address = ShimAddress.parse("unix:///run/containerd/s/abc\n");
        assertEquals(Path.of("/run/containerd/s/abc"), address.socket());
        assertEquals(2, address.apiVersion());
        assertEquals("containerd.task.v2.Task", address.taskService());
    }

    @Test
    void bootstrapJsonGivesTheVersion() {
        var address = ShimAddress.parse("{\"version\":3,\"address\":\"unix:///run/containerd/s/def\",\"protocol\":\"ttrpc\"}");
        assertEquals(Path.of("/run/containerd/s/def"), address.socket());
        assertEquals(3, address.apiVersion());
        assertEquals("containerd.task.v3.Task", address.taskService());
    }

    @Test
    void unsupportedBootstrapsAreRefusedByName() {
        var grpc = assertThrows(IllegalArgumentException.class, () -> ShimAddress.parse(
                "{\"version\":3,\"address\":\"unix:///s\",\"protocol\":\"grpc\"}"));
        assertTrue(grpc.getMessage().contains("protocol grpc"), grpc.getMessage());
        var vsock = assertThrows(IllegalArgumentException.class, () -> ShimAddress.parse("vsock://3:1024"));
        assertTrue(vsock.getMessage().contains("vsock://3:1024"), vsock.getMessage());
        assertThrows(IllegalArgumentException.class, () -> ShimAddress.parse(" \n"));
        assertThrows(IllegalArgumentException.class, () -> ShimAddress.parse("{\"version\":4,\"address\":\"unix:///s\"}"));
    }
}
