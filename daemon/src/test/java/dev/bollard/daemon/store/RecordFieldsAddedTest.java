package dev.bollard.daemon.store;

import com.google.gson.JsonObject;
import dev.bollard.daemon.container.ContainerRecord;
import dev.bollard.daemon.container.ContainerState;
import dev.bollard.daemon.sandbox.PodResources;
import dev.bollard.daemon.sandbox.SandboxRecord;
import dev.bollard.daemon.sandbox.SandboxState;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The records gained the resources UpdateContainerResources / UpdatePodSandboxResources set, without a schema
 * change: a record written before (without the field) must read as "never updated", and the new field must
 * survive a write and a read.
 */
class RecordFieldsAddedTest {

    /** A container record as schema 1 wrote it before {@code resources}. */
    record ContainerBefore(String id, String sandboxId, String name, JsonObject config, String image,
                           String imageRef, String imageId, ContainerState state, int pid, long createdAt,
                           long startedAt, long finishedAt, int exitCode, String reason, String message,
                           String logPath, List<String> lowerDirs, String stopSignal) {
    }

    /** A pod record as schema 1 wrote it before {@code podResources}. */
    record SandboxBefore(String id, String name, JsonObject config, String runtimeHandler, String image,
                         SandboxState state, String netns, List<String> ips, int pid, String cgroupParent,
                         boolean ownCgroupParent, boolean networkUp, long createdAt) {
    }

    @Test
    void aContainerRecordWithoutResourcesReadsAsNeverUpdated(@TempDir Path dir) throws IOException {
        new RecordStore<>(dir, ContainerBefore.class, ContainerRecord.SCHEMA).put("c", new ContainerBefore("c", "p",
                "n", new JsonObject(), "img", "ref", "id", ContainerState.RUNNING, 7, 1, 2, 0, 0, "", "", "",
                List.of("/l"), "SIGTERM"));
        var store = new RecordStore<>(dir, ContainerRecord.class, ContainerRecord.SCHEMA);
        var read = store.loadAll().getFirst();
        assertTrue(read.resources().isEmpty(), "never updated: " + read.resources());
        assertEquals(7, read.pid());

        var resources = new JsonObject();
        resources.addProperty("cpuShares", "512");
        store.put("c", read.withResources(resources));
        var again = store.loadAll().getFirst();
        assertEquals(resources, again.resources());
        assertEquals(resources, again.exited(5, 0, "Completed", "").resources(), "kept through state changes");
    }

    @Test
    void aPodRecordWithoutPodResourcesReadsAsNeverUpdated(@TempDir Path dir) throws IOException {
        new RecordStore<>(dir, SandboxBefore.class, SandboxRecord.SCHEMA).put("p", new SandboxBefore("p", "n",
                new JsonObject(), "runc", "img", SandboxState.READY, "/ns", List.of("10.0.0.2"), 9, "/bollard/p",
                true, true, 1));
        var store = new RecordStore<>(dir, SandboxRecord.class, SandboxRecord.SCHEMA);
        var read = store.loadAll().getFirst();
        assertNull(read.podResources());
        assertFalse(read.unfinished(), "its infra pid was recorded");

        var applied = new PodResources(512, 50_000, 100_000, 64L << 20, "0", "");
        store.put("p", read.withResources(applied).with(SandboxState.NOTREADY));
        assertEquals(applied, store.loadAll().getFirst().podResources());
    }

    @Test
    void aPodWhoseInfraPidWasNeverRecordedIsUnfinished() {
        var r = new SandboxRecord("p", "n", new JsonObject(), "runc", "img", SandboxState.NOTREADY, "", List.of(), 0,
                "/bollard/p", true, false, 1, null);
        assertTrue(r.unfinished());
        assertFalse(r.withStarted(List.of(), 42, false).with(SandboxState.READY).unfinished());
    }
}
